"""The packages' shape is the design: who may touch AWS, the table layout and the environment, and what ships
in the Lambda layer. The rules read the code as Python reads it (the ast module): imports, calls, names and
literals, in every module of both packages, the layer's (credit_monitor) and the command line's (credit_monitor_cli).
Comments and docstrings that mention boto3 or publish are not code, and do not count."""

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

import pytest

from devstack import ROOT

LAYER = ROOT / "layers" / "common" / "credit_monitor"
CLI = ROOT / "cli" / "credit_monitor_cli"
PACKAGES = {"credit_monitor": LAYER, "credit_monitor_cli": CLI}


def parse(package: str, folder: Path) -> dict[str, ast.Module]:
    return {f"{package}/{path.relative_to(folder).as_posix()}": ast.parse(path.read_text(), str(path)) for path in folder.rglob("*.py")}


MODULES = {name: tree for package, folder in PACKAGES.items() for name, tree in parse(package, folder).items()}
AWS_MODULES = {"credit_monitor/aws.py", "credit_monitor_cli/aws.py"}


def imported(tree: ast.Module) -> set[str]:
    """Every module ``tree`` imports, wherever the import is: ``from a.b import c`` imports a.b.c (a module or a name in a.b)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def called(tree: ast.Module) -> set[str]:
    """The names of the methods ``tree`` calls: ``x.y.publish(...)`` calls publish."""
    return {node.func.attr for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)}


def strings(tree: ast.Module) -> list[str]:
    """Every string literal, and each literal part of an f-string."""
    return [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)]


def modules_where(found) -> set[str]:
    return {name for name, tree in MODULES.items() if found(tree)}


def test_the_tree_shows_the_three_flows_over_storage_and_the_command_line_apart():
    folders = {path.name for path in LAYER.iterdir() if path.is_dir() and not path.name.startswith("__")}
    assert {"polling", "alerting", "api", "storage"} <= folders
    assert "cli" not in folders
    assert not (LAYER / "__main__.py").exists()  # python -m credit_monitor_cli is the command
    assert (CLI / "__main__.py").is_file()


def test_the_layer_never_imports_the_command_line():
    assert {name for name in modules_where(lambda t: any(m.split(".")[0] == "credit_monitor_cli" for m in imported(t)))
            if name.startswith("credit_monitor/")} == set()  # fmt: skip


def _requirements(file: Path) -> list[str]:
    return [line.split("#")[0].strip() for line in file.read_text().splitlines() if line.split("#")[0].strip()]


def _shipped(requirements: list[str]) -> set[str]:
    """The top-level modules of the distributions ``requirements`` install, with their own dependencies (as installed here)."""
    wanted, seen = [_distribution_name(r) for r in requirements], set()
    while wanted:
        name = wanted.pop()
        if name not in seen:
            seen.add(name)
            wanted += [_distribution_name(r) for r in importlib.metadata.requires(name) or [] if "extra ==" not in r]
    providers = importlib.metadata.packages_distributions()
    return {module for module, distributions in providers.items() if {_distribution_name(d) for d in distributions} & seen}


def _distribution_name(requirement: str) -> str:
    return re.split(r"[=<>!~;\[ (]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_the_layer_imports_only_what_it_ships_and_what_lambda_provides():
    # The layer is built from layers/common/requirements.txt; Lambda's Python runtime provides boto3 and botocore.
    available = _shipped(_requirements(ROOT / "layers" / "common" / "requirements.txt")) | {"boto3", "botocore", "credit_monitor"}
    layer = {name: tree for name, tree in MODULES.items() if name.startswith("credit_monitor/")}
    foreign = {(name, module) for name, tree in layer.items() for module in imported(tree)
               if module.split(".")[0] not in sys.stdlib_module_names and module.split(".")[0] not in available}  # fmt: skip
    assert foreign == set()
    assert "requests" not in available  # only the command line uses it (cli/requirements.txt)


def test_only_the_aws_modules_make_aws_clients():
    makers = modules_where(lambda t: bool(called(t) & {"client", "resource", "Session", "Table"}))
    assert makers == AWS_MODULES


def test_boto3_and_botocore_are_imported_only_by_the_aws_modules_and_storage():
    # storage uses boto3's DynamoDB helpers (conditions, number context); anyone may read an AWS error's class.
    def allowed(name: str, module: str) -> bool:
        return (name in AWS_MODULES or f"{module}.".startswith("botocore.exceptions.")
                or (name.startswith("credit_monitor/storage/") and module.startswith("boto3.dynamodb.")))  # fmt: skip

    users = {(name, module) for name, tree in MODULES.items() for module in imported(tree) if module.split(".")[0] in ("boto3", "botocore")}
    assert {(name, module) for name, module in users if not allowed(name, module)} == set()


DYNAMODB_CALLS = {"get_item", "put_item", "update_item", "delete_item", "query", "scan", "batch_get_item", "batch_write_item",
                  "transact_get_items", "transact_write_items", "batch_writer", "execute_statement"}  # fmt: skip


def test_only_storage_touches_dynamodb():
    users = modules_where(lambda t: bool(called(t) & DYNAMODB_CALLS))
    assert {name for name in users if not name.startswith("credit_monitor/storage/")} == set()


def test_only_notify_publishes_alerts():
    senders = {"publish", "publish_batch", "put_events", "send_message", "send_message_batch"}
    assert modules_where(lambda t: bool(called(t) & senders)) == {"credit_monitor/alerting/notify.py"}


# (literal, whether it is a prefix): each spelling of the table layout, whole or as the start of a key.
LAYOUT = [("BALANCE#", True), ("ALERT#", True), ("ROUND#", True), ("INCIDENT", False), ("ATTENTION#", True), ("GROUPS", False),
          ("GROUP#", True), ("ALERTS", True), ("CONFIG", False), ("HISTORY#", True), ("kind", False)]  # fmt: skip


@pytest.mark.parametrize(("literal", "prefix"), LAYOUT, ids=[literal for literal, _ in LAYOUT])
def test_the_table_layout_is_spelled_only_in_storage(literal, prefix):
    def spells(tree: ast.Module) -> bool:
        return any(s.startswith(literal) if prefix else s == literal for s in strings(tree))

    assert {name for name in modules_where(spells) if not name.startswith("credit_monitor/storage/")} == set()


OS_ENVIRONMENT = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}


def reads_environment(tree: ast.Module) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "os" and node.attr in OS_ENVIRONMENT:
            return True
        if isinstance(node, ast.ImportFrom) and node.module == "os" and {a.name for a in node.names} & OS_ENVIRONMENT:
            return True
    return False


def test_configuration_is_read_from_the_environment_only_through_settings():
    # metrics reads Powertools' own namespace variable when it emits; the CLI reads the variable a user named,
    # and at start sets what Lambda's environment gives the functions (the service name, the region).
    assert modules_where(reads_environment) <= {"credit_monitor/settings.py", "credit_monitor/metrics.py", "credit_monitor_cli/check.py",
                                                "credit_monitor_cli/status.py", "credit_monitor_cli/__init__.py"}  # fmt: skip


def assigned(tree: ast.Module) -> dict[str, ast.expr]:
    """Module-level names and what they are assigned."""
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            found |= {target.id: node.value for target in node.targets if isinstance(target, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            found[node.target.id] = node.value
    return found


@pytest.mark.parametrize("name", ["PROVIDER_ID", "ACCOUNT_NAME", "MAX_CREDITS", "TIME_FORMAT"])
def test_each_shared_rule_exists_once(name):
    [definer] = modules_where(lambda t: name in assigned(t))
    # A copy under another name would repeat the rule's literal: a pattern or a format is spelled in one module.
    value = assigned(MODULES[definer])[name]
    literals = {n.value for n in ast.walk(value) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    assert modules_where(lambda t: bool(literals & set(strings(t)))) <= {definer}
