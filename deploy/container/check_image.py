"""Build the aifinops image, or where no container engine can run, run its exact steps in a fresh environment.

With a working engine (``docker info`` or ``podman info`` succeeds) the image is built from the Dockerfile and
its entrypoint run once. Without one, the Dockerfile itself is read and carried out in a fresh directory that
stands for the image's file system: each COPY copies, each RUN (every one calls deploy/container/steps.sh)
runs with the image's paths mapped into that directory, ENV sets the environment, and the ENTRYPOINT then
runs as the image would run it: ``db upgrade`` (AIFINOPS_MIGRATE=1), ``keys create``, the default ``serve``
until ``/healthz`` and ``/readyz`` answer 200, SIGTERM (exit code 0), and ``gateway --help`` / ``collect --help``.
An instruction the check does not know fails it, so the Dockerfile and the check cannot drift apart.

Prints which it did as its last line; exits non-zero on any failure.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
STEPS = "deploy/container/steps.sh"
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist")


@dataclass
class Instruction:
    stage: str
    keyword: str
    args: str


@dataclass
class Image:
    """What the Dockerfile says, instruction by instruction (continuation lines joined)."""

    instructions: list[Instruction] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str) -> Image:
        image, stage, logical = cls(), "", ""
        for raw in text.splitlines():
            line = raw.strip()
            if not logical and (not line or line.startswith("#")):
                continue
            logical += line[:-1].rstrip() + " " if line.endswith("\\") else line
            if line.endswith("\\"):
                continue
            keyword, _, args = logical.partition(" ")
            logical = ""
            keyword = keyword.upper()
            if keyword == "FROM":
                stage = args.split(" AS ")[-1].strip() if " AS " in args else args.strip()
            image.instructions.append(Instruction(stage, keyword, args.strip()))
        return image

    def of(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    @property
    def entrypoint(self) -> list[str]:
        (last,) = self.of("ENTRYPOINT")[-1:]
        return list(json.loads(last.args))

    @property
    def cmd(self) -> list[str]:
        found = self.of("CMD")
        return list(json.loads(found[-1].args)) if found else []


def env_pairs(args: str) -> list[tuple[str, str]]:
    """``ENV A=1 B="two words"`` → [(A, 1), (B, two words)]."""
    return [tuple(item.split("=", 1)) for item in shlex.split(args)]  # type: ignore[misc]


def engine() -> str | None:
    """The container engine that can build here, or None."""
    for name in ("docker", "podman"):
        if shutil.which(name) is None:
            continue
        try:
            probe = subprocess.run([name, "info"], capture_output=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if probe.returncode == 0:
            return name
    return None


def build_with(name: str) -> str:
    tag = "aifinops:check"
    subprocess.run([name, "build", "--tag", tag, str(ROOT)], check=True)
    subprocess.run([name, "run", "--rm", "-e", "AIFINOPS_MIGRATE=1", tag, "keys", "list"], check=True)
    return f"image check: built the image with {name} and ran its entrypoint (db upgrade, keys list)"


class FreshEnvironment:
    """The Dockerfile carried out in a directory standing for the image's root (``rootfs``)."""

    def __init__(self, image: Image, rootfs: Path, python: str) -> None:
        self.image, self.rootfs, self.python = image, rootfs, python
        self.env: dict[str, str] = _base_env(python)
        self.workdir = rootfs
        self.user: str | None = None
        self.done: list[str] = []

    def path(self, image_path: str) -> Path:
        return self.rootfs / image_path.lstrip("/")

    def map(self, value: str) -> str:
        """Image paths in ``value`` (an argument or an ENV value) → their place under rootfs."""
        return re.sub(r"(?<![\w.])(/(?:opt|var|usr/local/lib|usr/local/bin/aifinops|src|wheels)\b[^\s:]*)",
                      lambda m: str(self.path(m.group(1))), value)

    def carry_out(self) -> None:
        for ins in self.image.instructions:
            handler = getattr(self, "_" + ins.keyword.lower(), None)
            if handler is None:
                raise SystemExit(f"image check: the Dockerfile's {ins.keyword} {ins.args!r} has no fresh-env step")
            handler(ins)

    # --- instructions -------------------------------------------------------------------------------
    def _from(self, ins: Instruction) -> None:
        self.env = _base_env(self.python)
        self.done.append(f"stage {ins.stage}")

    def _arg(self, ins: Instruction) -> None:
        return None  # the base image: here, the interpreter the check runs with

    def _label(self, ins: Instruction) -> None:
        return None

    def _expose(self, ins: Instruction) -> None:
        return None

    def _stopsignal(self, ins: Instruction) -> None:
        if ins.args != "SIGTERM":
            raise SystemExit(f"image check: STOPSIGNAL {ins.args}: the smoke test stops serve with SIGTERM")

    def _env(self, ins: Instruction) -> None:
        for key, value in env_pairs(ins.args):
            value = value.replace("$PATH", self.env.get("PATH", ""))
            self.env[key] = self.map(value)

    def _workdir(self, ins: Instruction) -> None:
        self.workdir = self.path(ins.args)
        self.workdir.mkdir(parents=True, exist_ok=True)

    def _user(self, ins: Instruction) -> None:
        self.user = ins.args

    def _copy(self, ins: Instruction) -> None:
        parts = shlex.split(ins.args)
        flags = [p for p in parts if p.startswith("--")]
        *sources, dest = [p for p in parts if not p.startswith("--")]
        chown = next((f.split("=", 1)[1] for f in flags if f.startswith("--chown=")), None)
        from_stage = any(f.startswith("--from=") for f in flags)
        for source in sources:
            target = self.path(dest) if not dest.endswith("/") else self.path(dest) / Path(source).name
            if from_stage:  # one rootfs for every stage: the earlier stage left it at the same path
                if source != dest or not self.path(source).exists():
                    raise SystemExit(f"image check: COPY {ins.args!r}: only same-path copies between stages")
            else:
                origin = ROOT / source
                target.parent.mkdir(parents=True, exist_ok=True)
                if origin.is_dir():
                    shutil.copytree(origin, target, ignore=IGNORED, dirs_exist_ok=True)
                else:
                    shutil.copy2(origin, target)
            if chown and os.geteuid() == 0:
                uid, _, gid = chown.partition(":")
                for p in [target, *target.rglob("*")]:
                    os.chown(p, int(uid), int(gid or uid))
        self.done.append(f"COPY {' '.join(sources)}")

    def _run(self, ins: Instruction) -> None:
        words = shlex.split(ins.args)
        if len(words) < 3 or words[0] != "sh" or not words[1].endswith("/steps.sh"):
            raise SystemExit(f"image check: RUN {ins.args!r} does not call {STEPS}: the check cannot run it")
        script = self.path(words[1])
        if script.read_bytes() != (ROOT / STEPS).read_bytes():
            raise SystemExit(f"image check: {words[1]} in the image is not {STEPS}")
        command = ["sh", str(script), *[self.map(w) for w in words[2:]]]
        started = time.monotonic()
        subprocess.run(command, check=True, env=self.env, cwd=self.workdir)
        self.done.append(f"steps.sh {words[2]} ({time.monotonic() - started:.0f} s)")

    def _entrypoint(self, ins: Instruction) -> None:
        return None  # run by smoke() once every instruction is carried out

    def _cmd(self, ins: Instruction) -> None:
        return None

    # --- the entrypoint, as the image runs it --------------------------------------------------------
    def run_as(self) -> tuple[int | None, str]:
        """Run as the image's USER when this process may and that user can reach the interpreter."""
        if self.user is None or os.geteuid() != 0:
            return None, f"as uid {os.geteuid()}"
        uid = int(self.user.split(":")[0])
        reachable = all(
            p.stat().st_mode & stat.S_IXOTH for p in Path(os.path.realpath(self.python)).parents
        )
        if not reachable:
            return None, f"as root: this machine's Python is not readable by uid {uid}, the image's USER"
        os.chmod(self.rootfs, 0o755)
        return uid, f"as uid {uid} (the image's USER)"

    def smoke(self) -> str:
        entry = [self.map(a) for a in self.image.entrypoint]
        port = _free_port()
        env = {**self.env, "AIFINOPS_PORT": str(port), "AIFINOPS_MIGRATE": "1", "HOME": str(self.workdir)}
        env["AIFINOPS_AZURE__RETAIL_PRICES_SYNC_SECONDS"] = "0"  # the smoke test stays offline
        uid, who = self.run_as()
        kwargs = {"env": env, "cwd": self.workdir, "user": uid, "group": uid} if uid else {"env": env, "cwd": self.workdir}
        subprocess.run([*entry, "keys", "create", "--name", "smoke", "--scope", "admin"], check=True,
                       capture_output=True, **kwargs)
        for command in ("gateway", "collect"):
            subprocess.run([*entry, command, "--help"], check=True, capture_output=True, **kwargs)
        serve = subprocess.Popen([*entry, *self.image.cmd], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 **kwargs)
        try:
            for probe in ("/healthz", "/readyz"):
                _wait_ok(f"http://127.0.0.1:{port}{probe}", serve)
            serve.send_signal(signal.SIGTERM)
            code = serve.wait(60)
        finally:
            if serve.poll() is None:
                serve.kill()
                serve.wait(10)
        if code != 0:
            out = serve.stdout.read().decode() if serve.stdout else ""
            raise SystemExit(f"image check: serve ended with {code} after SIGTERM:\n{out}")
        return (
            f"ran the entrypoint {who}: db upgrade, keys create, gateway/collect --help, serve → /healthz and "
            "/readyz 200, SIGTERM → exit 0"
        )


