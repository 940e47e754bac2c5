"""Step Functions state machines as template.yaml declares them, performed locally: moto stores, this module runs.

moto creates state machines and records StartExecution, but it does not run them (its own interpreter
would call Lambda through Docker). So :class:`StateMachineRunner` finds the executions started on moto
and performs each from the template's definition (DefinitionSubstitutions applied) with an interpreter
of the Amazon States Language (JSONPath), calling the functions in-process through the ``invoke`` it is
given and SQS on moto. What it performs, with AWS's documented semantics:

- states: Pass, Task, Map (inline), Wait, Choice, Succeed, Fail;
  https://docs.aws.amazon.com/step-functions/latest/dg/concepts-amazon-states-language.html
- InputPath, Parameters / ItemSelector / ResultSelector (``.$`` keys: a JSONPath of the input, or ``$$.``
  of the context object), ResultPath (null and nested paths), OutputPath;
  https://docs.aws.amazon.com/step-functions/latest/dg/concepts-input-output-filtering.html
- Retry and Catch; ``States.ALL`` matches neither States.DataLimitExceeded nor States.Runtime, and a
  States.Runtime error is never retried or caught;
  https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html
- the optimized integrations ``lambda:invoke`` and ``sqs:sendMessage``;
  https://docs.aws.amazon.com/step-functions/latest/dg/connect-lambda.html

It is never kinder than AWS (https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html):

- StartExecution refuses an input over 256 KiB (moto accepts any), and each state's input after
  Parameters, each task's result and each state's output over 256 KiB fails with States.DataLimitExceeded;
- an inline Map runs at most 40 iterations at once, whatever its MaxConcurrency
  (https://docs.aws.amazon.com/step-functions/latest/dg/state-map-inline.html);
- a definition AWS would refuse at CreateStateMachine (a transition to a missing state, an unreachable
  state, States.ALL not alone or not last) is refused when the local stack creates it.

Time is compressed, never extended: Wait states and retry intervals are recorded, not slept. An Express
execution's 5-minute maximum is not emulated in wall time (a local run takes what the functions take);
only the time it would certainly have spent waiting counts: an Express execution whose Wait states and
retry intervals alone pass 5 minutes times out here as it would on AWS. A task's TimeoutSeconds is
checked after the task returns (its result is then discarded), not by stopping it. Anything outside this
subset (other states and integrations, intrinsic functions, JSONata, variables) is a NotImplementedError
naming it, raised when the runner is built.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import re
import threading
import traceback
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import ClientError

from devstack.template import ACCOUNT_ID, REGION, resources_of_type

if TYPE_CHECKING:
    from devstack.moto_stack import LocalStack

LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
SQS_SEND_MESSAGE = "arn:aws:states:::sqs:sendMessage"
STATE_MACHINE_TYPES = ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine")
FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")

PAYLOAD_LIMIT_BYTES = 256 * 1024  # an execution's input, a state's input or output, a task's result
EXPRESS_LIMIT_SECONDS = 5 * 60
INLINE_MAP_CONCURRENCY = 40
CAUSE_LIMIT_CHARACTERS = 32768  # TaskFailedEventDetails.cause, ExecutionFailedEventDetails.cause

Invoke = Callable[[str, Any], Any]  # (function logical id, payload) -> what the handler returned; raises its exception
Task = Callable[[Any], Any]  # a Task state's resource: its parameters -> its result; raises StatesError


# -- the definition, from the template ---------------------------------------------------------------


class InvalidDefinition(ValueError):
    """What CreateStateMachine answers InvalidDefinition to."""


def state_machine_name(stack_name: str, logical_id: str, props: dict[str, Any], resolve: Callable[[Any], Any]) -> str:
    name = props.get("Name", props.get("StateMachineName"))
    return str(resolve(name)) if name is not None else f"{stack_name}-{logical_id}"


def state_machine_type(props: dict[str, Any]) -> str:
    return str(props.get("Type", props.get("StateMachineType", "STANDARD")))


def definition_of(props: dict[str, Any], resolve: Callable[[Any], Any]) -> dict[str, Any]:
    """The definition as deployed: ``Definition`` (or ``DefinitionString``) with DefinitionSubstitutions applied.

    CloudFormation substitutes ``${name}`` in the definition's text, so a value is inserted as it is: one that
    is not valid inside a JSON string makes the definition invalid, as it would on AWS.
    """
    if "DefinitionUri" in props or "DefinitionS3Location" in props:
        raise NotImplementedError("the local stack reads inline definitions only (Definition or DefinitionString)")
    if "Definition" in props:
        _refuse_intrinsics(props["Definition"])
        text = json.dumps(props["Definition"])
    else:
        text = str(resolve(props["DefinitionString"]))
    for name, value in resolve(props.get("DefinitionSubstitutions", {})).items():
        text = text.replace("${" + name + "}", str(value))
    try:
        definition = json.loads(text)
    except ValueError as exc:
        raise InvalidDefinition(f"the definition is not JSON once substituted: {exc}") from exc
    problems = definition_problems(definition)
    if problems:
        raise InvalidDefinition("; ".join(problems))
    return definition


def _refuse_intrinsics(node: Any) -> None:
    if isinstance(node, dict):
        if (len(node) == 1 and next(iter(node)) in ("Ref", "Condition")) or any(k.startswith("Fn::") for k in node):
            raise NotImplementedError(f"an intrinsic function inside a Definition ({node!r}): use DefinitionSubstitutions")
        for value in node.values():
            _refuse_intrinsics(value)
    elif isinstance(node, list):
        for value in node:
            _refuse_intrinsics(value)


_ENDLESS = {"Choice", "Succeed", "Fail"}  # states that neither take Next nor End


def definition_problems(machine: dict[str, Any], where: str = "") -> list[str]:
    """What AWS's validation refuses in a definition (transitions, reachability, States.ALL's place)."""
    states = machine.get("States")
    if not isinstance(states, dict) or not states:
        return [f"{where}States must be a non-empty object"]
    problems = []
    if machine.get("StartAt") not in states:
        problems.append(f"{where}StartAt names no state: {machine.get('StartAt')!r}")
    edges: dict[str, set[str]] = {}
    for name, state in states.items():
        at = f"{where}{name}: "
        targets = _transitions(state, at, problems)
        missing = sorted(str(t) for t in targets if t not in states)
        if missing:
            problems.append(f"{at}transitions to missing state(s) {', '.join(missing)}")
        edges[name] = {t for t in targets if t in states}
        processor = state.get("ItemProcessor", state.get("Iterator"))
        if state.get("Type") == "Map" and isinstance(processor, dict):
            problems.extend(definition_problems(processor, at))
    reached, frontier = set(), [machine.get("StartAt")]
    while frontier:
        name = frontier.pop()
        if name in states and name not in reached:
            reached.add(name)
            frontier.extend(edges[name])
    problems.extend(f"{where}{name}: unreachable from StartAt" for name in states if name not in reached)
    return problems


def _transitions(state: dict[str, Any], at: str, problems: list[str]) -> set[str]:
    """The states ``state`` may go to; what is wrong with how it says so is added to ``problems``."""
    kind = state.get("Type")
    targets = {state["Next"]} if "Next" in state else set()
    if kind not in _ENDLESS and ("Next" in state) == bool(state.get("End")):
        problems.append(f"{at}a {kind} state needs exactly one of Next and End")
    if kind == "Choice":
        if not state.get("Choices"):
            problems.append(f"{at}a Choice state needs Choices")
        targets.update(rule.get("Next") for rule in state.get("Choices") or [])
        targets.update([state["Default"]] if "Default" in state else [])
    for list_name in ("Retry", "Catch"):
        rules = state.get(list_name, [])
        for index, rule in enumerate(rules):
            names = rule.get("ErrorEquals") or []
            if not names:
                problems.append(f"{at}{list_name}[{index}] needs ErrorEquals")
            if "States.ALL" in names and (len(names) > 1 or index != len(rules) - 1):
                problems.append(f"{at}States.ALL must appear alone, in the last {list_name} entry")
    targets.update(catcher.get("Next") for catcher in state.get("Catch", []))
    return targets


def refuse_oversized_inputs() -> None:
    """moto's StartExecution accepts any input; AWS refuses one over 256 KiB (API_StartExecution: input,
    maximum length 262144, as bytes of UTF-8). moto runs in this process (devstack.moto_stack.MotoServer)."""
    from moto.stepfunctions.exceptions import ValidationException  # noqa: PLC0415
    from moto.stepfunctions.models import StateMachine  # noqa: PLC0415

    original = StateMachine._validate_execution_input
    if getattr(original, "refuses_oversized_inputs", False):
        return

    def validate(self: Any, execution_input: str) -> None:
        if len(execution_input.encode()) > PAYLOAD_LIMIT_BYTES:
            raise ValidationException(
                "1 validation error detected: Value at 'input' failed to satisfy constraint: "
                f"Member must have length less than or equal to {PAYLOAD_LIMIT_BYTES}"
            )
        original(self, execution_input)

    validate.refuses_oversized_inputs = True  # type: ignore[attr-defined]
    StateMachine._validate_execution_input = validate  # type: ignore[method-assign]


# -- JSONPath, as far as Step Functions' paths go ----------------------------------------------------

_STEP = re.compile(r"\.(\*|[^.\[\]]+)|\[(\*|\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]")


@dataclass(frozen=True)
class _Path:
    text: str
    context: bool  # $$: the context object
    steps: tuple[str | int | None, ...]  # a name, an index, or None for a wildcard

    @property
    def definite(self) -> bool:
        return None not in self.steps


@lru_cache(maxsize=1024)
def _parse(text: str) -> _Path:
    if not isinstance(text, str) or not text.startswith("$"):
        raise NotImplementedError(f"{text!r} is not a JSONPath the local stack reads")
    context = text.startswith("$$")
    rest, steps, at = text[2 if context else 1 :], [], 0
    while at < len(rest):
        match = _STEP.match(rest, at)
        if not match:
            raise NotImplementedError(f"JSONPath {text!r}: {rest[at:]!r} is beyond what the local stack reads (names, [n], [*])")
        name, index, quoted, double = match.groups()
        if name is not None:
            steps.append(None if name == "*" else name)
        elif index is not None:
            steps.append(None if index == "*" else int(index))
        else:
            steps.append(quoted if quoted is not None else double)
        at = match.end()
    return _Path(text, context, tuple(steps))


class _PathMissing(Exception):
    pass


def _read(path: _Path, data: Any) -> Any:
    nodes = [data]
    for step in path.steps:
        found = []
        for node in nodes:
            if step is None:
                found.extend(node.values() if isinstance(node, dict) else node if isinstance(node, list) else [])
            elif isinstance(step, int):
                if isinstance(node, list) and step < len(node):
                    found.append(node[step])
            elif isinstance(node, dict) and step in node:
                found.append(node[step])
        if path.definite and not found:
            raise _PathMissing(path.text)
        nodes = found
    return nodes[0] if path.definite else nodes


def _write(path: _Path, data: Any, value: Any) -> Any:
    """``data`` with ``value`` at a reference path (missing objects on the way are created)."""
    if path.context or not path.definite:
        raise NotImplementedError(f"ResultPath {path.text!r} must be a reference path of the input")
    if not path.steps:
        return copy.deepcopy(value)
    root = copy.deepcopy(data)
    node = root
    for position, step in enumerate(path.steps):
        last = position == len(path.steps) - 1
        if isinstance(step, int):
            if not isinstance(node, list) or step >= len(node):
                raise _PathMissing(path.text)
            if last:
                node[step] = copy.deepcopy(value)
            node = node[step]
        else:
            if not isinstance(node, dict):
                raise _PathMissing(path.text)
            if last:
                node[step] = copy.deepcopy(value)
            node = node.setdefault(step, {})
    return root


def _check_paths(template: Any, where: str) -> None:
    """Every ``.$`` value of a Parameters-like template is a path the local stack reads (not an intrinsic)."""
    if isinstance(template, dict):
        for key, value in template.items():
            if key.endswith(".$"):
                if isinstance(value, str) and value.startswith("States."):
                    raise NotImplementedError(f"{where}: intrinsic function {value.split('(')[0]} in {key!r}")
                _parse(value)
            else:
                _check_paths(value, where)
    elif isinstance(template, list):
        for value in template:
            _check_paths(value, where)


# -- errors and what happened ----------------------------------------------------------------------


class StatesError(Exception):
    """An error a state reports, by its Step Functions name (``Error``) and ``Cause``."""

    def __init__(self, error: str, cause: str | None = None) -> None:
        super().__init__(f"{error}: {cause}" if cause else error)
        self.error = error[:256]
        self.cause = cause[:CAUSE_LIMIT_CHARACTERS] if cause is not None else None

    def output(self) -> dict[str, str]:
        """The error output a Catch passes on."""
        return {"Error": self.error} if self.cause is None else {"Error": self.error, "Cause": self.cause}


class _TimedOut(Exception):
    """The execution ran past its maximum: not an error a state can catch."""


_UNCATCHABLE_BY_ALL = {"States.DataLimitExceeded", "States.Runtime"}


def matches(error_equals: list[str], error: str) -> bool:
    """Whether a Retry or Catch entry applies to ``error`` (concepts-error-handling).

    States.Runtime is never retried or caught. States.ALL matches every other error but
    States.DataLimitExceeded, which only its own name matches. States.TaskFailed matches the errors a task
    reports (any name outside ``States.``, and itself): AWS says it matches every known name but
    States.Timeout; the local stack takes the narrower reading.
    """
    if error == "States.Runtime":
        return False
    if error in error_equals:
        return True
    if "States.ALL" in error_equals:
        return error not in _UNCATCHABLE_BY_ALL
    return "States.TaskFailed" in error_equals and not error.startswith("States.")


@dataclass
class PassedWait:
    """A Wait state the execution passed without waiting (the local stack compresses time)."""

    state: str
    seconds: float  # how long AWS would have waited
    until: str | None = None  # the timestamp it waited for (Timestamp, TimestampPath)


@dataclass
class SkippedRetryInterval:
    """A retry the execution made at once, where AWS would first have waited ``seconds``."""

    state: str
    error: str
    attempt: int  # 1 for the first retry of the state
    seconds: float


@dataclass
class ExecutionResult:
    execution_arn: str
    state_machine: str  # the template's logical id
    status: str  # SUCCEEDED, FAILED or TIMED_OUT
    output: Any = None  # SUCCEEDED
    error: str | None = None  # FAILED, TIMED_OUT
    cause: str | None = None
    waits: list[PassedWait] = field(default_factory=list)
    retries: list[SkippedRetryInterval] = field(default_factory=list)


def _size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


def _within_quota(value: Any, what: str) -> Any:
    if _size(value) > PAYLOAD_LIMIT_BYTES:
        raise StatesError("States.DataLimitExceeded", f"{what} has a size exceeding the maximum number of bytes service limit.")
    return value


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# -- task resources --------------------------------------------------------------------------------

_IN_PROCESS = threading.Lock()


def _sdk_metadata(request_id: str, body: Any) -> dict[str, Any]:
    """What the optimized integrations add to a result: it counts toward the 256 KiB, so it is there."""
    headers = {
        "Connection": "keep-alive",
        "Content-Length": str(len(json.dumps(body).encode())),
        "Content-Type": "application/json",
        "Date": format_datetime(datetime.now(UTC), usegmt=True),
        "x-amzn-RequestId": request_id,
    }
    return {
        "SdkHttpMetadata": {"AllHttpHeaders": {k: [v] for k, v in headers.items()}, "HttpHeaders": headers, "HttpStatusCode": 200},
        "SdkResponseMetadata": {"RequestId": request_id},
    }


def _function_error(exc: BaseException, request_id: str) -> StatesError:
    """A function's exception as Step Functions reports it: Lambda's errorType, and its error payload as the Cause."""
    frames = traceback.extract_tb(exc.__traceback__)[1:]  # the first frame is this module calling the function
    payload = {"errorMessage": str(exc), "errorType": type(exc).__name__, "requestId": request_id,
               "stackTrace": traceback.format_list(frames)}  # fmt: skip
    return StatesError(type(exc).__name__, json.dumps(payload))


def _function_name(reference: str) -> str:
    """A FunctionName without the ``$LATEST`` qualifier (the only version the local stack has)."""
    return reference[: -len(":$LATEST")] if reference.endswith(":$LATEST") else reference


def lambda_invoke(invoke: Invoke, functions: Mapping[str, str], *, serial: bool = True) -> Task:
    """``arn:aws:states:::lambda:invoke``: ``functions`` maps a function's name and ARN to its logical id.

    ``serial``: one call at a time. devstack.invoke runs a handler by swapping process-wide state (os.environ,
    sys.stdout, the cached settings), so two handlers at once would read each other's environment; Map
    iterations then still run in their threads, but their calls to functions take turns.
    """
    turns = _IN_PROCESS if serial else contextlib.nullcontext()

    def perform(parameters: Any) -> dict[str, Any]:
        if not isinstance(parameters, dict) or not isinstance(parameters.get("FunctionName"), str):
            raise StatesError("States.Runtime", "lambda:invoke needs Parameters with a FunctionName")
        unsupported = sorted(set(parameters) - {"FunctionName", "Payload", "InvocationType", "Qualifier"})
        if unsupported or parameters.get("InvocationType", "RequestResponse") != "RequestResponse":
            raise NotImplementedError(
                f"lambda:invoke with {unsupported or parameters['InvocationType']}: the local stack invokes synchronously only"
            )
        name = _function_name(parameters["FunctionName"])
        qualifier = parameters.get("Qualifier", "$LATEST")
        function = functions.get(name) if qualifier == "$LATEST" else None
        request_id = str(uuid.uuid4())
        if function is None:
            cause = f"Function not found: {parameters['FunctionName']} (Service: Lambda, Status Code: 404, Request ID: {request_id})"
            raise StatesError("Lambda.ResourceNotFoundException", cause)
        payload = json.loads(json.dumps(parameters.get("Payload", {})))  # the function gets JSON, not our objects
        with turns:
            try:
                returned = invoke(function, payload)
            except Exception as exc:  # the function failed: Lambda reports it, Step Functions names it
                raise _function_error(exc, request_id) from exc
        try:
            returned = json.loads(json.dumps(returned))
        except (TypeError, ValueError) as exc:
            message = {"errorMessage": f"Unable to marshal response: {exc}", "errorType": "Runtime.MarshalError", "requestId": request_id}
            raise StatesError("Runtime.MarshalError", json.dumps(message)) from exc
        return {"ExecutedVersion": "$LATEST", "Payload": returned, **_sdk_metadata(request_id, returned), "StatusCode": 200}

    return perform


def sqs_send_message(client: Callable[[], Any]) -> Task:
    """``arn:aws:states:::sqs:sendMessage``: an object MessageBody is sent as its JSON text."""

    def perform(parameters: Any) -> dict[str, Any]:
        if not isinstance(parameters, dict):
            raise StatesError("States.Runtime", "sqs:sendMessage needs Parameters with QueueUrl and MessageBody")
        request = dict(parameters)
        if not isinstance(request.get("MessageBody"), str):
            request["MessageBody"] = json.dumps(request.get("MessageBody"), ensure_ascii=False, separators=(",", ":"))
        try:
            answer = client().send_message(**request)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = error.get("Code", "AmazonSQSException").rsplit(".", 1)[-1]
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400)
            raise StatesError(
                f"SQS.{code}", f"{error.get('Message', '')} (Service: AmazonSQS; Status Code: {status}; Error Code: {code})"
            ) from exc
        result = {"MD5OfMessageBody": answer.get("MD5OfMessageBody") or hashlib.md5(request["MessageBody"].encode()).hexdigest(),  # noqa: S324
                  "MessageId": answer["MessageId"]}  # fmt: skip
        return {**result, **_sdk_metadata(answer.get("ResponseMetadata", {}).get("RequestId", str(uuid.uuid4())), result)}

    return perform


# -- the interpreter -------------------------------------------------------------------------------

_COMMON = {"Type", "Comment", "InputPath", "OutputPath"}
_FIELDS = {
    "Pass": _COMMON | {"Next", "End", "Parameters", "Result", "ResultPath"},
    "Task": _COMMON | {"Next", "End", "Resource", "Parameters", "ResultSelector", "ResultPath", "Retry", "Catch", "TimeoutSeconds"},
    "Map": _COMMON
    | {"Next", "End", "ItemsPath", "ItemSelector", "Parameters", "ItemProcessor", "Iterator", "MaxConcurrency"}
    | {"ResultSelector", "ResultPath", "Retry", "Catch"},
    "Wait": _COMMON | {"Next", "End", "Seconds", "SecondsPath", "Timestamp", "TimestampPath"},
    "Choice": _COMMON | {"Choices", "Default"},
    "Succeed": _COMMON,
    "Fail": {"Type", "Comment", "Error", "Cause", "ErrorPath", "CausePath"},
}
_MACHINE_FIELDS = {"StartAt", "States", "Comment", "Version", "ProcessorConfig"}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _both(check: Callable[[Any], bool], compare: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    return lambda value, operand: check(value) and check(operand) and compare(value, operand)


def _is_text(value: Any) -> bool:
    return isinstance(value, str)


_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "StringEquals": _both(_is_text, lambda a, b: a == b),
    "StringLessThan": _both(_is_text, lambda a, b: a < b),
    "StringGreaterThan": _both(_is_text, lambda a, b: a > b),
    "StringLessThanEquals": _both(_is_text, lambda a, b: a <= b),
    "StringGreaterThanEquals": _both(_is_text, lambda a, b: a >= b),
    "NumericEquals": _both(_is_number, lambda a, b: a == b),
    "NumericLessThan": _both(_is_number, lambda a, b: a < b),
    "NumericGreaterThan": _both(_is_number, lambda a, b: a > b),
    "NumericLessThanEquals": _both(_is_number, lambda a, b: a <= b),
    "NumericGreaterThanEquals": _both(_is_number, lambda a, b: a >= b),
    "BooleanEquals": _both(lambda v: isinstance(v, bool), lambda a, b: a == b),
}
_TYPE_TESTS: dict[str, Callable[[Any], bool]] = {
    "IsNull": lambda v: v is None,
    "IsString": _is_text,
    "IsNumeric": _is_number,
    "IsBoolean": lambda v: isinstance(v, bool),
}
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")  # RFC 3339, uppercase T and Z


@dataclass
class _Clock:
    """The time an execution (or one Map iteration of it) would certainly have spent waiting."""

    limit: float | None
    seconds: float = 0.0

    def advance(self, seconds: float) -> None:
        self.seconds += seconds
        if self.limit is not None and self.seconds > self.limit:
            raise _TimedOut(
                f"the execution waited {self.seconds:g} s in Wait states and retry intervals, past its {self.limit:g} s maximum"
            )

    def branch(self) -> _Clock:
        return _Clock(self.limit, self.seconds)


class Interpreter:
    """Runs one state machine's definition. ``tasks`` maps a Task state's Resource to what performs it."""

    def __init__(self, definition: dict[str, Any], tasks: Mapping[str, Task], *, express: bool = True, label: str = "") -> None:
        self.definition = definition
        self.tasks = tasks
        self.express = express
        self.label = label
        self._check_supported(definition, label or "definition")

    def run(self, execution_input: Any, *, execution_arn: str = "", name: str = "", state_machine_arn: str = "",
            role_arn: str = "", started: datetime | None = None) -> ExecutionResult:  # fmt: skip
        """The execution of this definition on ``execution_input``, to its end; the other arguments fill the
        context object (``$$.Execution``, ``$$.StateMachine``)."""
        context = {
            "Execution": {"Id": execution_arn, "Input": execution_input, "Name": name, "RoleArn": role_arn,
                          "StartTime": (started or datetime.now(UTC)).isoformat(timespec="milliseconds").replace("+00:00", "Z")},
            "StateMachine": {"Id": state_machine_arn, "Name": state_machine_arn.rsplit(":", 1)[-1]},
        }  # fmt: skip
        execution = _Execution(self.tasks, context)
        result = ExecutionResult(execution_arn, self.label, "SUCCEEDED", waits=execution.waits, retries=execution.retries)
        try:
            _within_quota(execution_input, "The execution input")
            result.output = execution.machine(self.definition, execution_input, _Clock(EXPRESS_LIMIT_SECONDS if self.express else None))
        except StatesError as failure:
            result.status, result.error, result.cause = "FAILED", failure.error, failure.cause
        except _TimedOut as timeout:
            result.status, result.error, result.cause = "TIMED_OUT", "States.Timeout", str(timeout)
        return result

    def _check_supported(self, machine: dict[str, Any], where: str) -> None:
        for key in set(machine) - _MACHINE_FIELDS:
            raise NotImplementedError(f"{where}: {key} is not performed by the local stack")
        for name, state in machine["States"].items():
            self._check_state(state, f"{where}/{name}")

    def _check_state(self, state: dict[str, Any], at: str) -> None:
        kind = state.get("Type")
        if kind not in _FIELDS:
            raise NotImplementedError(f"{at}: {kind} states are not performed by the local stack")
        for key in sorted(set(state) - _FIELDS[kind]):
            raise NotImplementedError(f"{at}: {key} is not performed by the local stack")
        if kind == "Task" and state["Resource"] not in self.tasks:
            raise NotImplementedError(f"{at}: the local stack performs no {state['Resource']} tasks (only {', '.join(self.tasks)})")
        for key in ("Parameters", "ItemSelector", "ResultSelector"):
            _check_paths(state.get(key), f"{at}.{key}")
        paths = [state.get(key) for key in ("InputPath", "OutputPath", "ResultPath", "ItemsPath", "SecondsPath", "TimestampPath")]
        paths += [state.get("ErrorPath"), state.get("CausePath")] + [catcher.get("ResultPath") for catcher in state.get("Catch", [])]
        for path in paths:
            if path is not None:
                _parse(path)
        for rule in state.get("Choices", []):
            self._check_rule(rule, at)
        if kind == "Map":
            processor = state.get("ItemProcessor", state.get("Iterator"))
            mode = processor.get("ProcessorConfig", {}).get("Mode", "INLINE")
            if mode != "INLINE":
                raise NotImplementedError(f"{at}: a {mode} Map is not performed by the local stack (INLINE only)")
            self._check_supported(processor, at)

    def _check_rule(self, rule: dict[str, Any], where: str) -> None:
        for combined in ("And", "Or"):
            for inner in rule.get(combined, []):
                self._check_rule(inner, where)
        if "Not" in rule:
            self._check_rule(rule["Not"], where)
        if {"And", "Or", "Not"} & set(rule):
            return
        _parse(rule["Variable"])
        known = set(_COMPARISONS) | {f"{c}Path" for c in _COMPARISONS} | set(_TYPE_TESTS) | {"IsPresent"}
        for key in set(rule) - {"Variable", "Next", "Comment"}:
            if key not in known:
                raise NotImplementedError(f"{where}: the Choice comparison {key} is not performed by the local stack")
            if key.endswith("Path"):
                _parse(rule[key])


class _Execution:
    """One execution in progress: what it recorded, and how each state is performed."""

    def __init__(self, tasks: Mapping[str, Task], context: dict[str, Any]) -> None:
        self.tasks = tasks
        self.context = context
        self.waits: list[PassedWait] = []
        self.retries: list[SkippedRetryInterval] = []
        self._lock = threading.Lock()  # Map iterations record from their threads

    def machine(self, machine: dict[str, Any], value: Any, clock: _Clock) -> Any:
        name = machine["StartAt"]
        while True:
            value, following = self.state(name, machine["States"][name], value, clock)
            if following is None:
                return value
            name = following

    def state(self, name: str, state: dict[str, Any], raw: Any, clock: _Clock) -> tuple[Any, str | None]:
        kind = state["Type"]
        if kind in ("Task", "Map"):
            return self._with_retry_and_catch(name, state, raw, clock)
        if kind == "Fail":
            error = self._read(state["ErrorPath"], raw, name) if "ErrorPath" in state else state.get("Error", "")
            cause = self._read(state["CausePath"], raw, name) if "CausePath" in state else state.get("Cause")
            raise StatesError(str(error), None if cause is None else str(cause))
        effective = self._input(state, raw, name)
        following = state.get("Next")
        if kind == "Pass":
            result = copy.deepcopy(state["Result"]) if "Result" in state else effective
            return self._output(state, raw, result, name), following
        if kind == "Wait":
            self._wait(name, state, effective, clock)
        elif kind == "Choice":
            following = self._choose(name, state, effective)
        elif kind == "Succeed":
            following = None
        output = _within_quota(self._path("OutputPath", state, effective, name), f"The state '{name}' output")
        return output, following

    # -- input and output processing --
    def _context(self, name: str, retries: int = 0, **extra: Any) -> dict[str, Any]:
        return {**self.context, "State": {"Name": name, "EnteredTime": _now(), "RetryCount": retries}, **extra}

    def _read(self, path: str, data: Any, state: str) -> Any:
        parsed = _parse(path)
        try:
            return _read(parsed, self._context(state) if parsed.context else data)
        except _PathMissing:
            raise StatesError("States.Runtime", f"Invalid path '{path}' : No results for path: {path}") from None

    def _path(self, key: str, state: dict[str, Any], data: Any, name: str) -> Any:
        """InputPath or OutputPath: ``$`` when absent, ``{}`` when null."""
        if key not in state:
            return data
        if state[key] is None:
            return {}
        return self._read(state[key], data, name)

    def _fill(self, template: Any, data: Any, context: dict[str, Any]) -> Any:
        """Parameters, ItemSelector, ResultSelector: each ``key.$`` takes the value at its path."""
        if isinstance(template, list):
            return [self._fill(item, data, context) for item in template]
        if not isinstance(template, dict):
            return copy.deepcopy(template)
        filled = {}
        for key, value in template.items():
            if not key.endswith(".$"):
                filled[key] = self._fill(value, data, context)
                continue
            parsed = _parse(value)
            try:
                filled[key[:-2]] = copy.deepcopy(_read(parsed, context if parsed.context else data))
            except _PathMissing:
                shown = json.dumps(context if parsed.context else data)[:200]
                cause = f"The JSONPath '{value}' specified for the field '{key}' could not be found in the input '{shown}'"
                raise StatesError("States.Runtime", cause) from None
        return filled

    def _input(self, state: dict[str, Any], raw: Any, name: str, retries: int = 0) -> Any:
        """The state's effective input: InputPath, then Parameters (the input a task is given)."""
        effective = self._path("InputPath", state, raw, name)
        if "Parameters" in state and state["Type"] != "Map":  # a Map's Parameters is its legacy ItemSelector
            effective = self._fill(state["Parameters"], effective, self._context(name, retries))
        return _within_quota(effective, f"The state '{name}' input, after Parameters,")

    def _output(self, state: dict[str, Any], raw: Any, result: Any, name: str, retries: int = 0) -> Any:
        """ResultSelector, ResultPath (into the raw input; null keeps the input), OutputPath."""
        if "ResultSelector" in state:
            result = self._fill(state["ResultSelector"], result, self._context(name, retries))
        output = self._result_path(state.get("ResultPath", "$"), raw, result, name)
        return _within_quota(self._path("OutputPath", state, output, name), f"The state '{name}' output")

    @staticmethod
    def _result_path(path: str | None, raw: Any, result: Any, name: str) -> Any:
        if path is None:
            return raw
        try:
            return _write(_parse(path), raw, result)
        except _PathMissing:
            raise StatesError(
                "States.Runtime", f"Unable to apply ReferencePath {path} to input {json.dumps(raw)[:200]} in state '{name}'"
            ) from None

    # -- Task and Map, with Retry and Catch --
    def _with_retry_and_catch(self, name: str, state: dict[str, Any], raw: Any, clock: _Clock) -> tuple[Any, str | None]:
        retriers, attempts = state.get("Retry", []), {}
        retried = 0
        while True:
            try:
                perform = self._task if state["Type"] == "Task" else self._map
                return perform(name, state, raw, clock, retried), state.get("Next")
            except StatesError as failure:
                retrier = next((i for i, r in enumerate(retriers) if matches(r["ErrorEquals"], failure.error)), None)
                if retrier is not None:
                    policy, done = retriers[retrier], attempts.get(retrier, 0)
                    if done < policy.get("MaxAttempts", 3):
                        seconds = policy.get("IntervalSeconds", 1) * policy.get("BackoffRate", 2.0) ** done
                        seconds = min(seconds, policy.get("MaxDelaySeconds", seconds))
                        attempts[retrier], retried = done + 1, retried + 1
                        with self._lock:
                            self.retries.append(SkippedRetryInterval(name, failure.error, retried, seconds))
                        clock.advance(seconds)
                        continue
                catcher = next((c for c in state.get("Catch", []) if matches(c["ErrorEquals"], failure.error)), None)
                if catcher is None:
                    raise
                output = self._result_path(catcher.get("ResultPath", "$"), raw, failure.output(), name)
                return _within_quota(output, f"The state '{name}' output"), catcher["Next"]

    def _task(self, name: str, state: dict[str, Any], raw: Any, clock: _Clock, retried: int) -> Any:
        parameters = self._input(state, raw, name, retried)
        started = datetime.now(UTC)
        result = self.tasks[state["Resource"]](parameters)
        took = (datetime.now(UTC) - started).total_seconds()
        if "TimeoutSeconds" in state and took > state["TimeoutSeconds"]:
            raise StatesError(
                "States.Timeout", f"The task '{name}' ran {took:.1f} s, more than its TimeoutSeconds ({state['TimeoutSeconds']})"
            )
        _within_quota(result, f"The state/task '{state['Resource']}' returned a result that")
        return self._output(state, raw, result, name, retried)

    def _map(self, name: str, state: dict[str, Any], raw: Any, clock: _Clock, retried: int) -> Any:
        effective = self._input(state, raw, name, retried)
        items = self._read(state.get("ItemsPath", "$"), effective, name)
        if not isinstance(items, list):
            raise StatesError("States.Runtime", f"The Map state '{name}' needs an array at ItemsPath {state.get('ItemsPath', '$')}")
        selector = state.get("ItemSelector", state.get("Parameters"))
        inputs = []
        for index, item in enumerate(items):
            if selector is None:
                inputs.append(item)
                continue
            context = self._context(name, retried, Map={"Item": {"Index": index, "Value": item}})
            inputs.append(_within_quota(self._fill(selector, effective, context), f"The Map state '{name}' iteration {index} input"))
        processor = state.get("ItemProcessor", state.get("Iterator"))
        concurrency = min(state.get("MaxConcurrency") or INLINE_MAP_CONCURRENCY, INLINE_MAP_CONCURRENCY)
        outputs = self._iterations(name, processor, inputs, concurrency, clock)
        return self._output(state, raw, outputs, name, retried)

    def _iterations(self, name: str, processor: dict[str, Any], inputs: list[Any], concurrency: int, clock: _Clock) -> list[Any]:
        """Each input through the processor, ``concurrency`` at a time. When one fails, no more start and the
        Map fails with its error (the lowest index, when several did)."""
        outputs: list[Any] = [None] * len(inputs)
        failures: dict[int, Exception] = {}
        clocks = [clock.branch() for _ in inputs]
        stop = threading.Event()

        def iterate(index: int) -> None:
            if stop.is_set():
                return
            try:
                outputs[index] = self.machine(processor, inputs[index], clocks[index])
            except (StatesError, _TimedOut) as exc:
                failures[index] = exc
                stop.set()

        if inputs:
            with ThreadPoolExecutor(max_workers=min(concurrency, len(inputs)), thread_name_prefix=f"map-{name}") as pool:
                for future in [pool.submit(iterate, index) for index in range(len(inputs))]:
                    future.result()  # a fault of the local stack itself is raised here, not swallowed
        clock.advance(max((c.seconds for c in clocks), default=clock.seconds) - clock.seconds)
        timed_out = [exc for exc in failures.values() if isinstance(exc, _TimedOut)]
        if timed_out:
            raise timed_out[0]
        if failures:
            raise failures[min(failures)]
        return outputs

    # -- Wait and Choice --
    def _wait(self, name: str, state: dict[str, Any], effective: Any, clock: _Clock) -> None:
        until = None
        if "Seconds" in state or "SecondsPath" in state:
            seconds = state["Seconds"] if "Seconds" in state else self._read(state["SecondsPath"], effective, name)
            if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds < 0:
                raise StatesError(
                    "States.Runtime", f"The SecondsPath of the Wait state '{name}' must give a non-negative whole number, not {seconds!r}"
                )
        else:
            until = state["Timestamp"] if "Timestamp" in state else self._read(state["TimestampPath"], effective, name)
            if not isinstance(until, str) or not _TIMESTAMP.match(until):
                raise StatesError("States.Runtime", f"The Wait state '{name}' needs an RFC 3339 timestamp, not {until!r}")
            seconds = max(0.0, (datetime.fromisoformat(until) - datetime.now(UTC)).total_seconds())
        with self._lock:
            self.waits.append(PassedWait(name, seconds, until))
        clock.advance(seconds)

    def _choose(self, name: str, state: dict[str, Any], effective: Any) -> str:
        for rule in state["Choices"]:
            if self._holds(rule, effective, name):
                return rule["Next"]
        if "Default" in state:
            return state["Default"]
        raise StatesError("States.NoChoiceMatched", f"No Choice Rules matched and no Default is specified in the Choice state '{name}'")

    def _holds(self, rule: dict[str, Any], data: Any, name: str) -> bool:
        if "And" in rule:
            return all(self._holds(inner, data, name) for inner in rule["And"])
        if "Or" in rule:
            return any(self._holds(inner, data, name) for inner in rule["Or"])
        if "Not" in rule:
            return not self._holds(rule["Not"], data, name)
        ((test, operand),) = [(k, v) for k, v in rule.items() if k not in ("Variable", "Next", "Comment")]
        variable = rule["Variable"]
        if test == "IsPresent":
            parsed = _parse(variable)
            try:
                _read(parsed, self._context(name) if parsed.context else data)
            except _PathMissing:
                return not operand
            return bool(operand)
        try:
            value = self._read(variable, data, name)
        except StatesError:
            raise StatesError(
                "States.Runtime", f"Invalid path '{variable}': The choice state's condition path references an invalid value."
            ) from None
        if test in _TYPE_TESTS:
            return _TYPE_TESTS[test](value) == operand
        if test.endswith("Path"):
            test, operand = test[: -len("Path")], self._read(operand, data, name)
        return _COMPARISONS[test](value, operand)


