"""`make readme`: rewrite the generated blocks of docs/ from the commands that produce them.

A generated block sits between ``<!-- name:start -->`` and ``<!-- name:end -->``, in the page ``PAGES`` names:

- ``demo`` (docs/local.md): the story `make demo` prints (its rounds, alerts and stored balances);
- ``cost`` (docs/operating.md): what `make cost` prints for the default configuration;
- ``bench`` and ``reliability`` (docs/operating.md): figures from bench/results.json and
  reliability/results.json, which only `make bench` and `make reliability` write;
- ``parameters`` (docs/parameters.md): every parameter of template.yaml, its default, allowed values and
  description, so that the deploy parameters are documented once, by the template itself.

Nothing types these blocks: the tests compare every block with what its command prints now
(times and ports aside), so a page that drifted from the commands fails `make test`.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

from devstack import PYTHONPATH, ROOT

README = ROOT / "README.md"
DOCS = ROOT / "docs"
LOCAL = DOCS / "local.md"
OPERATING = DOCS / "operating.md"
PARAMETERS = DOCS / "parameters.md"
PAGES: dict[str, Path] = {"demo": LOCAL, "cost": OPERATING, "bench": OPERATING, "reliability": OPERATING, "parameters": PARAMETERS}
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


def markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def block(text: str, name: str) -> str:
    """The content of block ``name`` in ``text``."""
    start, end = markers(name)
    if start not in text or end not in text:
        raise LookupError(f"{PAGES[name].relative_to(ROOT) if name in PAGES else 'the page'} has no {start} ... {end} block")
    return text.split(start, 1)[1].split(end, 1)[0].strip("\n")


def shown(name: str) -> str:
    """Block ``name`` as its page shows it now."""
    return block(PAGES[name].read_text(), name)


def replace_block(text: str, name: str, content: str) -> str:
    start, end = markers(name)
    block(text, name)  # raises when the block is missing
    before, rest = text.split(start, 1)
    _, after = rest.split(end, 1)
    return f"{before}{start}\n{content}\n{end}{after}"


def normalized(text: str) -> str:
    """What may differ between two runs of the same command: times, ports, wall-clock seconds."""
    text = TIMESTAMP.sub("<time>", text)
    text = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:<port>", text)
    # An anomaly's rate is measured over the wall-clock time between the demo's polls: its digits vary by a few.
    text = re.sub(r"spending [\d,.]+ (\S+)/h, usually ([\d,.]+)/h \(\d+x\)", r"spending <rate> \1/h, usually \2/h (<n>x)", text)
    return re.sub(r"Done in [\d.]+s", "Done in <s>", text)


def fenced(text: str) -> str:
    return "```text\n" + text.rstrip() + "\n```"


# -- the blocks -------------------------------------------------------------------------------------


def run_demo() -> str:
    env = {**os.environ, "PYTHONPATH": f"{PYTHONPATH}{os.pathsep}{ROOT}"}
    result = subprocess.run([sys.executable, "-m", "devstack.demo"], capture_output=True, text=True, env=env, cwd=ROOT, check=True)
    return result.stdout


def demo_block(output: str) -> str:
    """The story part of the demo's output: every round, the scheduled check and the stored balances."""
    story = output[output.index("\nRound 1") + 1 : output.index("\nSNS messages published")]
    return fenced(story)


def cost_block(argv: list[str] | None = None) -> str:
    from devstack import cost  # noqa: PLC0415

    out = io.StringIO()
    with redirect_stdout(out):
        cost.main(argv or [])
    return fenced(out.getvalue())


def bench_block() -> str:
    from bench.report import RESULTS, render  # noqa: PLC0415

    return render(json.loads(RESULTS.read_text()))


def reliability_block() -> str:
    from devstack.reliability_report import RESULTS, render  # noqa: PLC0415

    return render(json.loads(RESULTS.read_text()))


def _cell(text: str) -> str:
    """Text as one Markdown table cell: on one line, with no character that ends the cell or opens an HTML tag."""
    text = " ".join(str(text).split())
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _code(value: Any) -> str:
    return "`" + str(value).replace("|", "\\|") + "`"


def _default(spec: dict[str, Any]) -> str:
    if "Default" not in spec:
        return "required"
    return _code(spec["Default"]) if str(spec["Default"]) != "" else "empty"


def _allowed(spec: dict[str, Any]) -> str:
    """What CloudFormation accepts for the parameter, in words."""
    kind = spec.get("Type", "String")
    parts = ["a comma-separated list"] if kind == "CommaDelimitedList" else []
    if "AllowedValues" in spec:
        parts.append("one of " + ", ".join(_code(value) for value in spec["AllowedValues"]))
    low, high = spec.get("MinValue"), spec.get("MaxValue")
    if low is not None and high is not None:
        parts.append(f"{low} to {high}")
    elif low is not None:
        parts.append(f"at least {low}")
    elif high is not None:
        parts.append(f"at most {high}")
    elif kind == "Number" and "AllowedValues" not in spec:
        parts.append("a number")
    if "AllowedPattern" in spec:
        constraint = spec.get("ConstraintDescription")
        parts.append(_cell(constraint.removeprefix("must be ")) if constraint else "matching " + _code(spec["AllowedPattern"]))
    if spec.get("NoEcho"):
        parts.append("a secret: CloudFormation never shows it (`NoEcho`)")
    return "; ".join(parts) or "any text"


def parameters_block(template: dict[str, Any] | None = None) -> str:
    """Every parameter of template.yaml, in the template's order: name, default, allowed values, description."""
    if template is None:
        from devstack.template import load_template  # noqa: PLC0415

        template = load_template()
    rows = ["| parameter | default | allowed | description |", "| --- | --- | --- | --- |"]
    for name, spec in template["Parameters"].items():
        rows.append(f"| `{name}` | {_default(spec)} | {_allowed(spec)} | {_cell(spec.get('Description', ''))} |")
    return "\n".join(rows)


RENDERERS = {
    "demo": lambda: demo_block(run_demo()),
    "cost": cost_block,
    "bench": bench_block,
    "reliability": reliability_block,
    "parameters": parameters_block,
}


def main(argv: list[str]) -> int:
    wanted = argv or list(RENDERERS)
    unknown = [name for name in wanted if name not in RENDERERS]
    if unknown:
        print(f"unknown block {unknown[0]!r}; blocks: {', '.join(RENDERERS)}", file=sys.stderr)
        return 2
    texts: dict[Path, str] = {}
    for name in wanted:
        page = PAGES[name]
        texts[page] = replace_block(texts.get(page) or page.read_text(), name, RENDERERS[name]())
        print(f"{page.relative_to(ROOT)}: {name} block regenerated")
    for page, text in texts.items():
        page.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
