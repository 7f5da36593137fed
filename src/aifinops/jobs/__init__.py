"""Application use cases: collecting Azure data, allocating a period; orchestration lives here."""
