"""Log Analytics collection: a month of the demo's API Management app (LLM and gateway log rows, outcome
events, token metrics, Usage) read through the real LogsQueryClient from the emulator into SQLite.

Prints one line per figure: the first read (every window of the month), and a re-read (the overlap only).
The emulator evaluates each query in Python over all fixture rows, so the figure bounds our side from
below: client, parsing, pricing and store.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path

from aifinops.config import load_settings
from aifinops.demo.apim_app import collect_apim_app
from aifinops.sources.price_file import load_snapshot
from aifinops.store import Store
from aifinops.store.prices import PriceStore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the app's tickets per day")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        store = Store(f"sqlite:///{Path(folder) / 'bench.db'}")
        store.upgrade()
        PriceStore(store).save(load_snapshot().prices, now=dt.datetime.now(dt.UTC))
        for label in ("first read", "re-read"):
            started = time.perf_counter()
            month = collect_apim_app(store, load_settings(), year=2026, month=10, seed=7, scale=args.scale)
            took = time.perf_counter() - started
            print(
                f"logs {label}: {month.requests} requests, {month.tickets} tickets, {month.events} new "
                f"events in {took:.2f} s ({month.requests / took:,.0f} requests/s)"
            )
        store.dispose()


if __name__ == "__main__":
    main()
