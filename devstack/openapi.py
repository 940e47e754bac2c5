"""Write (or with --check, verify) openapi.json from the API's own route declarations and answer models.

The API validates parameters at run time from the same ``Param`` declarations (credit_monitor.api.params)
and answers with the same dataclasses (credit_monitor.api.models) that this turns into JSON Schema, so
the document cannot drift from what is served; schemathesis checks the live answers against it.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import types
import typing
from typing import Any

from credit_monitor import __version__
from credit_monitor.api.app import ERRORS, ROUTES
from credit_monitor.api.models import ErrorBody
from devstack import ROOT

OPENAPI_FILE = ROOT / "openapi.json"
GATEWAY_ERRORS = {
    403: "Missing or invalid credentials: a SigV4 signature (ApiAuth=IAM) or an x-api-key header (ApiAuth=API_KEY)",
    429: "Too many requests: the stage's throttling (ApiThrottleRate, ApiThrottleBurst)",
}


def schema_of(annotation: Any, components: dict[str, Any]) -> dict[str, Any]:
    """JSON Schema (OpenAPI 3.1) of a type used in the answer models."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        options = [schema_of(arg, components) for arg in args if arg is not type(None)]
        numbers = [o for o in options if o.get("type") in ("integer", "number")]
        if len(numbers) == 2:  # int | float is a JSON number
            options = [o for o in options if o not in numbers] + [{"type": "number"}]
        if type(None) in args:
            options.append({"type": "null"})
        return options[0] if len(options) == 1 else {"anyOf": options}
    if origin is typing.Literal:
        return {"type": "string", "enum": list(args)}
    if origin is list:
        return {"type": "array", "items": schema_of(args[0], components)}
    if origin is dict or annotation is dict:
        return {"type": "object", "additionalProperties": True}
    if dataclasses.is_dataclass(annotation):
        name = annotation.__name__
        if name not in components:
            components[name] = {}  # placeholder first: a model may refer to itself
            hints = typing.get_type_hints(annotation)
            properties = {}
            for field in dataclasses.fields(annotation):
                properties[field.name] = schema_of(hints[field.name], components)
                if "description" in field.metadata:
                    properties[field.name]["description"] = field.metadata["description"]
            components[name] = {"type": "object", "title": name, "properties": properties, "required": list(properties)}
        return {"$ref": f"#/components/schemas/{name}"}
    simple = {str: "string", int: "integer", float: "number", bool: "boolean"}
    if annotation in simple:
        return {"type": simple[annotation]}
    if annotation is typing.Any:
        return {}
    raise TypeError(f"no JSON Schema for {annotation!r}: extend devstack/openapi.py")


def document() -> dict[str, Any]:
    components: dict[str, Any] = {}
    error = schema_of(ErrorBody, components)
    paths = {}
    for route in ROUTES:
        responses = {"200": {"description": "OK", "content": {"application/json": {"schema": schema_of(route.answer, components)}}}}
        for status, description in {**ERRORS, **GATEWAY_ERRORS}.items():
            responses[str(status)] = {"description": description, "content": {"application/json": {"schema": error}}}
        parameters = [
            {"name": p.name, "in": p.location, "required": p.required, "description": p.description, "schema": p.schema()}
            for p in route.params
        ]
        paths[route.path] = {"get": {"summary": route.summary, "operationId": route.operation, "parameters": parameters,
                                     "responses": responses}}  # fmt: skip
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Credit balance monitor API",
            "version": __version__,
            "description": (
                "Credit balances of the monitored AI-generation API accounts. Every route requires AWS SigV4 "
                "(IAM) or, when the stack is deployed with API keys, an x-api-key header."
            ),
        },
        "paths": paths,
        "components": {"schemas": dict(sorted(components.items()))},
    }


def current() -> str:
    return json.dumps(document(), indent=1) + "\n"


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
