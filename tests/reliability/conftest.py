"""With RELIABILITY_RESULTS set (make reliability), record every test's outcome beside the fault matrix's."""

import json
import os
from datetime import UTC, datetime
from pathlib import Path

OUTCOMES: dict[str, str] = {}


def pytest_runtest_logreport(report):
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        OUTCOMES[report.nodeid] = report.outcome


def pytest_sessionfinish(session, exitstatus):
    target = os.environ.get("RELIABILITY_RESULTS")
    if target:
        path = Path(target)
        document = json.loads(path.read_text()) if path.exists() else {}
        document["tests"] = OUTCOMES
        document["date"] = datetime.now(UTC).strftime("%Y-%m-%d")
        path.write_text(json.dumps(document, indent=1) + "\n")
