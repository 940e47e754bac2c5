"""Read template.yaml and resolve the intrinsic functions the local stack needs.

The local stack is built from the template itself, so what runs locally cannot drift from what
deploys. Only the intrinsics this template uses are resolved; anything else is a clear error.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from devstack import TEMPLATE

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"


class _CfnLoader(yaml.SafeLoader):
    pass


def _construct_tag(loader: yaml.Loader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if name == "Fn::GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        return yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass


class Resolver:
    """Resolves Ref, Fn::Sub, Fn::GetAtt, Fn::If and Fn::Equals against local values."""

    def __init__(
        self,
        template: dict[str, Any],
        stack_name: str,
        physical_ids: dict[str, str],
        parameters: dict[str, Any] | None = None,
        attributes: dict[str, dict[str, str]] | None = None,
    ):
        self.template = template
        self.stack_name = stack_name
        self.physical_ids = physical_ids
        self.attributes = attributes if attributes is not None else {}
        self.parameters = {name: spec.get("Default") for name, spec in template.get("Parameters", {}).items()}
        self.parameters.update(parameters or {})
        for name, spec in template.get("Parameters", {}).items():
            if spec.get("Type") == "CommaDelimitedList" and isinstance(self.parameters[name], str):
                self.parameters[name] = self.parameters[name].split(",")  # Ref of such a parameter is a list

    def ref(self, name: str) -> Any:
        pseudo = {"AWS::StackName": self.stack_name, "AWS::Region": REGION, "AWS::AccountId": ACCOUNT_ID, "AWS::Partition": "aws",
                  "AWS::URLSuffix": "amazonaws.com"}  # fmt: skip
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.physical_ids:
            return self.physical_ids[name]
        raise KeyError(f"template.yaml: Ref to {name!r}, which is neither a parameter nor a resource the local stack created")

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.resolve(item) for item in node]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, value),) = node.items()
            if key == "Ref":
                return self.ref(value)
            if key == "Fn::Sub":
                return self._sub(value)
            if key == "Fn::GetAtt":
                logical, attribute = value
                known = self.attributes.get(logical, {})
                if attribute in known:
                    return known[attribute]
                return f"arn:aws:local:{REGION}:{ACCOUNT_ID}:{self.ref(logical)}/{attribute}"
            if key == "Fn::If":
                condition, when_true, when_false = value
                return self.resolve(when_true if self.condition(condition) else when_false)
            if key == "Fn::Equals":
                left, right = self.resolve(value)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self.resolve(value[0])
            if key.startswith("Fn::"):
                raise NotImplementedError(f"template.yaml uses {key}, which the local stack does not resolve yet")
        return {key: self.resolve(value) for key, value in node.items()}

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.template["Conditions"][name]))

    def deployed(self, resource: dict[str, Any]) -> bool:
        """Whether a resource exists with these parameters (its Condition, if any, holds)."""
        return "Condition" not in resource or self.condition(resource["Condition"])

    def _sub(self, value: Any) -> str:
        text, variables = (value, {}) if isinstance(value, str) else (value[0], self.resolve(value[1]))

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):  # ${Resource.Attribute} is a GetAtt
                return str(self.resolve({"Fn::GetAtt": name.split(".", 1)}))
            return str(self.ref(name))

        return re.sub(r"\$\{([^}!]+)\}", replace, text)


def resources_of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in template["Resources"].items() if res["Type"] == resource_type}


def function_environment(template: dict[str, Any], logical_id: str, resolver: Resolver) -> dict[str, str]:
    """A function's environment as deployed: Globals' variables overlaid with the function's own."""
    global_vars = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    own_vars = template["Resources"][logical_id]["Properties"].get("Environment", {}).get("Variables", {})
    return {name: str(resolver.resolve(value)) for name, value in {**global_vars, **own_vars}.items()}


def function_setting(template: dict[str, Any], logical_id: str, setting: str) -> Any:
    own = template["Resources"][logical_id]["Properties"]
    return own[setting] if setting in own else template.get("Globals", {}).get("Function", {}).get(setting)
