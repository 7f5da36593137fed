"""Core commands: serve, db upgrade, keys, reprice, estimate-provisioned, retention."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from aifinops.cli.signals import graceful_sigterm
from aifinops.config import Settings, load_settings
from aifinops.errors import ValidationError
from aifinops.jobs.schedule import Schedule
from aifinops.store import Store

if TYPE_CHECKING:
    from aifinops.jobs.provisioned import ProvisionedReport

__all__ = ["register"]

console = Console(stderr=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys: create, list, revoke.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database schema to the latest version; an empty price book gets the shipped
    snapshot of Azure list prices (run `aifinops prices sync` for current, per-region prices)."""
    from aifinops.jobs.price_sync import seed_snapshot

    store = Store.from_settings(load_settings())
    with store.migration_lock():  # replicas migrating at once: one seeds, the others find prices
        heads = store.upgrade()
        seeded = seed_snapshot(store, now=dt.datetime.now(dt.UTC))
    typer.echo(f"database {store.safe_url} is at {', '.join(heads)}")
    if seeded is not None:
        snapshot, saved = seeded
        captured = snapshot.captured_at.date().isoformat() if snapshot.captured_at else "an unknown date"
        typer.echo(
            f"price book was empty: {saved.inserted} list prices from the shipped snapshot "
            f"{snapshot.path} (captured {captured}); `aifinops prices sync` reads current ones"
        )
        typer.echo("provenance: " + " ".join((snapshot.provenance or "not given").split()))


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="A name to recognise the key by.")],
    scope: Annotated[
        list[str], typer.Option(help="ingest, read, admin, gateway or metrics; repeat for several.")
    ],
    tenant: Annotated[
        str | None, typer.Option(help="Limit a read, ingest or gateway key to this tenant's data.")
    ] = None,
    identity: Annotated[list[str], typer.Option(help="Allocation bound to a gateway key: dim=value.")] = [],  # noqa: B006
    policy: Annotated[str | None, typer.Option(help="Gateway limit policy name.")] = None,
    policies_file: Annotated[
        str | None,
        typer.Option(help="Limit policy file that defines --policy (default: the gateway's, from settings)."),
    ] = None,
    allow_header: Annotated[
        list[str], typer.Option(help="x-aifinops-* header the key may set, e.g. task-id.")
    ] = [],  # noqa: B006
) -> None:
    """Create an API key. The secret is printed once; only its hash is stored."""
    from aifinops.store.keys import KeyStore

    pairs = {}
    for item in identity:
        if "=" not in item:
            raise ValidationError(f"--identity takes dim=value, got {item!r}", field="identity")
        k, v = item.split("=", 1)
        pairs[k.strip()] = v.strip()
    settings = load_settings()
    if policy is not None:
        _check_policy(settings, policy, policies_file)
    keys = KeyStore(Store.from_settings(settings))
    key, secret = keys.create(
        name=name,
        scopes=set(scope),
        tenant=tenant,
        identity=pairs,
        policy=policy,
        allowed_headers=set(allow_header),
    )
    console.print(
        f"created key {key.key_id} ({', '.join(sorted(key.scopes))}); the secret is shown only once:"
    )
    typer.echo(secret)


def _check_policy(settings: Settings, policy: str, policies_file: str | None) -> None:
    """Refuse a policy the gateway would not find: every call of such a key would be refused."""
    from aifinops.gateway.policies import load_policies
    from aifinops.gateway.routing import policies_file_of

    g = settings.gateway
    path = policies_file or g.policies_file or (policies_file_of(g.config_file) if g.config_file else None)
    if path is None:
        raise ValidationError(
            f"--policy {policy!r} names a limit policy, but no policy file is configured to define it: set "
            "AIFINOPS_GATEWAY__POLICIES_FILE (or policies_file in the gateway config file) or pass "
            "--policies-file PATH",
            field="policy",
        )
    defined = sorted(load_policies(path).named)
    if policy not in defined:
        raise ValidationError(
            f"--policy {policy!r} is not defined in {path}; defined policies: {defined}", field="policy"
        )