def _base_env(python: str) -> dict[str, str]:
    """A stage's environment: the base image's PATH, the interpreter, and what reaches the package index from
    this machine (pip's settings, proxies, certificates) as a build here would have it."""
    passed = {
        k: v
        for k, v in os.environ.items()
        if k.startswith(("PIP_", "SSL_CERT_")) or k.lower() in ("http_proxy", "https_proxy", "no_proxy")
    }
    return {**passed, "PATH": "/usr/local/bin:/usr/bin:/bin", "PYTHON": python}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ok(url: str, proc: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            out = proc.stdout.read().decode() if proc.stdout else ""
            raise SystemExit(f"image check: serve exited with {proc.returncode} before {url} answered:\n{out}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"image check: {url} did not answer 200 within {timeout:.0f} s")
        time.sleep(0.2)


def main() -> int:
    image = Image.parse(DOCKERFILE.read_text(encoding="utf-8"))
    name = engine()
    if name is not None and os.environ.get("AIFINOPS_IMAGE_CHECK") != "fresh-env":
        print(build_with(name))
        return 0
    why = "no container engine can run here" if name is None else "AIFINOPS_IMAGE_CHECK=fresh-env"
    rootfs = Path(tempfile.mkdtemp(prefix="aifinops-image-"))
    try:
        fresh = FreshEnvironment(image, rootfs, getattr(sys, "_base_executable", sys.executable))
        started = time.monotonic()
        fresh.carry_out()
        ran = fresh.smoke()
        print(
            f"image check: {why}; carried out the Dockerfile's {len(image.instructions)} instructions in a "
            f"fresh environment ({', '.join(fresh.done)}) and {ran}; {time.monotonic() - started:.0f} s"
        )
    finally:
        shutil.rmtree(rootfs, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
