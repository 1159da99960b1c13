"""The lease store's unit tests against PostgreSQL (issue 15).

tests/unit/test_lease_store.c runs every case against SQLite, and again
against PostgreSQL when KIDOU_TEST_PG_URI names a database (skipped
without). Here that binary runs against a throwaway postgresql-15
(pg_lib), so `make check` runs the store's cases on both backends, the
ASan build's binary under ASan.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from kidou_testlib import T, kidou_bin, sanitizer_findings
from pg_lib import pg, pg_server  # noqa: F401  (fixtures)


def unit_binary() -> Path:
    exe = Path(kidou_bin()).parent / "tests" / "unit" / "test_lease_store"
    if not exe.exists():
        pytest.fail(f"{exe} missing: build the unit tests (ninja -C {exe.parents[2]})")
    return exe


def test_store_unit_cases_on_postgresql(pg):
    env = dict(os.environ, KIDOU_TEST_PG_URI=pg.uri, PGPASSFILE=str(pg.passfile),
               UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1")
    cp = subprocess.run([str(unit_binary())], env=env, capture_output=True, text=True,
                        timeout=T(120), stdin=subprocess.DEVNULL)
    out = cp.stdout + cp.stderr
    assert cp.returncode == 0, out[-6000:]
    assert not sanitizer_findings(out), out[-6000:]
    # The PostgreSQL cases ran (a skip would pass the binary too).
    assert "SKIPPED" not in out, out[-6000:]
    for case in ("pg_test_batches_done_in_order", "pg_test_close_with_pending",
                 "test_pg_claims"):
        assert f"[       OK ] {case}" in out, out[-6000:]
