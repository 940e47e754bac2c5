"""A deployed stack's outputs: where the CLI finds the API, the table, the queues and the functions."""

from __future__ import annotations

from credit_monitor import aws


class StackNotFound(LookupError):
    """The stack does not exist (or these credentials cannot see it)."""


def stack_outputs(stack_name: str) -> dict[str, str]:
    from botocore.exceptions import ClientError  # noqa: PLC0415

    try:
        [stack] = aws.cloudformation().describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        raise StackNotFound(f"stack {stack_name!r} not found: {exc.response.get('Error', {}).get('Message', exc)}") from None
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def required_output(outputs: dict[str, str], key: str, stack_name: str) -> str:
    if key not in outputs:
        raise StackNotFound(f"stack {stack_name!r} has no output {key}: is it a credit monitor stack?")
    return outputs[key]
