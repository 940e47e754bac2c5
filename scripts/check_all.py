"""`make test`: run every check, each to its end, and finish with one summary of all of them.

Each step is a make target, so it can also be run alone. A step passes, fails, or is skipped (a step
says so with a line starting "SKIPPED:", and why). After the steps, the working tree is compared with
what it was before: a check that rewrites a tracked file fails the run. Exit status 1 if anything failed.
Standard library only: it runs before anything is installed.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from dataclasses import dataclass

STEPS = [
    ("ruff-lint", "ruff lint"),
    ("ruff-format", "ruff format --check"),
    ("cfn-lint", "cfn-lint template.yaml"),
    ("checkov", "checkov (offline)"),
    ("validate-providers", "provider definitions"),
    ("pytest", "pytest: unit, integration, reliability"),
    ("validate", "sam validate --lint"),
    ("build", "sam build"),
]


@dataclass
class Outcome:
    name: str
    status: str  # passed, failed, skipped
    seconds: float
    detail: str = ""


def tree_state() -> str:
    """What git sees as changed or untracked (ignored files excluded), and the content of tracked changes."""
    status = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True, check=False).stdout
    diff = subprocess.run(["git", "diff", "HEAD"], capture_output=True, text=True, check=False).stdout
    return status + "\0" + diff


def run_step(target: str, name: str) -> Outcome:
    print(f"\n==> {name} (make {target})", flush=True)
    started = time.monotonic()
    process = subprocess.Popen(["make", "--no-print-directory", target], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in process.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
        lines.append(line.rstrip("\n"))
    code = process.wait()
    seconds = time.monotonic() - started
    skipped = next((line.split("SKIPPED:", 1)[1].strip() for line in lines if "SKIPPED:" in line), None)
    if code != 0:
        return Outcome(name, "failed", seconds, f"exit status {code}")
    if skipped:
        return Outcome(name, "skipped", seconds, skipped)
    tally = next((line.strip("= ") for line in reversed(lines) if re.search(r"\d+ passed", line)), "")
    return Outcome(name, "passed", seconds, re.sub(r" in [\d.]+s.*", "", tally))


def main() -> int:
    before = tree_state()
    outcomes = [run_step(target, name) for target, name in STEPS]
    after = tree_state()
    if after != before:
        changed = subprocess.run(["git", "status", "--short"], capture_output=True, text=True, check=False).stdout.strip()
        outcomes.append(Outcome("working tree unchanged", "failed", 0.0, "the checks changed tracked files:\n      " +
                                changed.replace("\n", "\n      ")))  # fmt: skip
    else:
        outcomes.append(Outcome("working tree unchanged", "passed", 0.0, "git status is as it was"))

    print("\n" + "=" * 100 + "\nmake test summary:")
    for outcome in outcomes:
        label = {"passed": "passed ", "failed": "FAILED ", "skipped": "SKIPPED"}[outcome.status]
        detail = f"  ({outcome.detail})" if outcome.detail else ""
        print(f"  {label}  {outcome.name:<42} {outcome.seconds:7.1f} s{detail}")
    failed = [o.name for o in outcomes if o.status == "failed"]
    skipped = [o.name for o in outcomes if o.status == "skipped"]
    verdict = f"FAILED: {', '.join(failed)}" if failed else "all checks passed" + (f" ({len(skipped)} skipped)" if skipped else "")
    print(f"\n{verdict}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
