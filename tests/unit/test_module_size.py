"""One job per module: a module of the layer that grows past ~350 lines says at its top why it is one module."""

import ast

import pytest

from devstack import ROOT

PACKAGE = ROOT / "layers" / "common" / "credit_monitor"
MAX_LINES = 350
LONG = [path for path in sorted(PACKAGE.rglob("*.py")) if len(path.read_text().splitlines()) > MAX_LINES]


@pytest.mark.parametrize("path", LONG, ids=lambda path: str(path.relative_to(PACKAGE)))
def test_a_long_module_states_why_it_is_one_module(path):
    docstring = ast.get_docstring(ast.parse(path.read_text())) or ""
    assert "Longer than ~350 lines on purpose:" in docstring
