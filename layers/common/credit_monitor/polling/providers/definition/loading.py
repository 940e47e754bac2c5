"""Definition files into providers: reading a file or a folder, validating, and building the Provider."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

from credit_monitor.errors import DefinitionError
from credit_monitor.polling.providers.base import Provider
from credit_monitor.polling.providers.definition.answers import explain, raise_reported_failure, read_balance
from credit_monitor.polling.providers.definition.compiled import Problems
from credit_monitor.polling.providers.definition.examples import read_examples, verify_examples
from credit_monitor.polling.providers.definition.request import build_request
from credit_monitor.polling.providers.definition.validation import validate


def load_definition(path: Path, *, bundled: bool = False, source: str | None = None) -> Provider:
    """The provider a definition file describes. Problems name the file as ``source`` (default: the path as given)."""
    source = str(path) if source is None else source
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DefinitionError([f"{source}: (file): not readable JSON ({exc})"]) from None
    return build_provider(document, source, bundled=bundled, file_name=path.name)


def load_files(paths: list[Path], bundle: Path | None = None, *, relative_to: Path | None = None) -> tuple[dict[str, Provider], list[str]]:
    """The valid definitions among ``paths`` by id, and every problem of every file (files in ``bundle`` are bundled).

    Each file is named as given, or relative to ``relative_to`` (a folder's own listing)."""
    providers: dict[str, Provider] = {}
    problems: list[str] = []
    for path in paths:
        bundled = bundle is not None and path.resolve().parent == bundle.resolve()
        source = str(path.relative_to(relative_to)) if relative_to is not None else str(path)
        try:
            provider = load_definition(path, bundled=bundled, source=source)
        except DefinitionError as exc:
            problems += exc.problems
            continue
        if provider.id in providers:
            problems.append(f"{source}: id: {provider.id!r} is already defined by {providers[provider.id].source}")
            continue
        providers[provider.id] = provider
    return providers, problems


def definition_files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.glob("*.json") if path.name != "schema.json")


def load_folder(folder: Path, *, bundled: bool = False) -> dict[str, Provider]:
    """Every definition in ``folder`` by id; all problems of all files are reported together."""
    providers, problems = load_files(definition_files(folder), folder if bundled else None, relative_to=folder)
    if problems:
        raise DefinitionError(problems)
    return providers


def build_provider(document: Any, source: str, *, bundled: bool = False, file_name: str | None = None) -> Provider:
    """Validate a definition and turn it into a Provider, or raise DefinitionError listing every problem.

    ``file_name``: the file it was read from, which must be named after its id (a bundled definition's
    source is its file name)."""
    problems = Problems(source)
    if not isinstance(document, dict):
        problems.add("(definition)", "must be a JSON object")
        raise DefinitionError(problems.items)
    definition = validate(document, file_name or (Path(source).name if bundled else None), bundled, problems)
    examples = read_examples(document.get("examples"), problems)
    if definition.success is None or definition.fields.available is None or not examples:
        raise DefinitionError(problems.items)  # nothing to evaluate the examples with: report what is known
    provider = Provider(
        id=definition.id, name=str(document.get("name") or definition.id), source=source, default_base_url=definition.base_url,
        path=definition.path, variables=tuple(sorted(definition.variables)), build_request=partial(build_request, definition),
        check=partial(raise_reported_failure, definition), extract=partial(read_balance, definition.fields, definition.negative),
        examples=examples, explain=partial(explain, definition), document=document,
    )  # fmt: skip
    verify_examples(provider, definition.fields, problems)
    if problems.items:
        raise DefinitionError(problems.items)
    return provider