@keys_app.command("list")
def keys_list() -> None:
    """List API keys (never their secrets)."""
    from aifinops.store.key_queries import list_keys

    table = Table("key id", "name", "scopes", "tenant", "created", "revoked")
    for k in list_keys(Store.from_settings(load_settings())):
        table.add_row(
            k.key_id,
            k.name,
            ",".join(sorted(k.scopes)),
            k.tenant or "",
            k.created_at.isoformat() if k.created_at else "",
            k.revoked_at.isoformat() if k.revoked_at else "",
        )
    Console().print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: str) -> None:
    """Revoke an API key at once."""
    from aifinops.store.keys import KeyStore

    key = KeyStore(Store.from_settings(load_settings())).revoke(key_id)
    typer.echo(f"revoked {key.key_id} at {key.revoked_at.isoformat() if key.revoked_at else '?'}")


def _day(value: str, name: str) -> dt.datetime:
    try:
        d = dt.date.fromisoformat(value)
    except ValueError as exc:
        raise ValidationError(f"--{name} must be a date like 2026-10-01, got {value!r}", field=name) from exc
    return dt.datetime(d.year, d.month, d.day, tzinfo=dt.UTC)


def _days(from_: str, to: str) -> tuple[dt.datetime, dt.datetime]:
    """``--from`` and the exclusive ``--to`` as UTC midnights; ``--to`` must come after ``--from``."""
    start, end = _day(from_, "from"), _day(to, "to")
    if end <= start:
        raise ValidationError(f"--to {to} must be after --from {from_}", field="to")
    return start, end


def reprice(
    from_: Annotated[str, typer.Option("--from", help="First UTC day to re-price (YYYY-MM-DD).")],
    to: Annotated[str, typer.Option("--to", help="Day after the last one (exclusive).")],
    note: Annotated[str | None, typer.Option(help="Why this re-pricing ran, kept with the record.")] = None,
) -> None:
    """Re-price stored events with the current price book and record the run."""
    from aifinops.engine.pricing import PriceBook, price_event
    from aifinops.store.price_queries import read_prices
    from aifinops.store.repricing import RepricingStore

    start, end = _days(from_, to)
    from aifinops.jobs.price_cache import pricing_rules

    settings = load_settings()
    store = Store.from_settings(settings)
    store.check_schema()
    book = PriceBook(read_prices(store), rules=pricing_rules(settings))
    with console.status("re-pricing…"):
        report = RepricingStore(store).reprice(
            lambda e: price_event(e, book),
            start=start,
            end=end,
            note=note,
            now=dt.datetime.now(dt.UTC),
        )
    typer.echo(
        f"re-priced {report.events} events, {report.changed} changed; unpriced "
        f"{report.unpriced_before} → {report.unpriced_after}"
    )
    for currency, t in sorted(report.totals.items()):
        typer.echo(f"  {currency}: {t['before']} → {t['after']} (estimated)")
    from aifinops.jobs.provisioned_watch import reestimate

    with console.status("re-estimating provisioned throughput…"):
        estimate = reestimate(settings, store, start=start, end=end, now=dt.datetime.now(dt.UTC))
    _echo_provisioned(estimate)


def _echo_provisioned(report: ProvisionedReport) -> None:
    for d in report.deployments:
        if d.problem is not None:
            typer.echo(f"{d.deployment}: not estimated ({d.events} calls): {d.problem}")
            continue
        typer.echo(
            f"{d.deployment}: {d.hours} h × {d.units} units = {d.cost} {d.currency} estimated; "
            f"{d.used} carried by {d.events} calls, {d.idle} idle ({d.source}; units from the {d.units_from})"
        )
    typer.echo(f"{report.changed_events} events re-estimated")


