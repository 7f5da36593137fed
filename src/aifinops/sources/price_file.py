"""Price files written by hand (YAML or CSV): list or negotiated prices, and contract discounts.

YAML::

    currency: USD                  # default for rows without one
    source: "Azure pricing page, 2025-08-25"   # default source (else "file")
    prices:
      - {model: gpt-4.1, deployment_type: global_standard, meter: input, price: 2.00, per: 1M,
         effective_start: 2025-04-01}
    discounts:                     # percent off list, per model (or all models), effective-dated
      - {model: gpt-4.1, percent: 15, effective_start: 2026-01-01, effective_end: 2027-01-01}

CSV holds price rows only, with the same column names as header. Values are read from the file's text,
so prices stay exact decimals. Every problem is reported at once, each naming file, line, field and reason.
"""

from __future__ import annotations

import csv
import datetime as dt
import importlib.resources
import io
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TypeVar

import yaml

from aifinops.domain import ContextTier, DeploymentType, MeterKind, Price, ProcessingTier
from aifinops.engine.pricing import TOKEN_UNIT, ContractDiscount, apply_discounts
from aifinops.errors import ValidationError

__all__ = [
    "DISCOUNT_FIELDS",
    "PRICE_FIELDS",
    "SNAPSHOT",
    "TOP_FIELDS",
    "PriceFile",
    "load_price_file",
    "load_snapshot",
    "parse_price_text",
]

# fmt: off
PRICE_FIELDS = ("model", "version", "deployment_type", "region", "meter", "price", "per", "unit", "currency",
                "effective_start", "effective_end", "source", "meter_name", "meter_id", "product",
                "processing_tier", "context_tier")
# fmt: on
#: Top-level scalars of a YAML price file: defaults for rows, and free text saying where the prices come from.
TOP_FIELDS = ("currency", "source", "provenance", "captured_at")
DISCOUNT_FIELDS = ("model", "deployment_type", "meter", "percent", "effective_start", "effective_end")
#: The dated list-price snapshot shipped in ``aifinops/data`` (provenance inside the file).
SNAPSHOT = "prices-2026-09.yaml"
_ALL_MODELS = {"*", "all"}
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_PER = {"1k": 1_000, "1m": 1_000_000}
_YAML_NULL = "tag:yaml.org,2002:null"
_T = TypeVar("_T")

# A row as text: field → (value or None, line of the value).
_Row = dict[str, tuple[str | None, int]]


@dataclass(frozen=True, slots=True)
class PriceFile:
    """The prices and contract discounts of one file."""

    path: str
    prices: tuple[Price, ...]
    discounts: tuple[ContractDiscount, ...] = ()
    provenance: str | None = None  # where the prices come from, as the file says
    captured_at: dt.datetime | None = None  # when they were captured, as the file says

    def contract_prices(self, list_prices: Iterable[Price] = ()) -> list[Price]:
        """Contract prices from this file's discounts over its own prices and ``list_prices``."""
        return apply_discounts([*self.prices, *list_prices], self.discounts)


class _Problems:
    """Collects every error of a file so the user can fix them all in one pass."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.messages: list[str] = []
        self.first_field: str | None = None

    def add(self, line: int, where: str, reason: str) -> None:
        self.messages.append(f"{self.path}:{line}: {where}: {reason}")
        self.first_field = self.first_field or where

    def raise_if_any(self) -> None:
        if self.messages:
            count = len(self.messages)
            raise ValidationError(
                f"price file {self.path} has {count} problem(s):\n" + "\n".join(self.messages),
                field=self.first_field,
            )


def _rows_from_yaml(text: str, problems: _Problems) -> tuple[dict[str, str | None], dict[str, list[_Row]]]:
    """Top-level scalars and the rows of each section, every value as its source text with its line."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        problems.add(getattr(getattr(exc, "problem_mark", None), "line", -1) + 1, "file", f"not YAML: {exc}")
        return {}, {}
    if not isinstance(root, yaml.MappingNode):
        problems.add(1, "file", "the top level must be a mapping with 'prices' and/or 'discounts'")
        return {}, {}
    top: dict[str, str | None] = {}
    sections: dict[str, list[_Row]] = {}
    for key, value in root.value:
        if isinstance(value, yaml.ScalarNode):
            top[key.value] = None if value.tag == _YAML_NULL else value.value
        elif isinstance(value, yaml.SequenceNode):
            sections[key.value] = [
                _yaml_row(item, f"{key.value}[{i}]", problems) for i, item in enumerate(value.value)
            ]
        else:
            problems.add(value.start_mark.line + 1, key.value, "must be a value or a list of rows")
    return top, sections


