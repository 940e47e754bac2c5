"""Read template.yaml, expand it as AWS::LanguageExtensions does, and resolve the intrinsics the local stack needs.

The local stack is built from the template itself, so what runs locally cannot drift from what
deploys. Only the intrinsics this template uses are resolved; anything else is a clear error.

``python -m devstack.template expand OUT`` writes the expanded template (every bundled provider
listed) for tools that do not expand Fn::ForEach themselves: checkov skips what is inside a loop.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

from credit_monitor.polling.providers import known_providers
from devstack import TEMPLATE

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"


class _CfnLoader(yaml.SafeLoader):
    pass


def _construct_tag(loader: yaml.Loader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
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
    """template.yaml as written (Fn::ForEach loops not expanded)."""
    with open(path, encoding="utf-8") as handle:
        return yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass


def deployed_template(parameters: dict[str, Any] | None = None, path: Path = TEMPLATE) -> dict[str, Any]:
    """template.yaml as CloudFormation sees it after AWS::LanguageExtensions, for these parameters."""
    template = load_template(path)
    return expand(template, parameter_values(template, parameters))


def every_provider(*extra: str) -> dict[str, str]:
    """Parameters deploying a poller for every known definition: the template's default list, then the rest
    (the bundled openrouter, any folder given to add_definitions), then ``extra``."""
    listed = load_template()["Parameters"]["Providers"]["Default"].split(",")
    ids = listed + [p for p in known_providers() if p not in listed] + [p for p in extra if p not in listed]
    return {"Providers": ",".join(dict.fromkeys(ids))}


def parameter_values(template: dict[str, Any], overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every parameter's value: its default, overridden as `sam deploy --parameter-overrides` would."""
    specs = template.get("Parameters", {})
    unknown = sorted(set(overrides or {}) - set(specs))
    if unknown:
        raise KeyError(f"template.yaml has no parameter {', '.join(unknown)}")
    values = {name: spec.get("Default") for name, spec in specs.items()}
    values.update(overrides or {})
    for name, spec in specs.items():
        if spec.get("Type") == "CommaDelimitedList" and isinstance(values[name], str):
            values[name] = [item.strip() for item in values[name].split(",")]  # Ref of such a parameter is a list
    return values


_FOR_EACH = "Fn::ForEach::"


def expand(template: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any]:
    """Expand Fn::ForEach in Resources, Conditions and Outputs (at any depth, resource properties included)
    as the AWS::LanguageExtensions transform does.

    In each copy of the loop body, ``${Id}`` becomes the value, ``&{Id}`` the value without its
    non-alphanumeric characters (for logical ids) and ``{"Ref": "Id"}`` the value itself, in keys and
    in values alike. The collection is a list or a Ref to a CommaDelimitedList parameter.
    """
    expanded = dict(template)
    for section in ("Conditions", "Resources", "Outputs"):
        if section in template:
            expanded[section] = _expand(template[section], parameters, section)
    return expanded


def _expand(node: Any, parameters: dict[str, Any], where: str) -> Any:
    if isinstance(node, list):
        return [_expand(item, parameters, where) for item in node]
    if not isinstance(node, dict):
        return node
    result: dict[str, Any] = {}

    def add(key: str, value: Any) -> None:
        if key in result:
            raise ValueError(f"template.yaml {where}: Fn::ForEach makes {key!r}, which already exists")
        result[key] = value

    for key, value in node.items():
        if not key.startswith(_FOR_EACH):
            add(key, _expand(value, parameters, f"{where}/{key}"))
            continue
        if not (isinstance(value, list) and len(value) == 3 and isinstance(value[0], str) and isinstance(value[2], dict)):
            raise ValueError(f"template.yaml {where}/{key}: expected [identifier, collection, {{body}}]")
        identifier, collection, body = value
        if isinstance(collection, dict) and set(collection) == {"Ref"}:
            collection = parameters[collection["Ref"]]
        if not isinstance(collection, list):
            raise ValueError(f"template.yaml {where}/{key}: the collection must be a list or a Ref to a CommaDelimitedList")
        for item in collection:
            for expanded_key, expanded_value in _expand(_substitute(body, identifier, str(item)), parameters, where).items():
                add(expanded_key, expanded_value)
    return result


