"""aifinops: AI FinOps for Azure OpenAI and Microsoft Foundry workloads."""

__version__ = "0.1.0"
__all__ = ["__version__"]