# -- the runner ------------------------------------------------------------------------------------


class StateMachineRunner:
    """Performs the executions started on the local stack's state machines (see the module's docstring).

    ``invoke(function_logical_id, payload)`` runs a function and returns what it returned, raising its
    exception when it fails. ``parallel_invokes=True`` lets Map iterations call functions at the same time:
    only for an ``invoke`` that is thread-safe, which devstack.invoke's are not (see :func:`lambda_invoke`).
    """

    def __init__(self, stack: LocalStack, invoke: Invoke, *, parallel_invokes: bool = False) -> None:
        self.stack = stack
        self._performed: set[str] = set()
        self._sqs: Any = None
        self._sqs_lock = threading.Lock()
        functions = {}
        for logical_id, resource in stack.template["Resources"].items():
            if resource["Type"] in FUNCTION_TYPES and logical_id in stack.attributes:
                functions[stack.physical_ids[logical_id]] = logical_id
                functions[stack.attributes[logical_id]["Arn"]] = logical_id
        tasks = {
            LAMBDA_INVOKE: lambda_invoke(invoke, functions, serial=not parallel_invokes),
            SQS_SEND_MESSAGE: sqs_send_message(self._sqs_client),
        }
        self.machines: dict[str, Interpreter] = {}
        for resource_type in STATE_MACHINE_TYPES:
            for logical_id, resource in resources_of_type(stack.template, resource_type).items():
                if logical_id in stack.physical_ids and stack.resolver.deployed(resource):
                    props = resource["Properties"]
                    self.machines[logical_id] = Interpreter(definition_of(props, stack.resolver.resolve), tasks,
                                                            express=state_machine_type(props) == "EXPRESS", label=logical_id)  # fmt: skip

    def _sqs_client(self) -> Any:
        with self._sqs_lock:  # creating clients from boto3's default session is not thread-safe
            if self._sqs is None:
                self._sqs = boto3.client("sqs")
            return self._sqs

    def run_pending(self) -> list[ExecutionResult]:
        """Perform, to the end and in the order they started, the executions started on moto since the last
        call (executions they start in turn wait for the next call). Each outcome is also recorded on moto,
        so DescribeExecution reports it."""
        client = boto3.client("stepfunctions")
        pending = [(e["startDate"], logical_id, e) for logical_id in self.machines
                   for e in _running(client, self.stack.physical_ids[logical_id]) if e["executionArn"] not in self._performed]  # fmt: skip
        results = []
        for _, logical_id, listed in sorted(pending, key=lambda p: p[0]):
            described = client.describe_execution(executionArn=listed["executionArn"])
            role = client.describe_state_machine(stateMachineArn=listed["stateMachineArn"])["roleArn"]
            result = self.machines[logical_id].run(
                json.loads(described["input"]), execution_arn=listed["executionArn"], name=listed["name"],
                state_machine_arn=listed["stateMachineArn"], role_arn=role, started=described["startDate"],
            )  # fmt: skip
            self._performed.add(listed["executionArn"])
            _record_on_moto(result)
            results.append(result)
        return results


def _record_on_moto(result: ExecutionResult) -> None:
    from moto.core.utils import utcnow  # noqa: PLC0415
    from moto.stepfunctions.models import stepfunctions_backends  # noqa: PLC0415

    execution = stepfunctions_backends[ACCOUNT_ID][REGION].describe_execution(result.execution_arn)
    execution.status, execution.stop_date = result.status, utcnow()
    if result.status == "SUCCEEDED":
        execution.output = json.dumps(result.output)
    else:
        execution.error, execution.cause = result.error, result.cause


def _running(client: Any, arn: str) -> list[dict[str, Any]]:
    """Executions RUNNING on moto, oldest first (ListExecutions lists the newest first)."""
    pages = client.get_paginator("list_executions").paginate(stateMachineArn=arn, statusFilter="RUNNING")
    return [execution for page in pages for execution in page["executions"]][::-1]
