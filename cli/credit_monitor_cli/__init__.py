"""The credit-monitor command: try a key, check definitions, read a deployed stack, replay dead letters.

    credit-monitor check crun --key-env CRUN_KEY
    credit-monitor validate-providers [FILE ...]
    credit-monitor status --stack-name credit-monitor
    credit-monitor test-alert --stack-name credit-monitor [--channel slack-webhook ...]
    credit-monitor replay --stack-name credit-monitor

(`python -m credit_monitor_cli` is the same command.) Output meant for people goes to stdout; the
functions' JSON log lines stay out of the terminal unless --verbose sends them to stderr. A command that
cannot do what was asked says why in one `error:` line on stderr (errors.py).

This package is not in the Lambda layer: it runs on a workstation, uses the layer's package (credit_monitor)
for what the functions do, and adds what only a terminal needs (requests, a stack's outputs, signed calls).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Iterator

from credit_monitor import __version__
from credit_monitor_cli.errors import reported

PROGRAM = "credit-monitor"
EXAMPLES = """examples:
  credit-monitor check crun --key-env CRUN_KEY          try a key (the key is read from $CRUN_KEY, never printed)
  credit-monitor validate-providers acme.json           check a definition file against its documented examples
  credit-monitor status --stack-name credit-monitor     every account's balance on a deployed stack
  credit-monitor status --api-url http://127.0.0.1:8080 --api-key-env KEY    the same, from make serve
  credit-monitor spend --stack-name credit-monitor --group-by label:team     what each team spent this week"""


def build_parser() -> argparse.ArgumentParser:
    # --verbose is accepted before and after the subcommand; SUPPRESS keeps a subcommand that was not
    # given it from resetting what was given before it.
    verbose = argparse.ArgumentParser(add_help=False)
    verbose.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS, help="show the package's JSON log lines on stderr")
    parser = argparse.ArgumentParser(
        prog=PROGRAM,
        description="Try a provider key, check provider definitions, read a deployed stack's balances, send a test alert, "
        "re-drive dead letters.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--verbose", action="store_true", help="show the package's JSON log lines on stderr")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=help, description=help[0].upper() + help[1:] + ".", parents=[verbose])

    check = command("check", "poll one account of a provider and print its normalized balance")
    check.add_argument("provider", nargs="?", help="provider id (crun, sunor, ...); omit it with --definition")
    check.add_argument("--definition", metavar="FILE", help="a provider definition file to try instead of a known provider")
    check.add_argument("--key-env", required=True, metavar="VAR", help="environment variable holding the API key")
    check.add_argument("--base-url", help="provider base URL (default: the production host; make serve prints its simulators')")
    check.add_argument("--account", default="default", help="account name shown in the output (default: default)")
    check.add_argument(
        "--var",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a per-account value the provider's requests need, such as project_id=... (repeatable)",
    )
    check.add_argument("--explain", action="store_true", help="also print what each expression of the definition finds in the answer")

    validate = command("validate-providers", "validate provider definition files (default: the bundled ones)")
    validate.add_argument("files", nargs="*", help="definition files; without any, every file in the bundle")

    status = command("status", "print a deployed stack's balances as a table")
    status.add_argument("--stack-name", help="the deployed stack (its outputs name the API and the table)")
    status.add_argument("--api-url", help="read this balance API instead (e.g. make serve's http://127.0.0.1:8080)")
    status.add_argument("--api-key-env", metavar="VAR", help="environment variable holding the API key (ApiAuth=API_KEY); default: SigV4")
    status.add_argument("--from-table", action="store_true", help="read the DynamoDB table directly instead of the API")

    spend = command("spend", "print what was spent over a range, per provider, account, unit or label, from the balance API")
    spend.add_argument("--stack-name", help="the deployed stack (its outputs name the API)")
    spend.add_argument("--api-url", help="read this balance API instead (e.g. make serve's http://127.0.0.1:8080)")
    spend.add_argument("--api-key-env", metavar="VAR", help="environment variable holding the API key (ApiAuth=API_KEY); default: SigV4")
    spend.add_argument("--since", help="ISO-8601 start of the range (default: a week before --until)")
    spend.add_argument("--until", help="ISO-8601 end of the range (default: now)")
    spend.add_argument("--provider", help="only this provider's accounts")
    spend.add_argument("--account", help="only this account (with --provider)")
    spend.add_argument("--label", metavar="NAME=VALUE", help="only accounts carrying this label, such as team=video")
    spend.add_argument("--group-by", default="provider", help="provider (default), account, unit, or label:<name>, such as label:team")

    test_alert = command("test-alert", "send one marked test alert through every configured channel and report each")
    test_alert.add_argument("--stack-name", required=True, help="the deployed stack (its outputs name the topic, bus and channel rules)")
    test_alert.add_argument(
        "--channel",
        action="append",
        default=[],
        metavar="NAME",
        help="only this channel (repeatable): sns, events, chat, slack-webhook, discord-webhook, generic-webhook, pagerduty",
    )
    test_alert.add_argument(
        "--wait",
        type=float,
        default=180,
        metavar="SECONDS",
        help="how long to wait for the channels' delivery metrics (default 180; 0: do not wait)",
    )

    replay = command("replay", "re-drive a deployed stack's dead-letter queues (needs AWS credentials)")
    replay.add_argument("--stack-name", required=True, help="the deployed stack (its outputs name the queues)")
    return parser


def prepare_environment() -> None:
    """What the functions get from Lambda's environment and a terminal may lack."""
    # Powertools names each module's logger after this when the module is imported; without it a
    # failed check's log lines say service_undefined.
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", PROGRAM)
    # The AWS CLI and the other SDKs honour AWS_REGION; the Python SDK reads only AWS_DEFAULT_REGION.
    if os.environ.get("AWS_REGION") and not os.environ.get("AWS_DEFAULT_REGION"):
        os.environ["AWS_DEFAULT_REGION"] = os.environ["AWS_REGION"]