def _yaml_row(node: yaml.Node, where: str, problems: _Problems) -> _Row:
    row: _Row = {"__line__": (None, node.start_mark.line + 1)}
    if not isinstance(node, yaml.MappingNode):
        problems.add(node.start_mark.line + 1, where, "each row must be a mapping of field: value")
        return row
    for key, value in node.value:
        if not isinstance(value, yaml.ScalarNode):
            problems.add(value.start_mark.line + 1, f"{where}.{key.value}", "must be a single value")
            continue
        row[key.value] = (
            None if value.tag == _YAML_NULL or value.value == "" else value.value,
            value.start_mark.line + 1,
        )
    return row


def _rows_from_csv(text: str, problems: _Problems) -> list[_Row]:
    reader = csv.DictReader(io.StringIO(text))
    unknown = [name for name in reader.fieldnames or [] if name not in PRICE_FIELDS]
    if unknown:
        problems.add(1, "header", f"unknown column(s) {unknown}; columns are {list(PRICE_FIELDS)}")
        return []
    rows: list[_Row] = []
    for record in reader:
        line = reader.line_num
        row: _Row = {"__line__": (None, line)}
        row.update(
            {k: ((v.strip() or None) if v is not None else None, line) for k, v in record.items() if k}
        )
        rows.append(row)
    return rows


def _get(row: _Row, name: str) -> str | None:
    return row.get(name, (None, 0))[0]


def _line(row: _Row, name: str) -> int:
    return row.get(name, row["__line__"])[1]


def _decimal(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise ValueError(f"{text!r} is not a decimal number") from exc
    if not value.is_finite() or value < 0:
        raise ValueError(f"{text!r} must be a finite number ≥ 0")
    return value


def _when(text: str) -> dt.datetime:
    """An ISO date (midnight UTC) or date-time (UTC when no offset is given)."""
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"{text!r} is not an ISO date or date-time such as 2025-04-01") from exc
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _per(text: str) -> int:
    if text.lower() in _PER:
        return _PER[text.lower()]
    if text.isdigit() and int(text) > 0:
        return int(text)
    raise ValueError(f"{text!r} must be 1K, 1M or a positive whole number of units")


def _deployment_type(text: str) -> DeploymentType:
    # Accept the snake_case values and Azure's own spelling (GlobalStandard, DataZoneBatch, ...).
    wanted = text.replace("_", "").replace(" ", "").lower()
    for member in DeploymentType:
        if member.value.replace("_", "") == wanted:
            return member
    raise ValueError(f"{text!r} is not a deployment type; use one of {[m.value for m in DeploymentType]}")


def _meter(text: str) -> MeterKind:
    try:
        return MeterKind(text.lower())
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a meter; use one of {[m.value for m in MeterKind]}") from exc


def _processing_tier(text: str) -> ProcessingTier:
    try:
        return ProcessingTier(text.lower())
    except ValueError as exc:
        raise ValueError(
            f"{text!r} is not a processing tier; use one of {[t.value for t in ProcessingTier]}"
        ) from exc


def _context_tier(text: str) -> ContextTier:
    try:
        return ContextTier(text.lower())
    except ValueError as exc:
        raise ValueError(
            f"{text!r} is not a context tier; use one of {[t.value for t in ContextTier]}"
        ) from exc


def _refuse_unknown_fields(row: _Row, where: str, known: Sequence[str], problems: _Problems) -> None:
    for name in row:
        if name != "__line__" and name not in known:
            problems.add(_line(row, name), f"{where}.{name}", f"unknown field; fields are {list(known)}")


