"""Derived reads are served again only at the version of the data they were computed from."""

from __future__ import annotations

from aifinops.store.derived_reads import DerivedReads


def test_a_kept_read_is_served_while_its_version_holds_and_computed_again_after() -> None:
    reads = DerivedReads()
    version, computed = [1], []

    def compute() -> int:
        computed.append(version[0])
        return version[0] * 10

    assert reads.read("k", lambda: version[0], compute) == 10
    assert reads.read("k", lambda: version[0], compute) == 10
    version[0] = 2
    assert reads.read("k", lambda: version[0], compute) == 20
    assert computed == [1, 2]


def test_a_read_computed_while_the_data_changed_is_not_kept() -> None:
    reads = DerivedReads()
    version = [1]

    def changing() -> str:
        version[0] += 1  # a writer commits while the read runs
        return "mixed"

    assert reads.read("k", lambda: version[0], changing) == "mixed"
    assert reads.read("k", lambda: version[0], lambda: "settled") == "settled"
    assert reads.read("k", lambda: version[0], lambda: "again") == "settled"


def test_the_least_recently_used_read_goes_first() -> None:
    reads = DerivedReads(max_entries=2)
    reads.read("a", lambda: 0, lambda: "a")
    reads.read("b", lambda: 0, lambda: "b")
    reads.read("a", lambda: 0, lambda: "a2")  # served, and now the most recent
    reads.read("c", lambda: 0, lambda: "c")
    assert reads.read("a", lambda: 0, lambda: "a3") == "a"
    assert reads.read("b", lambda: 0, lambda: "b2") == "b2"
