"""Render reliability/results.json (written by make reliability) as docs/operating.md's reliability block."""

from __future__ import annotations

from collections import defaultdict

from devstack import ROOT

RESULTS = ROOT / "reliability" / "results.json"


def render(results: dict) -> str:
    matrix, tests = results["fault_matrix"], results["tests"]
    providers = sorted({r["provider"] for r in matrix})
    cells: dict[str, dict[str, str]] = defaultdict(dict)
    slowest = 0.0
    for r in matrix:
        cells[r["fault"]][r["provider"]] = f"{r['kind']}" if r.get("survived") else "**FAILED**"
        slowest = max(slowest, r["seconds"])
    survived = sum(1 for r in matrix if r.get("survived"))
    passed = sum(1 for outcome in tests.values() if outcome == "passed")

    def outcome_of(fragment: str) -> str:
        found = [o for node, o in tests.items() if fragment in node]
        return "passed" if found and all(o == "passed" for o in found) else "FAILED" if found else "not run"

    leaks = "0" if outcome_of("test_no_key_or_personal_data_leaks") == "passed" else "see the failing leak scan"
    duplicates = "0" if outcome_of("exactly_one") == "passed" and outcome_of("publish_once") == "passed" else "see failing tests"
    lines = [
        f"Latest `make reliability`: {results.get('date', 'undated')}. **{len(tests)} cases run, {passed} passed; "
        f"{survived} of {len(matrix)} provider faults survived; leaks found: {leaks}; duplicate alerts found: {duplicates}.** "
        f"The slowest faulted run took {slowest:.1f} s of its 4 s budget.",
        "",
        "| fault | " + " | ".join(providers) + " |",
        "| --- | " + " | ".join("---" for _ in providers) + " |",
    ]
    for fault, row in cells.items():
        lines.append(f"| {fault} | " + " | ".join(row.get(p, "-") for p in providers) + " |")
    lines += ["", "Each cell is the failure kind recorded for the faulted account, whose last good balance was kept while",
              "the healthy account beside it was stored."]  # fmt: skip
    return "\n".join(lines)
