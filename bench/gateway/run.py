"""Gateway overhead benchmark: direct vs the aifinops gateway vs LiteLLM's proxy, side by side in one run.

Uses the shared harness (fake Azure OpenAI upstream and closed-loop load generator, read-only, run from where
they live) and a LiteLLM venv under /tmp. The gateway under test runs with metering (SQLite store, batched
recorder) and limits (a policy with an RPM and a TPM limit on the key) on. Pinning: each gateway on CPU 1,
the upstream and the load generator on CPU 0. See README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("BENCH_SHARED", ROOT.parent / "shared" / "bench"))
BENCH_VENV = Path(os.environ.get("BENCH_VENV", "/tmp/litellm-bench-venv"))
BENCH_PY = BENCH_VENV / "bin" / "python"
OUR_PY = Path(sys.executable)
API_VERSION = "2024-10-21"
LITELLM_KEY = "sk-bench-master-key"
PATH = "/v1/chat/completions"


def _args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="1/10 of the requests, 1/5 of the time caps")
    ap.add_argument("--concurrency", default="1 16 64")
    ap.add_argument("--modes", default="nonstream stream")
    ap.add_argument("--no-litellm", action="store_true", help="measure direct and aifinops only")
    ap.add_argument(
        "--nice",
        type=int,
        default=0,
        help="run every benchmark process (both gateways, upstream, load generator) at this nice value, "
        "e.g. -10 on a machine busy with unrelated work; the same for all targets",
    )
    ap.add_argument("--upstream-port", type=int, default=8900)
    ap.add_argument("--ours-port", type=int, default=8080)
    ap.add_argument("--litellm-port", type=int, default=4000)
    ap.add_argument("--out", default="", help="results folder (default /tmp/aifinops-gw-bench/<timestamp>)")
    return ap.parse_args()


class Procs:
    """Servers started by this run, stopped by PID on exit."""

    def __init__(self, nice: int = 0) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []
        self.nice = nice

    def prefix(self, cpu: int) -> list[str]:
        """taskset (and nice) in front of a command, as the shared harness places its processes."""
        pinned = ["taskset", "-c", str(cpu)] if shutil.which("taskset") else []
        return (["nice", "-n", str(self.nice)] if self.nice else []) + pinned

    def start(self, cpu: int, cmd: list[str], *, log: Path, env: dict[str, str] | None = None) -> int:
        pinned = [*self.prefix(cpu), *cmd]
        handle = log.open("wb")
        proc = subprocess.Popen(pinned, stdout=handle, stderr=subprocess.STDOUT, env=env)
        self.procs.append(proc)
        return proc.pid

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


def _wait(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"{url} did not answer within {seconds:.0f} s")


def _ensure_bench_venv() -> None:
    if BENCH_PY.exists():
        return
    print(f"== creating {BENCH_VENV} from {SHARED / 'requirements-lock.txt'}")
    subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
    subprocess.run(
        [str(BENCH_PY), "-m", "pip", "install", "-q", "-r", str(SHARED / "requirements-lock.txt")], check=True
    )


def _prepare_ours(out: Path, upstream_port: int) -> tuple[str, dict[str, str]]:
    """A migrated SQLite store, a gateway key bound to a limit policy, the gateway and policy files."""
    from aifinops.store import Store
    from aifinops.store.keys import KeyStore

    db = out / "aifinops.db"
    store = Store(f"sqlite:///{db}")
    store.upgrade()
    _, secret = KeyStore(store).create(
        name="bench",
        scopes=frozenset({"gateway"}),
        policy="bench",
        identity={"app": "bench", "team": "perf", "environment": "bench"},
    )
    store.dispose()
    (out / "policies.yaml").write_text(
        "policies:\n  bench:\n"
        "    - {kind: rpm, scope: {key_id: '*'}, limit: 100000000}\n"
        "    - {kind: tpm, scope: {app: '*'}, limit: 100000000000}\n"
    )
    (out / "gateway.yaml").write_text(
        f"upstreams:\n  local:\n    endpoint: http://127.0.0.1:{upstream_port}\n    api_key: dummy\n"
        f"    api_version: '{API_VERSION}'\n"
        "deployments:\n  gpt-4o:\n    upstream: local\n    model: gpt-4o\n"
        "    deployment_type: global_standard\n"
        "policies_file: policies.yaml\nmax_connections: 256\n"
    )
    env = {
        **os.environ,
        "AIFINOPS_DATABASE_URL": f"sqlite:///{db}",
        "AIFINOPS_GATEWAY__SPOOL_PATH": str(out / "spool.jsonl"),
    }
    return secret, env


def _start_litellm(procs: Procs, out: Path, *, port: int, upstream_port: int) -> int:
    (out / "litellm_config.yaml").write_text(
        "model_list:\n  - model_name: gpt-4o\n    litellm_params:\n      model: azure/gpt-4o\n"
        f"      api_base: http://127.0.0.1:{upstream_port}\n      api_key: dummy\n"
        f'      api_version: "{API_VERSION}"\n    model_info:\n      base_model: azure/gpt-4o-2024-08-06\n'
        f"general_settings:\n  master_key: {LITELLM_KEY}\nlitellm_settings:\n  drop_params: true\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(LITELLM_LOCAL_MODEL_COST_MAP="True", LITELLM_TELEMETRY_DISABLED="true")
    pid = procs.start(
        1,
        [
            str(BENCH_VENV / "bin" / "litellm"),
            "--config",
            str(out / "litellm_config.yaml"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--num_workers",
            "1",
        ],
        log=out / "litellm.log",
        env=env,
    )
    _wait(f"http://127.0.0.1:{port}/health/liveliness", 240)
    return pid


def _loadgen(
    out: Path,
    *,
    target: str,
    url: str,
    headers: list[str],
    stream: bool,
    c: int,
    quick: bool,
    cpu: list[str],
    prefix: list[str],
) -> dict:
    n, secs = (3000, 40) if stream else (5000, 30)
    if quick:
        n, secs = n // 10, secs / 5
    cmd = [
        *prefix,
        str(BENCH_PY),
        str(SHARED / "loadgen.py"),
        "--url",
        url,
        "-n",
        str(n),
        "-c",
        str(c),
        "--warmup",
        str(max(50, 2 * c)),
        "--max-seconds",
        str(secs),
        "--target",
        target,
        "--label",
        f"{'stream' if stream else 'nonstream'}-c{c}",
        "--out",
        str(out / "results.jsonl"),
    ]
    for header in headers:
        cmd += ["-H", header]
    for spec in cpu:
        cmd += ["--cpu", spec]
    if stream:
        cmd.append("--stream")
    run = subprocess.run(cmd, capture_output=True, text=True)
    lines = [line for line in run.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise SystemExit(f"loadgen failed for {target}: {run.stderr[-2000:]}")
    result = json.loads(lines[-1])
    result["warmup"] = max(50, 2 * c)
    lat = result["lat_ms"]
    print(
        f"   {target:8} c={c:<3} {'stream' if stream else 'nonstream':9} {result['ok']:>5} ok "
        f"{result['errors']} err {result['rps']:>8} req/s p50 {lat['p50']} p99 {lat['p99']} ms "
        f"cpu {result['cpu'].get('gateway', {}).get('cpu_ms_per_req', '-')} ms/req",
        flush=True,
    )
    return result


def _metric(port: int, name: str) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(name + " "):
                return int(float(line.split()[1]))
    raise SystemExit(f"metric {name} missing")


def _stored_events(db: Path) -> int:
    import sqlite3

    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM usage_events").fetchone()[0])


def main() -> None:
    args = _args()
    _ensure_bench_venv()
    out = Path(args.out or f"/tmp/aifinops-gw-bench/{time.strftime('%Y%m%d-%H%M%S')}")
    out.mkdir(parents=True, exist_ok=True)
    print(f"== results in {out}")
    procs = Procs(args.nice)
    try:
        _run(args, out, procs)
    finally:
        procs.stop()


def _run(args: argparse.Namespace, out: Path, procs: Procs) -> None:
    up = args.upstream_port
    up_pid = procs.start(
        0, [str(BENCH_PY), str(SHARED / "fake_upstream.py"), "--port", str(up)], log=out / "upstream.log"
    )
    _wait(f"http://127.0.0.1:{up}/health", 30)
    secret, env = _prepare_ours(out, up)
    ours_pid = procs.start(
        1,
        [
            str(OUR_PY.with_name("aifinops")),
            "gateway",
            "--config",
            str(out / "gateway.yaml"),
            "--port",
            str(args.ours_port),
        ],
        log=out / "aifinops.log",
        env=env,
    )
    _wait(f"http://127.0.0.1:{args.ours_port}/health", 60)
    targets = {
        "direct": (
            f"http://127.0.0.1:{up}/openai/deployments/gpt-4o/chat/completions?api-version={API_VERSION}",
            ["api-key: dummy"],
            None,
        ),
        "aifinops": (
            f"http://127.0.0.1:{args.ours_port}{PATH}",
            [f"Authorization: Bearer {secret}"],
            ours_pid,
        ),
    }
    if not args.no_litellm:
        lite_pid = _start_litellm(procs, out, port=args.litellm_port, upstream_port=up)
        targets["litellm"] = (
            f"http://127.0.0.1:{args.litellm_port}{PATH}",
            [f"Authorization: Bearer {LITELLM_KEY}"],
            lite_pid,
        )
    results = []
    for mode in args.modes.split():
        for c in (int(x) for x in args.concurrency.split()):
            for target, (url, headers, pid) in targets.items():
                cpu = [f"upstream={up_pid}"] + ([f"gateway={pid}"] if pid else [])
                results.append(
                    _loadgen(
                        out,
                        target=target,
                        url=url,
                        headers=headers,
                        stream=mode == "stream",
                        c=c,
                        quick=args.quick,
                        cpu=cpu,
                        prefix=procs.prefix(0),
                    )
                )
    time.sleep(1.5)  # the recorder flushes every 0.2 s
    served = _metric(args.ours_port, "aifinops_gateway_upstream_attempts_total")
    stored = _stored_events(out / "aifinops.db")
    sent = sum(r["ok"] + r["warmup"] for r in results if r["target"] == "aifinops")
    print(f"load average at the end: {os.getloadavg()}, nice {args.nice}")
    print(report(results, served=served, stored=stored, sent=sent))
    (out / "summary.md").write_text(report(results, served=served, stored=stored, sent=sent))


def report(results: list[dict], *, served: int, stored: int, sent: int) -> str:
    """The comparison table: throughput, added p50/p99, gateway CPU per request, ratios to LiteLLM."""
    rows = [
        "| mode | c | direct req/s | aifinops req/s | LiteLLM req/s | added p50 ms (ours / LiteLLM) | "
        "added p99 ms (ours / LiteLLM) | CPU ms/req (ours / LiteLLM) | CPU ratio | p50 ratio | "
        "throughput × | errors |",
        "|" + "---|" * 12,
    ]
    index = {(r["target"], r["stream"], r["concurrency"]): r for r in results}
    for (target, stream, c), direct in sorted(index.items(), key=lambda kv: (kv[0][1], kv[0][2])):
        if target != "direct":
            continue
        ours, lite = index.get(("aifinops", stream, c)), index.get(("litellm", stream, c))
        rows.append(_row(direct, ours, lite))
    rows.append("")
    rows.append(
        f"Metering: {sent} requests sent to aifinops (warm-up included), {served} served upstream, "
        f"{stored} usage events in the store — {'all metered' if stored == served else 'MISMATCH'}."
    )
    return "\n".join(rows)


def _row(direct: dict, ours: dict | None, lite: dict | None) -> str:
    def added(r: dict | None, q: str) -> float | None:
        return None if r is None else round(r["lat_ms"][q] - direct["lat_ms"][q], 2)

    def cpu(r: dict | None) -> float | None:
        return None if r is None else r["cpu"].get("gateway", {}).get("cpu_ms_per_req")

    def ratio(a: float | None, b: float | None) -> str:
        return "-" if a is None or not b else f"{a / b:.3f}"

    errors = sum(r["errors"] for r in (direct, ours, lite) if r)
    return (
        f"| {'stream' if direct['stream'] else 'nonstream'} | {direct['concurrency']} | {direct['rps']} | "
        f"{ours and ours['rps']} | {lite and lite['rps']} | {added(ours, 'p50')} / {added(lite, 'p50')} | "
        f"{added(ours, 'p99')} / {added(lite, 'p99')} | {cpu(ours)} / {cpu(lite)} | "
        f"{ratio(cpu(ours), cpu(lite))} | {ratio(added(ours, 'p50'), added(lite, 'p50'))} | "
        f"{ratio(lite and ours and ours['rps'], lite and lite['rps'])} | {errors} |"
    )


if __name__ == "__main__":
    main()
