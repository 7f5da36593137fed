"""Replicas that all run `aifinops db upgrade` at start (AIFINOPS_MIGRATE=1) on one new database."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from aifinops.store import Store
from tests.conftest import POSTGRES_ADMIN_URL

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_concurrent_upgrades_take_turns_and_all_succeed(tmp_path: Path) -> None:
    name = f"aifinops_upgrade_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(Store(POSTGRES_ADMIN_URL).url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIFINOPS_")} | {
        "AIFINOPS_DATABASE_URL": url
    }
    try:
        procs = [
            subprocess.Popen(
                [str(Path(sys.executable).parent / "aifinops"), "db", "upgrade"],
                cwd=tmp_path,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            for _ in range(2)
        ]
        outputs = [p.communicate(timeout=120)[0].decode() for p in procs]
        assert [p.returncode for p in procs] == [0, 0], outputs
        store = Store(url)
        store.check_schema()
        store.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
