"""Local development stack: moto built from template.yaml, provider simulators, and the demo.

Development tooling only; it is not part of the Lambda layer.
"""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
# The project's code on sys.path: the Lambda layer's package, and the command line's package apart from it (cli/).
PYTHONPATH = os.pathsep.join(str(ROOT / root) for root in ("layers/common", "cli"))

# As in Lambda, Powertools reads these when the project's modules are first imported.
for _name, _value in {
    "POWERTOOLS_SERVICE_NAME": "credit-monitor",
    "POWERTOOLS_METRICS_NAMESPACE": "CreditMonitor",
    "POWERTOOLS_TRACE_DISABLED": "true",
}.items():
    os.environ.setdefault(_name, _value)