def retention(
    keep_months: Annotated[
        int | None,
        typer.Option(
            help="Full UTC months of raw events to keep before the current one "
            "(default AIFINOPS_RETENTION_KEEP_MONTHS)."
        ),
    ] = None,
) -> None:
    """Drop raw usage events older than the kept months; roll-ups, task figures, allocations and snapshots
    stay exact."""
    from aifinops.jobs.retention import run_retention

    settings = load_settings()
    months = keep_months if keep_months is not None else settings.retention_keep_months
    if months is None:
        raise ValidationError(
            "say how many months to keep: --keep-months N or AIFINOPS_RETENTION_KEEP_MONTHS",
            field="keep_months",
        )
    if months < 1:
        raise ValidationError(f"--keep-months must be at least 1, got {months}", field="keep_months")
    store = Store.from_settings(settings)
    store.check_schema()
    with console.status("applying retention…"):
        report = run_retention(store, keep_months=months, now=dt.datetime.now(dt.UTC))
    dropped = f" ({len(report.dropped_partitions)} monthly partitions)" if report.dropped_partitions else ""
    typer.echo(
        f"kept events from {report.horizon:%Y-%m-%d} on: "
        f"dropped {report.deleted_events} older events{dropped}"
    )


def estimate_provisioned(
    from_: Annotated[str, typer.Option("--from", help="First UTC day to estimate (YYYY-MM-DD).")],
    to: Annotated[str, typer.Option("--to", help="Day after the last one (exclusive).")],
) -> None:
    """Estimate provisioned (PTU) deployments: every hour's units × hourly price split over its calls."""
    from aifinops.jobs.provisioned import estimate_provisioned as estimate

    start, end = _days(from_, to)
    settings = load_settings()
    store = Store.from_settings(settings)
    store.check_schema()
    with console.status("estimating provisioned throughput…"):
        report = estimate(
            store,
            settings.provisioned,
            start=start,
            end=end,
            now=dt.datetime.now(dt.UTC),
            currency=settings.currency,
        )
    _echo_provisioned(report)
    if any(d.problem for d in report.deployments):
        raise typer.Exit(1)


def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (default from settings).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default from settings).")] = None,
) -> None:
    """Serve the API, the dashboard and /metrics, and run the scheduled jobs (shared with other replicas)."""
    import uvicorn

    from aifinops.api.app import check_bind, create_app

    settings = load_settings()
    host, port = host or settings.host, port or settings.port
    store = Store.from_settings(settings)
    store.check_schema()
    console.print(check_bind(host, store))
    app = create_app(settings, store=store, host=host)
    schedule = _start_schedule(settings, store)
    console.print(f"serving on http://{host}:{port}  (dashboard: /, docs: /docs, metrics: /metrics)")
    try:
        # SIGTERM / SIGINT: uvicorn stops accepting, finishes the requests in flight, then returns here.
        with graceful_sigterm():
            uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        released = schedule.stop(grace=settings.shutdown_grace_seconds)
        if released:
            console.print(f"stopped with {', '.join(released)} unfinished: another replica runs them now")
    console.print("serve stopped")


def _start_schedule(settings: Settings, store: Store) -> Schedule:
    """Beside the API: budgets evaluated and alerted on a schedule, and the configured Azure sources
    collected on theirs; every replica on the same database runs each turn once between them."""
    from aifinops.jobs.serve_jobs import build_schedule
    from aifinops.store.partitions import ensure_partitions, months_ahead

    ensure_partitions(store, months_ahead(dt.datetime.now(dt.UTC)))  # the coming months' event partitions
    schedule = build_schedule(settings, store)
    if not any(name.startswith("collect:") for name in schedule.jobs):
        console.print("no Azure source configured (AIFINOPS_AZURE__COST_SCOPES, …): the collector is off")
    if "prices" not in schedule.jobs:
        console.print("price sync: off (AIFINOPS_AZURE__RETAIL_PRICES_SYNC_SECONDS=0)")
    schedule.start()
    console.print(f"scheduled jobs ({schedule.holder}): {', '.join(sorted(schedule.jobs))}")
    return schedule


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
    app.add_typer(keys_app, name="keys")
    app.command("reprice")(reprice)
    app.command("retention")(retention)
    app.command("estimate-provisioned")(estimate_provisioned)
    app.command("serve")(serve)