def _field(
    row: _Row,
    name: str,
    parse: Callable[[str], _T],
    where: str,
    problems: _Problems,
    *,
    required: bool = False,
) -> _T | None:
    """Parse one field with ``parse``; a failure is recorded (file, line, field, reason) and gives None."""
    text = _get(row, name)
    if text is None:
        if required:
            problems.add(_line(row, name), f"{where}.{name}", "is required")
        return None
    try:
        return parse(text)
    except ValueError as exc:
        problems.add(_line(row, name), f"{where}.{name}", str(exc))
        return None


def _price_row(
    row: _Row, where: str, defaults: Mapping[str, str | None], problems: _Problems
) -> Price | None:
    before = len(problems.messages)
    _refuse_unknown_fields(row, where, PRICE_FIELDS, problems)
    model = _field(row, "model", str, where, problems, required=True)
    meter = _field(row, "meter", _meter, where, problems, required=True)
    price = _field(row, "price", _decimal, where, problems, required=True)
    start = _field(row, "effective_start", _when, where, problems, required=True)
    end = _field(row, "effective_end", _when, where, problems)
    if start is not None and end is not None and end <= start:
        problems.add(_line(row, "effective_end"), f"{where}.effective_end", "must be after effective_start")
    currency = _get(row, "currency") or defaults.get("currency")
    if currency is None or not _CURRENCY.match(currency):
        problems.add(
            _line(row, "currency"), f"{where}.currency", f"{currency!r} must be an ISO code such as USD"
        )
    unit = _get(row, "unit") or (TOKEN_UNIT if meter is not None and meter != MeterKind.UNIT else None)
    if unit is None and meter == MeterKind.UNIT:
        problems.add(
            _line(row, "unit"), f"{where}.unit", "is required for meter 'unit' (e.g. ptu_hour, image)"
        )
    per = _field(row, "per", _per, where, problems)
    deployment_type = _field(row, "deployment_type", _deployment_type, where, problems)
    tier = _field(row, "processing_tier", _processing_tier, where, problems)
    context = _field(row, "context_tier", _context_tier, where, problems)
    if len(problems.messages) > before or None in (model, meter, price, start, currency, unit):
        return None
    assert model and meter and price is not None and start and currency and unit  # narrowed above, for mypy
    return Price(
        model=model,
        meter_kind=meter,
        price=price,
        currency=currency,
        effective_start=start,
        effective_end=end,
        unit_size=per or 1_000_000,
        deployment_type=deployment_type,
        region=_get(row, "region"),
        model_version=_get(row, "version"),
        unit=unit,
        meter_id=_get(row, "meter_id"),
        meter_name=_get(row, "meter_name"),
        source=_get(row, "source") or defaults.get("source") or "file",
        product_name=_get(row, "product"),
        processing_tier=tier or ProcessingTier.STANDARD,
        context_tier=context,
    )


def _percent(text: str) -> Decimal:
    value = _decimal(text)
    if not 0 < value <= 100:
        raise ValueError(f"{text!r} must be more than 0 and at most 100")
    return value


def _discount_row(row: _Row, where: str, problems: _Problems) -> ContractDiscount | None:
    before = len(problems.messages)
    _refuse_unknown_fields(row, where, DISCOUNT_FIELDS, problems)
    percent = _field(row, "percent", _percent, where, problems, required=True)
    start = _field(row, "effective_start", _when, where, problems, required=True)
    end = _field(row, "effective_end", _when, where, problems)
    if start is not None and end is not None and end <= start:
        problems.add(_line(row, "effective_end"), f"{where}.effective_end", "must be after effective_start")
    deployment_type = _field(row, "deployment_type", _deployment_type, where, problems)
    meter = _field(row, "meter", _meter, where, problems)
    if len(problems.messages) > before or percent is None or start is None:
        return None
    model = _get(row, "model")
    return ContractDiscount(
        percent=percent,
        effective_start=start,
        effective_end=end,
        model=None if model is None or model.lower() in _ALL_MODELS else model,
        deployment_type=deployment_type,
        meter_kind=meter,
    )


@dataclass(frozen=True, slots=True)
class _Period:
    key: tuple[object, ...]
    start: dt.datetime
    end: dt.datetime | None
    line: int
    where: str


