"""How a model name as clients send it maps to the meter family it is priced under, and where its prompts
change from short- to long-context prices (pure; users extend both through settings).

Clients send ``gpt-4.1-mini``, ``gpt-4o-mini-2024-07-18`` (OpenAI answers with the dated name), Foundry
ids such as ``DeepSeek-V3.1`` or ``Llama-3.3-70B-Instruct``; meters name families such as ``gpt-4.1-mini``,
``deepseek-v3.1`` or ``llama-3.3-70b`` (see sources/meter_names.py). A name is lower-cased, a trailing
``-YYYY-MM-DD`` becomes the model version, and the alias table maps what is left.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = [
    "DEFAULT_ALIASES",
    "DEFAULT_CONTEXT_THRESHOLDS",
    "DEFAULT_LONG_CONTEXT_TOKENS",
    "PUBLISHER_ROOTS",
    "PricingRules",
    "sold_by",
]

#: Client model names (lower-case) → meter family, for names that differ from the family they are billed as.
DEFAULT_ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "gpt-35-turbo": "gpt-35-turbo-16k",
        "gpt-3.5-turbo": "gpt-35-turbo-16k",
        "gpt-4o-realtime": "gpt-4o-realtime-preview",
        "gpt-4o-mini-realtime": "gpt-4o-mini-realtime-preview",
        "gpt-4o-audio": "gpt-4o-audio-preview",
        "gpt-4o-mini-audio": "gpt-4o-mini-audio-preview",
        "o1-preview": "o1-preview",
        "deepseek-r1-0528": "deepseek-r1",
        "deepseek-v3-0324": "deepseek-v3",
        "grok-4-fast-reasoning": "grok-4-fast",
        "grok-4-fast-non-reasoning": "grok-4-fast",
        "grok-code-fast-1": "grok-code-fast-1",
        "llama-3.3-70b-instruct": "llama-3.3-70b",
        "llama-4-maverick-17b-128e-instruct-fp8": "llama-4-maverick-17b",
        "mistral-large-3": "mistral-large-3",
        "cohere-command-a": "cohere-command-a",
        "embed-v-4-0": "cohere-embed-v4",
        "phi-4-mini-instruct": "phi-4-mini",
        "phi-4-multimodal-instruct": "phi-4-mini-mm",
    }
)

#: The input tokens past which a call is priced at long-context meters, where the model has them. OpenAI
#: documents 272,000 input tokens for the GPT-5.4, 5.5 and 5.6 families; other models take the default.
DEFAULT_LONG_CONTEXT_TOKENS = 272_000
DEFAULT_CONTEXT_THRESHOLDS: Mapping[str, int] = MappingProxyType(
    {"gpt-5.4": 272_000, "gpt-5.5": 272_000, "gpt-5.6": 272_000}
)

#: The first word of the meter families of each publisher Azure sells under a product of its own (Azure
#: Fireworks Models: ``fw-glm-5``, ``fw-deepseek-v3.2``; Azure Mistral Models: ``codestral``...). The meter
#: parser names families with them, and a publisher's provisioned unit (``ptu_hour:<publisher>``) prices the
#: models whose family starts with one of them.
PUBLISHER_ROOTS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "deepseek": frozenset({"deepseek"}),
        "grok": frozenset({"grok"}),
        "kimi": frozenset({"kimi"}),
        "llama": frozenset({"llama"}),
        "mistral": frozenset({"mistral", "ministral", "codestral", "magistral", "devstral"}),
        "phi": frozenset({"phi"}),
        "cohere": frozenset({"cohere"}),
        "mai": frozenset({"mai"}),
        "qwen": frozenset({"qwen"}),
        "flux": frozenset({"flux"}),
        "baseten": frozenset({"baseten"}),
        "voice-live": frozenset({"voice"}),
        "fireworks": frozenset({"fw"}),
    }
)


def sold_by(publisher: str, family: str) -> bool:
    """Whether the meter family ``family`` is one of ``publisher``'s (by :data:`PUBLISHER_ROOTS`; a
    publisher not listed by its own name).

    >>> sold_by("fireworks", "fw-deepseek-v3.2"), sold_by("deepseek", "fw-deepseek-v3.2")
    (True, False)
    """
    roots = PUBLISHER_ROOTS.get(publisher, frozenset({publisher}))
    return re.split(r"[-_ ]", family.lower(), maxsplit=1)[0] in roots


_DATED = re.compile(r"^(.+)-(\d{4}-\d{2}-\d{2})$")


@dataclass(frozen=True, slots=True)
class PricingRules:
    """The alias table and context-tier thresholds one price book applies (defaults extended by settings)."""

    aliases: Mapping[str, str] = field(default_factory=lambda: DEFAULT_ALIASES)
    context_thresholds: Mapping[str, int] = field(default_factory=lambda: DEFAULT_CONTEXT_THRESHOLDS)
    default_threshold: int = DEFAULT_LONG_CONTEXT_TOKENS
    # The billing currency: where a meter has prices in several currencies, this one's are used (the other
    # meters of the event then in the same currency: amounts of different currencies are never added).
    currency: str | None = None

    @classmethod
    def extended(
        cls,
        aliases: Mapping[str, str] | None = None,
        thresholds: Mapping[str, int] | None = None,
        *,
        currency: str | None = None,
    ) -> PricingRules:
        """The defaults with ``aliases`` and ``thresholds`` added (lower-cased; users win on a clash)."""
        return cls(
            MappingProxyType(
                {**DEFAULT_ALIASES, **{k.lower(): v.lower() for k, v in (aliases or {}).items()}}
            ),
            MappingProxyType(
                {**DEFAULT_CONTEXT_THRESHOLDS, **{k.lower(): v for k, v in (thresholds or {}).items()}}
            ),
            currency=currency,
        )

    def family(self, model: str) -> tuple[str, str | None]:
        """The meter family of a client's model name, and the version its name carries.

        >>> PricingRules().family("gpt-4o-mini-2024-07-18")
        ('gpt-4o-mini', '2024-07-18')
        >>> PricingRules().family("Llama-3.3-70B-Instruct")
        ('llama-3.3-70b', None)
        """
        name = model.strip().lower()
        version = None
        dated = _DATED.match(name)
        if dated is not None:
            name, version = dated.group(1), dated.group(2)
        return self.aliases.get(name, name), version

    def long_context_from(self, family: str) -> int:
        """Input tokens past which ``family`` is priced as long context: its own entry, the longest listed
        prefix of it (``gpt-5.4`` covers ``gpt-5.4-pro``), else the default.

        >>> PricingRules().long_context_from("gpt-5.4-pro")
        272000
        """
        best = None
        for name, tokens in self.context_thresholds.items():
            if (family == name or family.startswith(name + "-")) and (
                best is None or len(name) > len(best[0])
            ):
                best = (name, tokens)
        return best[1] if best is not None else self.default_threshold
