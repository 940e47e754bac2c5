"""Command line: try a real key against a provider before deploying.

    python -m credit_monitor check crun --key-env CRUN_KEY

The key is read from an environment variable (never from the command line, where shells keep history
and other users can read process lists) and is never printed.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from credit_monitor import poll
from credit_monitor.model import ConfigurationError
from credit_monitor.providers import DefinitionError, get_provider, known_providers
from credit_monitor.providers.declarative import DEFINITIONS, load_bundled, load_definition
from credit_monitor.store import reading_fields
from credit_monitor.transport import Deadline
from credit_monitor.urls import validate_base_url

CHECK_SECONDS = 30.0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m credit_monitor", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="poll one account of a provider and print its normalized balance")
    check.add_argument("provider", nargs="?", help=f"provider id: {', '.join(sorted(known_providers()))}")
    check.add_argument("--definition", metavar="FILE", help="a provider definition file to try instead of a known provider")
    check.add_argument("--key-env", required=True, metavar="VAR", help="environment variable holding the API key")
    check.add_argument("--base-url", help="provider base URL (default: the production host)")
    check.add_argument("--account", default="default", help="account name shown in the output (default: default)")
    validate = commands.add_parser("validate-providers", help="validate provider definition files (default: the bundled ones)")
    validate.add_argument("files", nargs="*", help="definition files; without any, every file in the bundle")
    replay = commands.add_parser("replay", help="re-drive a deployed stack's dead-letter queues (needs AWS credentials)")
    replay.add_argument("--stack-name", required=True, help="the deployed stack (its outputs name the queues)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "replay":
        return run_replay(args.stack_name)
    if args.command == "validate-providers":
        return validate_providers(args.files)
    handler = poll.logger.registered_handler
    if isinstance(handler, logging.StreamHandler):
        handler.setStream(sys.stderr)  # stdout carries only the JSON result, so it can be piped
    try:
        provider = load_definition(Path(args.definition)) if args.definition else get_provider(args.provider or "")
    except (DefinitionError, LookupError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    key = os.environ.get(args.key_env, "").strip()
    if not key:
        print(f"error: environment variable {args.key_env} is empty or not set; export the API key there", file=sys.stderr)
        return 2
    try:
        base_url = validate_base_url(args.base_url or provider.default_base_url, variable="--base-url")
    except ConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    [result] = poll.poll_accounts(provider, base_url, {args.account: key}, Deadline(CHECK_SECONDS))
    output = {"provider": provider.id, "account": result.account}
    if result.reading is not None:
        print(json.dumps({**output, **reading_fields(result.reading, result.polled_at), "status": "ok"}, indent=2))
        return 0
    print(json.dumps({**output, "status": "error", "error_kind": result.failure.kind.value, "error": result.failure.message}, indent=2))
    print(f"poll failed: {result.failure.kind.summary}", file=sys.stderr)
    return 1


def run_replay(stack_name: str) -> int:
    import boto3  # noqa: PLC0415 - only this command talks to a deployed stack

    from credit_monitor.replay import lambda_invoker, replay, stack_outputs  # noqa: PLC0415

    outputs = stack_outputs(boto3.client("cloudformation"), stack_name)
    summary = replay(
        sqs=boto3.client("sqs"),
        invoke=lambda_invoker(boto3.client("lambda")),
        async_queue_url=outputs["AsyncDeadLetterQueueUrl"],
        stream_queue_url=outputs["AggregatorDeadLetterQueueUrl"],
        aggregator=outputs["AggregatorName"],
    )
    print(summary)
    return 1 if summary.failures else 0


def validate_providers(files: list[str]) -> int:
    """Validate definition files; print what is wrong with each, naming the file and the field."""
    try:
        if files:
            providers = {path: load_definition(Path(path)).id for path in files}
        else:
            providers = {f"{DEFINITIONS.name}/{p}.json": p for p in load_bundled()}
    except DefinitionError as exc:
        print(f"invalid: {exc}", file=sys.stderr)
        return 1
    for source, provider_id in providers.items():
        print(f"ok: {source} defines provider {provider_id!r}")
    return 0