def _check_overlaps(periods: list[_Period], what: str, problems: _Problems) -> None:
    """Two rows for the same key in overlapping periods would make the price ambiguous."""
    seen: dict[tuple[object, ...], list[_Period]] = {}
    for period in periods:
        for other in seen.get(period.key, []):
            if (other.end is None or period.start < other.end) and (
                period.end is None or other.start < period.end
            ):
                problems.add(
                    period.line,
                    period.where,
                    f"overlaps {other.where} (line {other.line}) for the same {what}; "
                    "end one period before the other starts",
                )
        seen.setdefault(period.key, []).append(period)


def parse_price_text(text: str, *, path: str, kind: str) -> PriceFile:
    """Parse the text of a price file; ``kind`` is ``yaml`` or ``csv``; ``path`` names it in errors."""
    problems = _Problems(path)
    if kind == "csv":
        top: Mapping[str, str | None] = {}
        sections: dict[str, list[_Row]] = {"prices": _rows_from_csv(text, problems)}
    else:
        top, sections = _rows_from_yaml(text, problems)
    for name in sorted(sections.keys() - {"prices", "discounts"}):
        problems.add(1, name, "unknown section; sections are 'prices' and 'discounts'")
    for name in sorted(top.keys() - set(TOP_FIELDS)):
        problems.add(1, name, f"unknown top-level field; fields are {list(TOP_FIELDS)}")
    prices: list[Price] = []
    periods: list[_Period] = []
    for i, row in enumerate(sections.get("prices", [])):
        price = _price_row(row, f"prices[{i}]", top, problems)
        if price is not None:
            prices.append(price)
            periods.append(
                _Period(
                    price.meter_key,
                    price.effective_start,
                    price.effective_end,
                    _line(row, "__line__"),
                    f"prices[{i}]",
                )
            )
    _check_overlaps(
        periods,
        "product, model, version, deployment type, region, meter, tiers, unit, currency and source",
        problems,
    )
    discounts: list[ContractDiscount] = []
    periods = []
    for i, row in enumerate(sections.get("discounts", [])):
        discount = _discount_row(row, f"discounts[{i}]", problems)
        if discount is not None:
            discounts.append(discount)
            scope = (discount.model, discount.deployment_type, discount.meter_kind)
            periods.append(
                _Period(
                    scope,
                    discount.effective_start,
                    discount.effective_end,
                    _line(row, "__line__"),
                    f"discounts[{i}]",
                )
            )
    _check_overlaps(periods, "model, deployment type and meter", problems)
    captured = _captured_at(top.get("captured_at"), problems)
    problems.raise_if_any()
    return PriceFile(
        path=path,
        prices=tuple(prices),
        discounts=tuple(discounts),
        provenance=top.get("provenance"),
        captured_at=captured,
    )


def _captured_at(text: str | None, problems: _Problems) -> dt.datetime | None:
    if text is None:
        return None
    try:
        return _when(text)
    except ValueError as exc:
        problems.add(1, "captured_at", str(exc))
        return None


def load_price_file(path: str | Path) -> PriceFile:
    """Read a ``.yaml``/``.yml``/``.csv`` price file; raises ValidationError listing every problem."""
    file = Path(path)
    kind = {".yaml": "yaml", ".yml": "yaml", ".csv": "csv"}.get(file.suffix.lower())
    if kind is None:
        raise ValidationError(f"price file {file} must end in .yaml, .yml or .csv", field="path")
    try:
        text = file.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ValidationError(f"cannot read price file {file}: {exc}; check the path", field="path") from exc
    return parse_price_text(text, path=str(file), kind=kind)


def load_snapshot(name: str = SNAPSHOT) -> PriceFile:
    """A price file shipped with aifinops (``aifinops/data/<name>``), e.g. for the demo or offline use."""
    resource = importlib.resources.files("aifinops") / "data" / name
    if not resource.is_file():
        raise ValidationError(
            f"no bundled price file {name!r}; the bundled one is {SNAPSHOT!r}", field="name"
        )
    return parse_price_text(resource.read_text(encoding="utf-8"), path=f"aifinops/data/{name}", kind="yaml")
