"""The local stack expands template.yaml's Fn::ForEach itself; it must make what the SAM CLI makes.

The SAM CLI (in .venv-sam, kept apart from the project's pins) expands AWS::LanguageExtensions for
`sam build`, `sam validate` and `sam deploy`; CloudFormation does the same at deploy time. The local
stack, the IAM tests and the cost model read devstack.template's expansion, so both are compared here
for several Providers lists: the same logical ids, types and outputs.
"""

import json
import os
import subprocess

import pytest

from devstack import ROOT, TEMPLATE
from devstack.template import deployed_template, every_provider

SAM_PYTHON = ROOT / ".venv-sam" / "bin" / "python"
# make test installs the SAM CLI and sets this: there, a missing SAM CLI is a failure, not a skip.
REQUIRE_SAM = os.environ.get("CREDIT_MONITOR_REQUIRE_SAM") == "1"

SAM_EXPANSION = """
import json, sys
from samcli.lib.cfn_language_extensions.api import process_template
from samcli.yamlhelper import yaml_parse
parameters = json.loads(sys.argv[2])
values = {k: v.split(",") if k == "Providers" else v for k, v in parameters.items()}
expanded = process_template(yaml_parse(open(sys.argv[1]).read()), values)
print(json.dumps({"Resources": {k: r["Type"] for k, r in expanded["Resources"].items()}, "Outputs": sorted(expanded["Outputs"])}))
"""


@pytest.mark.parametrize(
    "parameters",
    [{}, every_provider(), {"Providers": "crun"}, {"Providers": "crun,open-router_2,x9"}],
    ids=["default", "every-bundled", "one", "odd-ids"],
)
def test_the_local_expansion_makes_the_same_resources_and_outputs_as_the_sam_cli(parameters):
    if not SAM_PYTHON.exists():
        missing = f"the SAM CLI is not installed: {SAM_PYTHON} does not exist (make setup installs it into .venv-sam)"
        if REQUIRE_SAM:
            pytest.fail(missing + "; CREDIT_MONITOR_REQUIRE_SAM=1 (make test) requires it")
        pytest.skip(missing)
    command = [SAM_PYTHON, "-c", SAM_EXPANSION, TEMPLATE, json.dumps(parameters)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    theirs = json.loads(result.stdout)
    ours = deployed_template(parameters)
    assert {k: r["Type"] for k, r in ours["Resources"].items()} == theirs["Resources"]
    assert sorted(ours["Outputs"]) == theirs["Outputs"]


def test_an_id_made_twice_by_a_loop_is_refused():
    with pytest.raises(ValueError, match="already exists"):
        deployed_template({"Providers": "open-router,openrouter"})  # both make openrouterPoller


def test_an_unknown_parameter_is_refused_naming_it():
    with pytest.raises(KeyError, match="OpenrouterPolling"):
        deployed_template({"OpenrouterPolling": "ENABLED"})
