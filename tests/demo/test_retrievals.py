"""The demo's retrievals: sizes drawn from task ids (the random stream untouched), doc-qa's fallback."""

from __future__ import annotations

from aifinops.demo.retrievals import FALLBACK_TOKENS, falls_back, returned_tokens
from aifinops.demo.simulation import Waste, simulate_month


def test_sizes_stay_in_their_use_case_range_and_repeat_for_the_same_task_and_step() -> None:
    sizes = [returned_tokens("lead-research", f"t{i}", 1) for i in range(2000)]
    assert min(sizes) >= 800 and max(sizes) <= 2000 and len(set(sizes)) > 500
    assert returned_tokens("doc-qa", "q-1", 0) == returned_tokens("doc-qa", "q-1", 0)
    assert returned_tokens("case-summary", "t", 0) == 0


def test_one_doc_qa_question_in_ten_falls_back_and_fails_its_passages_in_the_prompt() -> None:
    share = sum(falls_back("doc-qa", f"doc-qa-{i}") for i in range(5000)) / 5000
    assert 0.08 < share < 0.12 and not any(falls_back("reply-draft", f"r-{i}") for i in range(500))
    month = simulate_month(2026, 10, seed=5, scale=0.05)
    wide = [
        t
        for t in month
        if t.outcome and t.outcome.use_case == "doc-qa" and falls_back("doc-qa", t.outcome.task_id)
    ]
    assert wide and all(t.outcome is not None and t.outcome.outcome == "failed" for t in wide)
    for task in wide:
        searches = [e for e in task.events if e.kind == "retrieval"]
        assert searches and all(e.retrieved_tokens >= 12_000 + FALLBACK_TOKENS for e in searches)


def test_a_clean_month_has_no_fallback() -> None:
    clean = simulate_month(2026, 10, seed=5, scale=0.05, waste=Waste("none"))
    assert not any("waste_retrieval" in e.attributes for t in clean for e in t.events)
