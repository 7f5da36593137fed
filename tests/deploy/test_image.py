"""The image, built where a container engine runs, else its exact steps carried out in a fresh environment.

``deploy/container/check_image.py`` decides which and says so; its closing line is shown in the test run's
output whatever the outcome, so CI's log tells which of the two it did.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

CHECK = Path(__file__).resolve().parents[2] / "deploy" / "container" / "check_image.py"


def test_the_image_builds_or_its_steps_run_in_a_fresh_environment(capsys: pytest.CaptureFixture[str]) -> None:
    done = subprocess.run(
        [sys.executable, str(CHECK)], capture_output=True, text=True, timeout=1800, check=False
    )
    said = (done.stdout.strip().splitlines() or ["(no output)"])[-1]
    with capsys.disabled():
        print(f"\n{said}")
    assert done.returncode == 0, f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    assert said.startswith("image check: ")
    assert "built the image with" in said or ("fresh environment" in said and "SIGTERM → exit 0" in said)
