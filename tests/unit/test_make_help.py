"""`make help`: the first thing a new user runs lists every target in two aligned columns."""

import re
import shutil
import subprocess

import pytest

from devstack import ROOT


def test_make_help_aligns_every_description_whatever_the_longest_target_name():
    make = shutil.which("make")
    if make is None:
        pytest.fail("make is not installed: the Makefile is the project's entry point, so the tests need it")
    shown = subprocess.run([make, "--no-print-directory", "help"], capture_output=True, text=True, cwd=ROOT, timeout=30, check=True)
    rows = [re.fullmatch(r"  make (\S+)( +)(\S.*)", line) for line in shown.stdout.splitlines()]
    assert rows, shown.stdout
    assert all(rows), shown.stdout
    targets = re.findall(r"^([a-z-]+):.*## ", (ROOT / "Makefile").read_text(), flags=re.MULTILINE)
    assert [row[1] for row in rows] == targets  # every documented target, in the Makefile's order
    assert len({row.start(3) for row in rows}) == 1, shown.stdout  # one column where every description starts
    assert min(len(row[2]) for row in rows) >= 2
