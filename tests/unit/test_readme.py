"""The docs' generated blocks are rendered from the template and the results files their own targets write, never typed."""

import pytest

from devstack import ROOT, readme
from devstack.template import load_template


@pytest.mark.parametrize(("name", "render", "target"), [("bench", readme.bench_block, "make bench"),
                                                        ("reliability", readme.reliability_block, "make reliability")])  # fmt: skip
def test_the_docs_figures_are_the_latest_results(name, render, target):
    assert readme.shown(name) == render(), f"{readme.PAGES[name].relative_to(ROOT)}'s {name} block is stale: run {target}"


def test_the_parameters_page_is_what_template_yaml_says_now():
    assert readme.shown("parameters") == readme.parameters_block(), "docs/parameters.md is stale: run make readme BLOCKS=parameters"


def test_every_template_parameter_is_documented_exactly_once():
    page = readme.PARAMETERS.read_text()
    parameters = load_template()["Parameters"]
    assert len(parameters) > 40  # the whole list, not a few
    assert {name: page.count(f"| `{name}` |") for name in parameters} == dict.fromkeys(parameters, 1)


def test_a_parameter_row_says_its_default_what_is_allowed_and_its_description_as_markdown_shows_them():
    template = {"Parameters": {
        "Mode": {"Type": "String", "Default": "OFF", "AllowedValues": ["ON", "OFF"], "Description": "Whether it runs."},
        "Size": {"Type": "Number", "Default": 10, "MinValue": 1, "MaxValue": 99, "Description": "How many."},
        "Hook": {"Type": "String", "Default": "", "NoEcho": True, "AllowedPattern": "^(https://\\S+)?$",
                 "ConstraintDescription": "must be empty or an https:// URL", "Description": "A URL\n  for <provider>|<account>."},
        "Names": {"Type": "CommaDelimitedList", "Default": "a,b", "Description": "Names."},
    }}  # fmt: skip
    rows = readme.parameters_block(template).splitlines()
    assert rows[2] == "| `Mode` | `OFF` | one of `ON`, `OFF` | Whether it runs. |"
    assert rows[3] == "| `Size` | `10` | 1 to 99 | How many. |"
    # empty shown as a word, the constraint in words, a secret said so; no raw | or <tag> to break the table
    assert rows[4] == ("| `Hook` | empty | empty or an https:// URL; a secret: CloudFormation never shows it (`NoEcho`) "
                       "| A URL for &lt;provider&gt;\\|&lt;account&gt;. |")  # fmt: skip
    assert rows[5] == "| `Names` | `a,b` | a comma-separated list | Names. |"


def test_make_readme_rewrites_each_block_in_its_own_page_and_leaves_the_rest(tmp_path, monkeypatch):
    one, two = tmp_path / "one.md", tmp_path / "two.md"
    one.write_text("intro\n<!-- a:start -->\nold a\n<!-- a:end -->\n<!-- b:start -->\nold b\n<!-- b:end -->\noutro\n")
    two.write_text("<!-- c:start -->\nold c\n<!-- c:end -->\n")
    monkeypatch.setattr(readme, "ROOT", tmp_path)
    monkeypatch.setattr(readme, "PAGES", {"a": one, "b": one, "c": two})
    monkeypatch.setattr(readme, "RENDERERS", {"a": lambda: "new a", "b": lambda: "new b", "c": lambda: "new c"})
    assert readme.main(["a", "c"]) == 0
    assert one.read_text() == "intro\n<!-- a:start -->\nnew a\n<!-- a:end -->\n<!-- b:start -->\nold b\n<!-- b:end -->\noutro\n"
    assert two.read_text() == "<!-- c:start -->\nnew c\n<!-- c:end -->\n"
    assert readme.main(["a", "nope"]) == 2  # an unknown block: nothing written
    assert readme.main([]) == 0
    assert "new b" in one.read_text()


def test_a_block_is_replaced_between_its_markers_and_nowhere_else():
    text = "intro\n<!-- x:start -->\nold\n<!-- x:end -->\noutro"
    assert readme.replace_block(text, "x", "new") == "intro\n<!-- x:start -->\nnew\n<!-- x:end -->\noutro"
    with pytest.raises(LookupError, match="no <!-- y:start -->"):
        readme.block(text, "y")


def test_times_ports_and_durations_are_what_may_differ_between_runs():
    assert readme.normalized("at 2026-11-21T05:48:56Z on 127.0.0.1:50211. Done in 4.9s.") == "at <time> on 127.0.0.1:<port>. Done in <s>."
