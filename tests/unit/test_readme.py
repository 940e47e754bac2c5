"""README.md's figures are rendered from the results files their own targets write, never typed."""

import pytest

from devstack import readme


@pytest.mark.parametrize(("name", "render", "target"), [("bench", readme.bench_block, "make bench"),
                                                        ("reliability", readme.reliability_block, "make reliability")])  # fmt: skip
def test_the_readmes_figures_are_the_latest_results(name, render, target):
    assert readme.block(readme.README.read_text(), name) == render(), f"README.md's {name} block is stale: run {target}"


def test_a_block_is_replaced_between_its_markers_and_nowhere_else():
    text = "intro\n<!-- x:start -->\nold\n<!-- x:end -->\noutro"
    assert readme.replace_block(text, "x", "new") == "intro\n<!-- x:start -->\nnew\n<!-- x:end -->\noutro"
    with pytest.raises(LookupError, match="no <!-- y:start -->"):
        readme.block(text, "y")


def test_times_ports_and_durations_are_what_may_differ_between_runs():
    assert readme.normalized("at 2026-11-21T05:48:56Z on 127.0.0.1:50211. Done in 4.9s.") == "at <time> on 127.0.0.1:<port>. Done in <s>."
