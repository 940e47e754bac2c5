"""A deployed stack's outputs: where the CLI finds the API, the table, the queues and the functions."""

from __future__ import annotations

from credit_monitor_cli import aws
from credit_monitor_cli.errors import CommandError


class StackNotFound(CommandError, LookupError):
    """The stack does not exist in this region (or these credentials cannot see it), or is not a credit monitor."""


def stack_outputs(stack_name: str) -> dict[str, str]:
    from botocore.exceptions import ClientError  # noqa: PLC0415

    cloudformation = aws.cloudformation()
    try:
        [stack] = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        # CloudFormation answers a missing stack with a ValidationError "Stack with id ... does not exist";
        # any other refusal (access denied, expired credentials) is what it says, for errors.py to explain.
        error = exc.response.get("Error", {})
        if error.get("Code") != "ValidationError" or "does not exist" not in error.get("Message", ""):
            raise
        region = cloudformation.meta.region_name
        raise StackNotFound(
            f"stack {stack_name!r} not found in {region}: check --stack-name and the region (aws cloudformation list-stacks "
            f"--region {region} lists the stacks there)"
        ) from None
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def required_output(outputs: dict[str, str], key: str, stack_name: str) -> str:
    if key not in outputs:
        raise StackNotFound(f"stack {stack_name!r} has no output {key}: is it a credit monitor stack?")
    return outputs[key]
