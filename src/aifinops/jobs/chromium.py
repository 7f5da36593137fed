"""Headless Chromium (Debian package ``chromium``) as a renderer: an HTML file printed to PDF or shot as PNG.

Flags keep it off the network and the machine's profile: no sandbox (it runs as root in containers), no
GPU, no background networking, component updates or sync, a fresh profile folder per run.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from aifinops.errors import ConfigError

__all__ = ["CHROMIUM_FLAGS", "find_chromium", "print_pdf", "screenshot"]

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def find_chromium() -> str:
    """The Chromium executable on PATH, or a ConfigError naming the package that provides it."""
    found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if found is None:
        raise ConfigError("headless Chromium is needed for PDF output: apt-get install chromium")
    return found


def _run(args: list[str], out: Path, *, timeout: float) -> None:
    with tempfile.TemporaryDirectory(prefix="aifinops-chromium-") as profile:
        command = [find_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            raise ConfigError(f"Chromium did not finish writing {out} within {timeout:.0f} s") from exc
    if done.returncode != 0 or not out.exists() or out.stat().st_size == 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise ConfigError(f"Chromium could not write {out} (exit {done.returncode}): {' | '.join(tail)}")


def print_pdf(html_path: Path, pdf_path: Path, *, timeout: float = 120) -> None:
    """Print ``html_path`` to ``pdf_path`` with Chromium's print (the page's @page size, no header/footer)."""
    pdf_path.unlink(missing_ok=True)
    args = [f"--print-to-pdf={pdf_path.resolve()}", "--no-pdf-header-footer", html_path.resolve().as_uri()]
    _run(args, pdf_path, timeout=timeout)


def screenshot(
    html_path: Path, png_path: Path, *, width: int = 1280, height: int = 2000, timeout: float = 120
) -> None:
    """A PNG of ``html_path`` rendered in a ``width`` × ``height`` window."""
    png_path.unlink(missing_ok=True)
    args = [
        f"--screenshot={png_path.resolve()}",
        f"--window-size={width},{height}",
        html_path.resolve().as_uri(),
    ]
    _run(args, png_path, timeout=timeout)
