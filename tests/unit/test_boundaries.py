"""The package's shape is the design: who may touch AWS, the table layout and the environment."""

import re

import pytest

from devstack import ROOT

PACKAGE = ROOT / "layers" / "common" / "credit_monitor"
CLI = ROOT / "cli" / "credit_monitor_cli"  # the command line, a package apart from the layer's
MODULES = {path.relative_to(PACKAGE).as_posix(): path.read_text() for path in PACKAGE.rglob("*.py")} | {
    f"cli/{path.relative_to(CLI).as_posix()}": path.read_text() for path in CLI.rglob("*.py")
}


def users_of(pattern: str) -> set[str]:
    return {name for name, source in MODULES.items() if re.search(pattern, source)}


def test_the_tree_shows_the_three_flows_over_storage():
    folders = {path.name for path in PACKAGE.iterdir() if path.is_dir() and not path.name.startswith("__")}
    assert {"polling", "alerting", "api", "storage"} <= folders
    assert "cli" not in folders


def test_only_storage_notify_and_the_aws_module_create_or_use_aws_clients():
    # tracing.py only names boto3 as the one library X-Ray patches; it makes no client.
    allowed = lambda name: name.startswith("storage/") or name in ("alerting/notify.py", "aws.py", "cli/aws.py", "tracing.py")  # noqa: E731
    assert {name for name in users_of(r"boto3|client\(|resource\(") if not allowed(name)} == set()


def test_only_notify_publishes_alerts():
    assert users_of(r"\.publish\(|put_events\(") <= {"alerting/notify.py"}


@pytest.mark.parametrize("literal", ['"BALANCE#', '"ALERT#', '"ROUND#', '"INCIDENT"', '"ATTENTION#', '"GROUPS"', '"GROUP#', '"ALERTS',
                                     '"CONFIG"', '"HISTORY#', '"kind"'])  # fmt: skip
def test_the_table_layout_is_spelled_only_in_storage(literal):
    assert {name for name in users_of(re.escape(literal)) if not name.startswith("storage/")} == set()


def test_configuration_is_read_from_the_environment_only_through_settings():
    readers = users_of(r"os\.environ|getenv")
    # metrics reads Powertools' own namespace variable when it emits; the CLI reads the variable a user named,
    # and at start sets what Lambda's environment gives the functions (the service name, the region).
    assert readers <= {"settings.py", "metrics.py", "cli/check.py", "cli/status.py", "cli/__init__.py"}


@pytest.mark.parametrize("name", ["PROVIDER_ID = re.compile", "ACCOUNT_NAME = re.compile", "MAX_CREDITS =", "TIME_FORMAT ="])
def test_each_shared_rule_exists_once(name):
    assert len(users_of(re.escape(name))) == 1