def _substitute(node: Any, identifier: str, value: str) -> Any:
    if isinstance(node, str):
        return node.replace("${" + identifier + "}", value).replace("&{" + identifier + "}", re.sub(r"[^A-Za-z0-9]", "", value))
    if isinstance(node, list):
        return [_substitute(item, identifier, value) for item in node]
    if isinstance(node, dict):
        if node == {"Ref": identifier}:
            return value
        return {_substitute(key, identifier, value): _substitute(item, identifier, value) for key, item in node.items()}
    return node


NO_VALUE = object()  # what {"Ref": "AWS::NoValue"} resolves to: removed from the mapping or list holding it


class Resolver:
    """Resolves the intrinsic functions of an expanded template (see expand) against local values."""

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
        self.parameters = parameter_values(template, parameters)

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
            return [value for item in node if (value := self.resolve(item)) is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, value),) = node.items()
            if key == "Ref":
                return NO_VALUE if value == "AWS::NoValue" else self.ref(value)
            if key in self._FUNCTIONS:
                return self._FUNCTIONS[key](self, value)
            if key.startswith("Fn::"):
                raise NotImplementedError(f"template.yaml uses {key}, which the local stack does not resolve yet")
        # AWS::NoValue removes the property (or list item) it stands for, as CloudFormation does.
        return {key: value for key, item in node.items() if (value := self.resolve(item)) is not NO_VALUE}

    def _get_att(self, value: list[str]) -> str:
        logical, attribute = value
        known = self.attributes.get(logical, {})
        if attribute in known:
            return known[attribute]
        return f"arn:aws:local:{REGION}:{ACCOUNT_ID}:{self.ref(logical)}/{attribute}"

    def _if(self, value: list[Any]) -> Any:
        condition, when_true, when_false = value
        return self.resolve(when_true if self.condition(condition) else when_false)

    def _equals(self, value: list[Any]) -> bool:
        left, right = self.resolve(value)
        return str(left) == str(right)

    def _select(self, value: list[Any]) -> Any:
        index, items = self.resolve(value)
        return items[int(index)]

    def _split(self, value: list[Any]) -> list[str]:
        separator, text = self.resolve(value)
        return text.split(separator)

    def _join(self, value: list[Any]) -> str:
        separator, items = self.resolve(value)
        return separator.join(str(item) for item in items)

    def _find_in_map(self, value: list[Any]) -> Any:
        name, first, second = self.resolve(value[:3])
        return self.template["Mappings"][name][str(first)][str(second)]

    _FUNCTIONS: dict[str, Any] = {  # noqa: RUF012 - a fixed table of unbound methods
        "Fn::Sub": lambda self, value: self._sub(value),
        "Fn::GetAtt": _get_att,
        "Fn::If": _if,
        "Fn::Equals": _equals,
        "Fn::Not": lambda self, value: not self.resolve(value[0]),
        "Fn::Or": lambda self, value: any(self.resolve(item) for item in value),
        "Fn::And": lambda self, value: all(self.resolve(item) for item in value),
        "Condition": lambda self, value: self.condition(value),
        "Fn::Select": _select,
        "Fn::Split": _split,
        "Fn::Join": _join,
        "Fn::FindInMap": _find_in_map,
    }

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


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "expand":
        print("usage: python -m devstack.template expand OUT.json", file=sys.stderr)
        return 2
    template = deployed_template(every_provider())
    template["Transform"] = [t for t in template["Transform"] if t != "AWS::LanguageExtensions"]
    out = Path(argv[1])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(template, indent=1), encoding="utf-8")
    print(f"wrote {out}: template.yaml expanded for Providers={every_provider()['Providers']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
