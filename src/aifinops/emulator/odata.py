"""A small OData ``$filter`` evaluator: ``eq``, ``and``, ``or``, parentheses, ``contains()`` and booleans.

That is the subset the Retail Prices API documents (reference/retail-prices.md §1).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["FilterError", "compile_filter"]

_TOKEN = re.compile(r"\s*(?:(\()|(\))|(,)|'((?:[^']|'')*)'|([A-Za-z_][\w.]*))")

Predicate = Callable[[Mapping[str, Any]], bool]


class FilterError(ValueError):
    """The filter text cannot be parsed."""


def compile_filter(text: str, *, case_sensitive: bool) -> Predicate:
    """Compile ``text`` into a predicate over one item (a mapping of camelCase fields)."""
    tokens = _tokenize(text)
    if not tokens:
        return lambda _item: True
    parser = _Parser(tokens, case_sensitive)
    predicate = parser.expression()
    if parser.position != len(tokens):
        raise FilterError(f"unexpected {tokens[parser.position][1]!r} in $filter {text!r}")
    return predicate


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(text.rstrip()):
        match = _TOKEN.match(text, position)
        if match is None:
            raise FilterError(f"cannot read $filter {text!r} at character {position}")
        kinds = ("(", ")", ",", "string", "word")
        kind = next(k for k, g in zip(kinds, match.groups(), strict=True) if g is not None)
        value = match.group(kinds.index(kind) + 1)
        tokens.append((kind, value.replace("''", "'") if kind == "string" else value))
        position = match.end()
    return tokens


def _either(first: Predicate, second: Predicate) -> Predicate:
    return lambda item: first(item) or second(item)


def _both(first: Predicate, second: Predicate) -> Predicate:
    return lambda item: first(item) and second(item)


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], case_sensitive: bool) -> None:
        self.tokens, self.position, self.case_sensitive = tokens, 0, case_sensitive

    def _peek_word(self) -> str:
        if self.position < len(self.tokens) and self.tokens[self.position][0] == "word":
            return self.tokens[self.position][1].lower()
        return ""

    def _take(self, kind: str) -> str:
        if self.position >= len(self.tokens) or self.tokens[self.position][0] != kind:
            raise FilterError(f"expected {kind} at token {self.position}")
        self.position += 1
        return self.tokens[self.position - 1][1]

    def expression(self) -> Predicate:
        left = self.conjunction()
        while self._peek_word() == "or":
            self.position += 1
            left = _either(left, self.conjunction())
        return left

    def conjunction(self) -> Predicate:
        left = self.term()
        while self._peek_word() == "and":
            self.position += 1
            left = _both(left, self.term())
        return left

    def term(self) -> Predicate:
        if self.position < len(self.tokens) and self.tokens[self.position][0] == "(":
            self.position += 1
            inner = self.expression()
            self._take(")")
            return inner
        name = self._take("word")
        if name.lower() == "contains":
            self._take("(")
            field = self._take("word")
            self._take(",")
            needle = self._take("string")
            self._take(")")
            return lambda item: self._norm(needle) in self._norm(str(item.get(field) or ""))
        if self._peek_word() != "eq":
            raise FilterError(f"expected 'eq' after {name!r}")
        self.position += 1
        return self._equals(name)

    def _equals(self, field: str) -> Predicate:
        kind, value = self.tokens[self.position] if self.position < len(self.tokens) else ("", "")
        self.position += 1
        if kind == "string":
            return lambda item: self._norm(str(item.get(field, ""))) == self._norm(value)
        if kind == "word" and value.lower() in ("true", "false"):
            return lambda item: item.get(field) is (value.lower() == "true")
        raise FilterError(f"expected a quoted value or a boolean after '{field} eq'")

    def _norm(self, value: str) -> str:
        return value if self.case_sensitive else value.lower()
