"""Write (or with --check, verify) openapi.json from the API resolver's own routes and models."""

from __future__ import annotations

import sys

from credit_monitor.api import openapi_json
from devstack import ROOT

OPENAPI_FILE = ROOT / "openapi.json"


def current() -> str:
    return openapi_json() + "\n"


def main(argv: list[str]) -> int:
    if "--check" in argv:
        if not OPENAPI_FILE.exists() or OPENAPI_FILE.read_text() != current():
            print("openapi.json is stale: run `make openapi` and commit it", file=sys.stderr)
            return 1
        print("openapi.json is current")
        return 0
    OPENAPI_FILE.write_text(current())
    print(f"wrote {OPENAPI_FILE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
