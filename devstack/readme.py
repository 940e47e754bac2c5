"""`make readme`: rewrite README.md's generated blocks from the commands that produce them.

A generated block sits between ``<!-- name:start -->`` and ``<!-- name:end -->``:

- ``demo``: the story `make demo` prints (its rounds, alerts and stored balances);
- ``cost``: what `make cost` prints for the default configuration;
- ``bench`` and ``reliability``: figures from bench/results.json and reliability/results.json, which
  only `make bench` and `make reliability` write.

Nothing types these figures: the tests compare every block with what its command prints now
(times and ports aside), so a README that drifted from the commands fails `make test`.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from contextlib import redirect_stdout

from devstack import PYTHONPATH, ROOT

README = ROOT / "README.md"
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


def markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def block(text: str, name: str) -> str:
    """The content of block ``name`` in ``text``."""
    start, end = markers(name)
    if start not in text or end not in text:
        raise LookupError(f"README.md has no {start} ... {end} block")
    return text.split(start, 1)[1].split(end, 1)[0].strip("\n")


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


def main(argv: list[str]) -> int:
    wanted = argv or ["demo", "cost", "bench", "reliability"]
    renderers = {
        "demo": lambda: demo_block(run_demo()),
        "cost": cost_block,
        "bench": bench_block,
        "reliability": reliability_block,
    }
    text = README.read_text()
    for name in wanted:
        if name not in renderers:
            print(f"unknown block {name!r}; blocks: {', '.join(renderers)}", file=sys.stderr)
            return 2
        text = replace_block(text, name, renderers[name]())
        print(f"README.md: {name} block regenerated")
    README.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
