"""Application use cases: the orchestration of the layers below (ingest, collect, allocate, budgets, ...)."""
