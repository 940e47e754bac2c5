"""`make demo` runs the whole local system; this runs the same entry point and reads its table."""

import os
import subprocess
import sys

import pytest

from devstack import ROOT

pytestmark = pytest.mark.integration


def test_the_demo_polls_all_five_providers_through_the_real_handlers():
    result = subprocess.run(
        [sys.executable, "-m", "devstack.demo"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": f"{ROOT / 'layers' / 'common'}{os.pathsep}{ROOT}"},
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    table = result.stdout.split("Stored balances", 1)[1]
    rows = [line.split() for line in table.splitlines() if line.startswith("  ") and "PROVIDER" not in line]
    assert {row[0] for row in rows} == {"crun", "sunor", "srtgen", "apimall", "pixverse"}
    statuses = {(row[0], row[1]): row[4] for row in rows}
    assert statuses[("crun", "staging")] == "error"  # under maintenance in round 2, last balance kept
    assert statuses[("sunor", "legacy")] == "error"  # a revoked key
    assert list(statuses.values()).count("ok") == 9
    assert "maintenance" in table
    assert "demo-" not in result.stdout + result.stderr  # the demo keys never show
