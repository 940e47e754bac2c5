"""Local development stack: moto built from template.yaml, provider simulators, and the demo.

Development tooling only; it is not part of the Lambda layer.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
