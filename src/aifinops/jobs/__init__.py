"""Application use cases: collect, allocate, evaluate budgets and alert, keep snapshots, ingest."""