@contextlib.contextmanager
def quiet_logs(verbose: bool) -> Iterator[None]:
    """The functions log JSON for CloudWatch; in a terminal that is noise unless asked for.

    Logging is process-wide: what the command changes (levels, the handler's stream, urllib3's handlers)
    is put back when it returns, so that a program calling ``main()`` keeps its own logging as it was.
    """
    from aws_lambda_powertools import Logger  # noqa: PLC0415
    from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers  # noqa: PLC0415

    from credit_monitor.polling.redaction import redact_log_output  # noqa: PLC0415

    logger = Logger()
    handler = logger.registered_handler
    urllib3_logger = logging.getLogger("urllib3")
    saved = (logger.log_level, urllib3_logger.level, list(urllib3_logger.handlers), urllib3_logger.propagate)
    stream = handler.stream if isinstance(handler, logging.StreamHandler) else None
    try:
        if verbose:
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(sys.stderr)
            copy_config_to_registered_loggers(source_logger=logger, include={"urllib3"})
            redact_log_output(handler)
        else:
            logger.setLevel(logging.CRITICAL)
            urllib3_logger.setLevel(logging.CRITICAL)
        yield
    finally:
        logging.getLogger(logger.name).setLevel(saved[0])  # the level as it was, NOTSET included
        urllib3_logger.setLevel(saved[1])
        urllib3_logger.handlers[:] = saved[2]
        urllib3_logger.propagate = saved[3]
        if stream is not None and isinstance(handler, logging.StreamHandler):
            handler.setStream(stream)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    prepare_environment()
    with quiet_logs(getattr(args, "verbose", False)):
        return reported(lambda: run(args))


def run(args: argparse.Namespace) -> int:
    if args.command == "check":
        from credit_monitor_cli.check import run_check  # noqa: PLC0415

        return run_check(args.provider, args.definition, args.key_env, args.base_url, args.account, args.var, args.explain)
    if args.command == "validate-providers":
        return validate_providers(args.files)
    if args.command == "status":
        return run_status(args)
    if args.command == "test-alert":
        return run_test_alert(args)
    if args.command == "spend":
        from credit_monitor_cli.spend import read_spend  # noqa: PLC0415

        query = {name: value for name in ("since", "until", "provider", "account", "label") if (value := getattr(args, name))}
        print("\n".join(read_spend(args.stack_name, args.api_url, args.api_key_env, {**query, "group_by": args.group_by, "limit": "100"})))
        return 0
    return run_replay(args.stack_name)


def run_test_alert(args: argparse.Namespace) -> int:
    from credit_monitor_cli.send_test import run_test_alert  # noqa: PLC0415

    status, lines = run_test_alert(args.stack_name, args.channel, args.wait)
    print("\n".join(lines))
    return status


def run_status(args: argparse.Namespace) -> int:
    from credit_monitor_cli.status import balance_table, read_balances  # noqa: PLC0415

    balances = read_balances(args.stack_name, args.api_url, args.api_key_env, args.from_table)
    print("\n".join(balance_table(balances)) if balances else "no accounts yet: fill the providers' secrets")
    return 0


def run_replay(stack_name: str) -> int:
    from credit_monitor_cli import aws  # noqa: PLC0415
    from credit_monitor_cli.replay import lambda_invoker, replay  # noqa: PLC0415
    from credit_monitor_cli.stack import required_output, stack_outputs  # noqa: PLC0415

    outputs = stack_outputs(stack_name)
    queues = {key: required_output(outputs, key, stack_name) for key in ("AsyncDeadLetterQueueUrl", "AggregatorDeadLetterQueueUrl")}
    aggregator = required_output(outputs, "AggregatorName", stack_name)
    summary = replay(
        sqs=aws.sqs(),
        invoke=lambda_invoker(aws.lambda_service()),
        async_queue_url=queues["AsyncDeadLetterQueueUrl"],
        stream_queue_url=queues["AggregatorDeadLetterQueueUrl"],
        aggregator=aggregator,
    )
    print(summary)
    return 1 if summary.failures else 0


def validate_providers(files: list[str]) -> int:
    """Validate definition files; print what is wrong with each, naming the file (as given) and the field."""
    from pathlib import Path  # noqa: PLC0415

    from credit_monitor.polling.providers import DEFINITIONS  # noqa: PLC0415
    from credit_monitor.polling.providers.definition import BUILT_IN, definition_files, load_files  # noqa: PLC0415

    paths = [Path(f) for f in files] if files else definition_files(DEFINITIONS)
    relative_to = None if files else DEFINITIONS.parent  # the bundle's files read as definitions/<id>.json
    providers, problems = load_files(paths, bundle=DEFINITIONS, relative_to=relative_to)
    for p in providers.values():
        print(f"ok: {p.source} defines provider {p.id!r} ({p.name}); its {len(p.examples)} documented example(s) read as expected")
    if not files:
        problems += [f"definitions/: the built-in provider {b!r} has no definition file" for b in BUILT_IN if b not in providers]
    for problem in problems:
        print(f"invalid: {problem}", file=sys.stderr)
    if problems:
        sources = {str(path.relative_to(relative_to)) if relative_to else str(path) for path in paths} | {"definitions/"}
        files_with_problems = sum(1 for source in sources if any(problem.startswith(f"{source}: ") for problem in problems))
        print(f"{len(problems)} problem(s) in {files_with_problems} of {len(paths)} file(s)", file=sys.stderr)
    return 1 if problems else 0
