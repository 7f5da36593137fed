"""The demo's provisioned deployment estimated: 15 PTU, 10 of them under the one-month reservation."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from aifinops.config import ProvisionedDeployment, ProvisionedSettings
from aifinops.demo.bill import PTU_RESERVATION_PRICE
from aifinops.demo.estate import PTU_DEPLOYMENT, PTU_RESERVED_UNITS, PTU_UNITS
from aifinops.jobs.provisioned import DeploymentEstimate, estimate_provisioned
from aifinops.store import Store

__all__ = ["estimate_demo_ptu"]


def estimate_demo_ptu(
    store: Store, *, start: dt.date, end: dt.date, tokens_per_unit_hour: int
) -> DeploymentEstimate:
    """Estimate the PTU deployment over the billing days ``[start, end)``: the unreserved units at the price
    book's hourly unit price, the reserved ones at the reservation's price spread over the month's hours, and
    the capacity the allocation rule assumes (so the estimate's idle share matches the bill's)."""
    hours = (end - start).days * 24
    settings = ProvisionedSettings(
        deployments={
            PTU_DEPLOYMENT: ProvisionedDeployment(
                units=PTU_UNITS,
                reserved_units=PTU_RESERVED_UNITS,
                reservation_rate=(PTU_RESERVATION_PRICE / hours).quantize(Decimal("1e-9")),
                tokens_per_unit_hour=tokens_per_unit_hour,
            )
        }
    )
    at = dt.time(tzinfo=dt.UTC)
    report = estimate_provisioned(
        store,
        settings,
        start=dt.datetime.combine(start, at),
        end=dt.datetime.combine(end, at),
        now=dt.datetime.now(dt.UTC),
    )
    return next(d for d in report.deployments if d.deployment == PTU_DEPLOYMENT)
