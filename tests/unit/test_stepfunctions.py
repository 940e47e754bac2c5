"""The local stack's Step Functions interpreter (devstack.stepfunctions), on small definitions, against AWS's
documented semantics; and every state machine of template.yaml, checked by moto's own ASL parser."""

import json
import re
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

from devstack.stepfunctions import (
    LAMBDA_INVOKE,
    PAYLOAD_LIMIT_BYTES,
    SQS_SEND_MESSAGE,
    STATE_MACHINE_TYPES,
    Interpreter,
    InvalidDefinition,
    definition_of,
    definition_problems,
    lambda_invoke,
    matches,
    sqs_send_message,
)
from devstack.template import Resolver, deployed_template, every_provider, resources_of_type

FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:stack-Worker"
FUNCTIONS = {"stack-Worker": "Worker", FUNCTION_ARN: "Worker"}


class Functions:
    """A fake ``invoke``: what each call got, and an answer (or an exception) per call."""

    def __init__(self, answer=None):
        self.calls = []
        self.answer = answer or (lambda payload: {"echo": payload})
        self._lock = threading.Lock()
        self.in_flight = 0
        self.most_in_flight = 0

    def __call__(self, function, payload):
        with self._lock:
            self.calls.append((function, payload))
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            return self.answer(payload)
        finally:
            with self._lock:
                self.in_flight -= 1


class SentMessages:
    """A fake SQS client: what was sent."""

    def __init__(self):
        self.sent = []

    def send_message(self, **request):
        self.sent.append(request)
        return {"MessageId": f"m-{len(self.sent)}", "MD5OfMessageBody": "md5"}


def machine(states, **fields):
    return {"StartAt": next(iter(states)), "States": states, **fields}


def invoke_state(**fields):
    return {"Type": "Task", "Resource": LAMBDA_INVOKE, "Parameters": {"FunctionName": FUNCTION_ARN, "Payload.$": "$"}, **fields}


def run(definition, execution_input=None, functions=None, *, sqs=None, express=True, parallel=True):
    tasks = {
        LAMBDA_INVOKE: lambda_invoke(functions or Functions(), FUNCTIONS, serial=not parallel),
        SQS_SEND_MESSAGE: sqs_send_message(lambda: sqs),
    }
    interpreter = Interpreter(definition, tasks, express=express, label="Machine")
    return interpreter.run({} if execution_input is None else execution_input, execution_arn="arn:exec", name="run-1")


class Boom(Exception):
    pass


def failing(times=None):
    """An answer that raises Boom (``times`` times, then echoes; always when None)."""
    count = {"n": 0}

    def answer(payload):
        count["n"] += 1
        if times is None or count["n"] <= times:
            raise Boom(f"attempt {count['n']} failed")
        return {"ok": count["n"]}

    return answer


# -- input and output processing -------------------------------------------------------------------


def test_input_path_parameters_result_selector_result_path_and_output_path_in_order():
    state = invoke_state(
        InputPath="$.job",
        Parameters={
            "FunctionName": "stack-Worker",
            "Payload": {"id.$": "$.id", "run.$": "$$.Execution.Name", "fixed": [1, {"n.$": "$.n"}]},
        },
        ResultSelector={"answer.$": "$.Payload.echo", "status.$": "$.StatusCode"},
        ResultPath="$.job.result",
        OutputPath="$.job",
        End=True,
    )
    functions = Functions()
    result = run(machine({"Call": state}), {"job": {"id": "j1", "n": 7}, "other": True}, functions)
    assert result.status == "SUCCEEDED"
    assert functions.calls == [("Worker", {"id": "j1", "run": "run-1", "fixed": [1, {"n": 7}]})]
    assert result.output == {"id": "j1", "n": 7, "result": {"answer": {"id": "j1", "run": "run-1", "fixed": [1, {"n": 7}]}, "status": 200}}


def test_lambda_invoke_answers_as_the_optimized_integration():
    result = run(machine({"Call": invoke_state(End=True)}), {"a": 1})
    assert result.output["Payload"] == {"echo": {"a": 1}}
    assert (result.output["ExecutedVersion"], result.output["StatusCode"]) == ("$LATEST", 200)
    assert "RequestId" in result.output["SdkResponseMetadata"]


@pytest.mark.parametrize("name", ["stack-Worker", FUNCTION_ARN, f"{FUNCTION_ARN}:$LATEST"])
def test_a_function_is_named_by_its_name_or_arn(name):
    functions = Functions()
    state = invoke_state(Parameters={"FunctionName": name, "Payload": {}}, End=True)
    assert run(machine({"Call": state}), functions=functions).status == "SUCCEEDED"
    assert functions.calls == [("Worker", {})]


def test_a_function_the_stack_does_not_have_is_lambdas_resource_not_found():
    state = invoke_state(Parameters={"FunctionName": "stack-Other"}, End=True)
    assert run(machine({"Call": state})).error == "Lambda.ResourceNotFoundException"


def test_result_path_null_keeps_the_input_and_a_nested_result_path_creates_its_objects():
    states = {
        "Discard": {"Type": "Pass", "Result": {"x": 1}, "ResultPath": None, "Next": "Nest"},
        "Nest": {"Type": "Pass", "Result": "deep", "ResultPath": "$.a.b.c", "End": True},
    }
    assert run(machine(states), {"keep": 1}).output == {"keep": 1, "a": {"b": {"c": "deep"}}}


def test_null_input_path_and_output_path_give_empty_objects():
    states = {"Empty": {"Type": "Pass", "InputPath": None, "Next": "Out"}, "Out": {"Type": "Pass", "OutputPath": None, "End": True}}
    assert run(machine(states), {"a": 1}).output == {}


def test_a_path_that_finds_nothing_is_a_runtime_error_no_catch_can_catch():
    state = invoke_state(
        Parameters={"FunctionName": FUNCTION_ARN, "Payload": {"x.$": "$.missing"}},
        Retry=[{"ErrorEquals": ["States.ALL"]}],
        Catch=[{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
        End=True,
    )
    functions = Functions()
    result = run(machine({"Call": state, "Caught": {"Type": "Succeed"}}), {"a": 1}, functions)
    assert (result.status, result.error, functions.calls) == ("FAILED", "States.Runtime", [])
    assert "'$.missing'" in result.cause
    assert result.retries == []


def test_a_result_path_into_something_that_is_not_an_object_is_a_runtime_error():
    state = {"Type": "Pass", "Result": 1, "ResultPath": "$.text.inner", "End": True}
    assert run(machine({"Put": state}), {"text": "abc"}).error == "States.Runtime"


# -- errors: Retry and Catch -----------------------------------------------------------------------


def test_a_function_error_is_named_by_its_exception_with_lambdas_error_payload_as_cause():
    result = run(machine({"Call": invoke_state(End=True)}), functions=Functions(failing()))
    assert (result.status, result.error) == ("FAILED", "Boom")
    cause = json.loads(result.cause)
    assert (cause["errorType"], cause["errorMessage"]) == ("Boom", "attempt 1 failed")


def test_retries_back_off_and_are_recorded_not_slept():
    retry = [{"ErrorEquals": ["Boom"], "IntervalSeconds": 2, "MaxAttempts": 3, "BackoffRate": 2}]
    functions = Functions(failing(times=3))
    started = time.monotonic()
    result = run(machine({"Call": invoke_state(Retry=retry, End=True)}), functions=functions)
    assert time.monotonic() - started < 1
    assert result.status == "SUCCEEDED"
    assert len(functions.calls) == 4
    assert [(r.state, r.error, r.attempt, r.seconds) for r in result.retries] == [
        ("Call", "Boom", 1, 2),
        ("Call", "Boom", 2, 4),
        ("Call", "Boom", 3, 8),
    ]


def test_max_attempts_defaults_to_three_zero_means_none_and_max_delay_caps_the_interval():
    functions = Functions(failing())
    result = run(
        machine({"Call": invoke_state(Retry=[{"ErrorEquals": ["States.TaskFailed"], "MaxDelaySeconds": 3}], End=True)}), functions=functions
    )
    assert len(functions.calls) == 4
    assert [r.seconds for r in result.retries] == [1, 2, 3]

    functions = Functions(failing())
    retry = [{"ErrorEquals": ["Boom"], "MaxAttempts": 0}, {"ErrorEquals": ["States.ALL"]}]  # only the first match applies
    result = run(machine({"Call": invoke_state(Retry=retry, End=True)}), functions=functions)
    assert (len(functions.calls), result.retries, result.error) == (1, [], "Boom")


def test_catch_puts_the_error_output_at_its_result_path_and_goes_on():
    states = {
        "Call": invoke_state(
            Catch=[
                {"ErrorEquals": ["Other"], "Next": "Wrong"},
                {"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.error", "Next": "Handle"},
            ],
            End=True,
        ),
        "Wrong": {"Type": "Fail", "Error": "Wrong"},
        "Handle": {"Type": "Pass", "End": True},
    }
    result = run(machine(states), {"job": 1}, Functions(failing()))
    assert result.status == "SUCCEEDED"
    assert result.output["job"] == 1
    assert result.output["error"]["Error"] == "Boom"
    assert json.loads(result.output["error"]["Cause"])["errorMessage"] == "attempt 1 failed"


@pytest.mark.parametrize(
    ("error_equals", "error", "expected"),
    [
        (["States.ALL"], "Boom", True),
        (["States.ALL"], "States.Timeout", True),
        (["States.ALL"], "States.DataLimitExceeded", False),
        (["States.DataLimitExceeded"], "States.DataLimitExceeded", True),
        (["States.ALL"], "States.Runtime", False),
        (["States.Runtime"], "States.Runtime", False),
        (["States.TaskFailed"], "Lambda.ResourceNotFoundException", True),
        (["States.TaskFailed"], "States.Timeout", False),
        (["Boom", "Other"], "Other", True),
        (["Boom"], "BoomBoom", False),
    ],
)
def test_which_errors_an_error_equals_list_matches(error_equals, error, expected):
    assert matches(error_equals, error) is expected


def test_a_fail_state_fails_the_execution_with_its_error_and_cause():
    result = run(machine({"Stop": {"Type": "Fail", "Error": "Custom.Stop", "Cause": "because"}}))
    assert (result.status, result.error, result.cause, result.output) == ("FAILED", "Custom.Stop", "because", None)


# -- Map -------------------------------------------------------------------------------------------


def map_state(processor_states, **fields):
    return {"Type": "Map", "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, **machine(processor_states)}, "End": True, **fields}


def test_map_selects_each_item_with_the_context_object_and_keeps_the_order():
    state = map_state(
        {"Call": invoke_state(OutputPath="$.Payload.echo", End=True)},
        ItemsPath="$.items",
        ItemSelector={"value.$": "$$.Map.Item.Value", "index.$": "$$.Map.Item.Index", "round.$": "$.round"},
        ResultPath="$.results",
    )
    result = run(machine({"Each": state}), {"round": "r1", "items": ["a", "b", "c"]})
    assert result.output == {"round": "r1", "items": ["a", "b", "c"],
                             "results": [{"value": v, "index": i, "round": "r1"} for i, v in enumerate("abc")]}  # fmt: skip


def test_map_takes_the_legacy_iterator_and_parameters():
    state = {
        "Type": "Map",
        "Parameters": {"v.$": "$$.Map.Item.Value"},
        "Iterator": machine({"Same": {"Type": "Pass", "End": True}}),
        "End": True,
    }
    assert run(machine({"Each": state}), [1, 2]).output == [{"v": 1}, {"v": 2}]


def slow(payload):
    time.sleep(0.05)
    return payload


def test_map_runs_up_to_max_concurrency_iterations_at_once():
    functions = Functions(slow)
    state = map_state({"Call": invoke_state(End=True)}, MaxConcurrency=3)
    assert run(machine({"Each": state}), list(range(9)), functions).status == "SUCCEEDED"
    assert functions.most_in_flight == 3


def test_an_inline_map_runs_at_most_40_at_once_whatever_its_max_concurrency():
    functions = Functions(slow)
    state = map_state({"Call": invoke_state(End=True)}, MaxConcurrency=0)
    assert run(machine({"Each": state}), list(range(45)), functions).status == "SUCCEEDED"
    assert functions.most_in_flight == 40


def test_with_a_serial_invoke_iterations_call_functions_one_at_a_time():
    functions = Functions(slow)
    state = map_state({"Call": invoke_state(End=True)}, MaxConcurrency=5)
    assert run(machine({"Each": state}), list(range(5)), functions, parallel=False).status == "SUCCEEDED"
    assert functions.most_in_flight == 1


def test_each_item_is_retried_and_caught_alone():
    attempts = {}

    def answer(payload):
        name = payload["id"]
        attempts[name] = attempts.get(name, 0) + 1
        if (name == "flaky" and attempts[name] == 1) or name == "broken":
            raise Boom(name)
        return name

    processor = {
        "Call": invoke_state(OutputPath="$.Payload", Retry=[{"ErrorEquals": ["States.ALL"], "MaxAttempts": 2}],
                             Catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Record"}], End=True),
        "Record": {"Type": "Pass", "Parameters": {"failed.$": "$.id", "error.$": "$.error.Error"}, "End": True},
    }  # fmt: skip
    result = run(machine({"Each": map_state(processor)}), [{"id": "ok"}, {"id": "flaky"}, {"id": "broken"}], Functions(answer))
    assert result.output == ["ok", "flaky", {"failed": "broken", "error": "Boom"}]
    assert attempts == {"ok": 1, "flaky": 2, "broken": 3}
    assert sorted(r.attempt for r in result.retries) == [1, 1, 2]


def test_a_failed_iteration_fails_the_map_and_no_other_iteration_starts():
    functions = Functions(lambda payload: (_ for _ in ()).throw(Boom("x")) if payload == 1 else payload)
    state = map_state({"Call": invoke_state(End=True)}, MaxConcurrency=1)
    result = run(machine({"Each": state}), [0, 1, 2, 3], functions)
    assert (result.status, result.error) == ("FAILED", "Boom")
    assert [payload for _, payload in functions.calls] == [0, 1]


def test_the_map_as_a_whole_can_be_caught():
    state = map_state({"Call": invoke_state(End=True)}, Catch=[{"ErrorEquals": ["Boom"], "Next": "After"}])
    state.pop("End")
    state["Next"] = "Done"
    states = {"Each": state, "Done": {"Type": "Succeed"}, "After": {"Type": "Pass", "Result": "caught", "End": True}}
    assert run(machine(states), [1], Functions(failing())).output == "caught"


# -- Choice ----------------------------------------------------------------------------------------


CHOICE = {
    "Type": "Choice",
    "Choices": [
        {"And": [{"Variable": "$.kind", "StringEquals": "big"}, {"Variable": "$.n", "NumericGreaterThanEquals": 100}], "Next": "Big"},
        {"Or": [{"Variable": "$.n", "NumericLessThan": 0}, {"Variable": "$.flag", "BooleanEquals": True}], "Next": "Odd"},
        {"Not": {"Variable": "$.maybe", "IsPresent": True}, "Next": "Absent"},
        {"Variable": "$.maybe", "IsNull": True, "Next": "Null"},
        {"Variable": "$.n", "NumericEqualsPath": "$.limit", "Next": "AtLimit"},
        {"Variable": "$.n", "NumericEquals": 5, "Next": "Five"},
        {"Variable": "$.n", "NumericLessThanEquals": 10, "Next": "Small"},
        {"Variable": "$.n", "NumericGreaterThan": 10, "Next": "Large"},
    ],
    "Default": "Other",
}
ENDS = ["Big", "Odd", "Absent", "Null", "AtLimit", "Five", "Small", "Large", "Other"]


@pytest.mark.parametrize(
    ("given", "chosen"),
    [
        ({"kind": "big", "n": 100, "maybe": 1}, "Big"),
        ({"kind": "small", "n": 100, "flag": True, "maybe": 1}, "Odd"),
        ({"kind": "small", "n": 100, "flag": "yes", "maybe": 1}, "Large"),  # BooleanEquals holds for booleans only
        ({"kind": "big", "n": -1}, "Odd"),
        ({"kind": "big", "n": 1}, "Absent"),
        ({"kind": "big", "n": 1, "maybe": None}, "Null"),
        ({"kind": "big", "n": 7, "limit": 7, "maybe": 0}, "AtLimit"),
        ({"kind": "big", "n": 5, "maybe": 0}, "Five"),
        ({"kind": "big", "n": 6, "maybe": 0}, "Small"),
        ({"kind": "big", "n": 11, "maybe": 0}, "Large"),
        ({"kind": "big", "n": "11", "maybe": 0}, "Other"),  # a string is no number: no numeric rule holds
    ],
)
def test_choice_takes_the_first_rule_that_holds(given, chosen):
    states = {"Choose": CHOICE, **{name: {"Type": "Pass", "Result": name, "End": True} for name in ENDS}}
    assert run(machine(states), {"flag": False, "limit": 999, **given}).output == chosen


def test_no_rule_and_no_default_fails_and_a_missing_variable_is_a_runtime_error():
    states = {"Choose": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericEquals": 1, "Next": "One"}]}, "One": {"Type": "Succeed"}}
    assert run(machine(states), {"n": 2}).error == "States.NoChoiceMatched"
    assert run(machine(states), {}).error == "States.Runtime"  # a comparison of a missing variable (IsPresent tests for one)


# -- Wait, and time ------------------------------------------------------------------------------


def test_waits_are_recorded_not_slept():
    later = (datetime.now(UTC) + timedelta(seconds=100)).strftime("%Y-%m-%dT%H:%M:%SZ")
    states = {
        "Fixed": {"Type": "Wait", "Seconds": 30, "Next": "FromInput"},
        "FromInput": {"Type": "Wait", "SecondsPath": "$.delay", "Next": "Until"},
        "Until": {"Type": "Wait", "Timestamp": later, "Next": "UntilFromInput"},
        "UntilFromInput": {"Type": "Wait", "TimestampPath": "$.at", "End": True},
    }
    started = time.monotonic()
    result = run(machine(states), {"delay": 45, "at": "2020-01-01T00:00:00Z"})
    assert time.monotonic() - started < 1
    assert result.status == "SUCCEEDED"
    assert result.output == {"delay": 45, "at": "2020-01-01T00:00:00Z"}
    assert [(w.state, w.until) for w in result.waits] == [
        ("Fixed", None),
        ("FromInput", None),
        ("Until", later),
        ("UntilFromInput", "2020-01-01T00:00:00Z"),
    ]
    assert [w.seconds for w in result.waits][:2] == [30, 45]
    assert 90 < result.waits[2].seconds <= 100
    assert result.waits[3].seconds == 0


@pytest.mark.parametrize("delay", [-1, 1.5, "10", True])
def test_seconds_path_must_give_a_non_negative_whole_number(delay):
    states = {"Wait": {"Type": "Wait", "SecondsPath": "$.delay", "End": True}}
    assert run(machine(states), {"delay": delay}).error == "States.Runtime"


def test_an_express_execution_that_would_wait_past_five_minutes_times_out():
    states = {"Long": {"Type": "Wait", "Seconds": 301, "End": True}}
    result = run(machine(states))
    assert (result.status, result.error) == ("TIMED_OUT", "States.Timeout")
    assert run(machine(states), express=False).status == "SUCCEEDED"  # a Standard execution may run a year


def test_retry_intervals_count_toward_the_five_minutes_and_no_catch_stops_the_timeout():
    retry = [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 101, "MaxAttempts": 3, "BackoffRate": 1}]
    state = invoke_state(Retry=retry, Catch=[{"ErrorEquals": ["States.ALL"], "Next": "Caught"}], End=True)
    result = run(machine({"Call": state, "Caught": {"Type": "Succeed"}}), functions=Functions(failing()))
    assert result.status == "TIMED_OUT"


def test_map_iterations_wait_side_by_side_not_one_after_another():
    state = map_state({"Pause": {"Type": "Wait", "Seconds": 200, "End": True}})
    result = run(machine({"Each": state}), [1, 2, 3])
    assert result.status == "SUCCEEDED"
    assert len(result.waits) == 3


# -- the 256 KiB quota -----------------------------------------------------------------------------

BIG = "x" * PAYLOAD_LIMIT_BYTES


def test_a_task_result_over_256_kib_is_data_limit_exceeded_which_states_all_does_not_catch():
    catch_all = invoke_state(Retry=[{"ErrorEquals": ["States.ALL"]}], Catch=[{"ErrorEquals": ["States.ALL"], "Next": "Caught"}], End=True)
    functions = Functions(lambda payload: BIG)
    result = run(machine({"Call": catch_all, "Caught": {"Type": "Succeed"}}), functions=functions)
    assert (result.status, result.error, len(functions.calls)) == ("FAILED", "States.DataLimitExceeded", 1)

    by_name = invoke_state(Catch=[{"ErrorEquals": ["States.DataLimitExceeded"], "ResultPath": "$.error", "Next": "Caught"}], End=True)
    result = run(machine({"Call": by_name, "Caught": {"Type": "Pass", "End": True}}), functions=Functions(lambda payload: BIG))
    assert result.status == "SUCCEEDED"
    assert result.output["error"]["Error"] == "States.DataLimitExceeded"


def test_an_execution_input_or_a_state_output_over_256_kib_fails_the_execution():
    assert run(machine({"Same": {"Type": "Pass", "End": True}}), {"big": BIG}).error == "States.DataLimitExceeded"
    states = {"Grow": {"Type": "Pass", "Result": BIG[:200_000], "ResultPath": "$.a", "Next": "Again"},
              "Again": {"Type": "Pass", "Result": BIG[:200_000], "ResultPath": "$.b", "End": True}}  # fmt: skip
    result = run(machine(states))
    assert (result.status, result.error) == ("FAILED", "States.DataLimitExceeded")
    assert "'Again'" in result.cause


def test_a_state_input_over_256_kib_after_parameters_fails_before_the_task_runs():
    functions = Functions()
    state = invoke_state(Parameters={"FunctionName": FUNCTION_ARN, "Payload": {"a.$": "$.half", "b.$": "$.half"}}, End=True)
    result = run(machine({"Call": state}), {"half": BIG[:140_000]}, functions)
    assert (result.error, functions.calls) == ("States.DataLimitExceeded", [])


# -- SQS -------------------------------------------------------------------------------------------


def test_send_message_sends_an_object_body_as_its_json():
    sqs = SentMessages()
    state = {"Type": "Task", "Resource": SQS_SEND_MESSAGE, "End": True,
             "Parameters": {"QueueUrl": "https://queue", "MessageBody": {"shard.$": "$.shard", "fixed": "é"}}}  # fmt: skip
    result = run(machine({"Send": state}), {"shard": {"index": 1}}, sqs=sqs)
    assert sqs.sent == [{"QueueUrl": "https://queue", "MessageBody": '{"shard":{"index":1},"fixed":"é"}'}]
    assert result.output["MessageId"] == "m-1"


def test_an_sqs_error_is_named_after_sqs_and_its_code():
    class Refusing:
        def send_message(self, **request):
            raise ClientError({"Error": {"Code": "QueueDoesNotExist", "Message": "no such queue"}}, "SendMessage")

    state = {"Type": "Task", "Resource": SQS_SEND_MESSAGE, "Parameters": {"QueueUrl": "u", "MessageBody": "b"}, "End": True}
    assert run(machine({"Send": state}), sqs=Refusing()).error == "SQS.QueueDoesNotExist"


# -- what is refused -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("states", "named"),
    [
        ({"P": {"Type": "Parallel", "Branches": [], "End": True}}, "Parallel"),
        ({"T": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:putItem", "End": True}}, "dynamodb:putItem"),
        ({"T": invoke_state(Resource="arn:aws:states:::lambda:invoke.waitForTaskToken", End=True)}, "waitForTaskToken"),
        ({"P": {"Type": "Pass", "Parameters": {"a.$": "States.Format('{}', $.x)"}, "End": True}}, "States.Format"),
        ({"P": {"Type": "Pass", "Parameters": {"a.$": "$..x"}, "End": True}}, "$..x"),
        ({"P": {"Type": "Pass", "Assign": {"a": 1}, "End": True}}, "Assign"),
        ({"C": {"Type": "Choice", "Choices": [{"Variable": "$.t", "TimestampEquals": "2020-01-01T00:00:00Z", "Next": "C"}]}},
         "TimestampEquals"),
        ({"M": {"Type": "Map", "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED"}, **machine({"S": {"Type": "Succeed"}})},
                "End": True}}, "DISTRIBUTED"),
    ],
)  # fmt: skip
def test_what_the_local_stack_does_not_perform_is_refused_by_name_up_front(states, named):
    with pytest.raises(NotImplementedError, match=re.escape(named)):
        Interpreter(machine(states), {LAMBDA_INVOKE: lambda p: p, SQS_SEND_MESSAGE: lambda p: p})


@pytest.mark.parametrize(
    ("states", "problem"),
    [
        ({"A": {"Type": "Pass", "Next": "Nowhere"}}, "missing state(s) Nowhere"),
        ({"A": {"Type": "Pass", "End": True}, "B": {"Type": "Succeed"}}, "B: unreachable"),
        ({"A": {"Type": "Pass"}}, "exactly one of Next and End"),
        ({"A": invoke_state(Retry=[{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["Boom"]}], End=True)}, "States.ALL must appear alone"),
        ({"A": invoke_state(Catch=[{"ErrorEquals": ["States.ALL", "Boom"], "Next": "A"}], End=True)}, "States.ALL must appear alone"),
        ({"M": map_state({"X": {"Type": "Pass", "Next": "M"}})}, "M: X: transitions to missing state(s) M"),
    ],
)
def test_a_definition_aws_would_refuse_is_refused(states, problem):
    assert any(problem in p for p in definition_problems(machine(states)))
    with pytest.raises(InvalidDefinition, match=re.escape(problem)):
        definition_of({"Definition": machine(states)}, lambda node: node)


def test_definition_substitutions_are_made_in_the_text_as_cloudformation_makes_them():
    props = {
        "Definition": machine({"A": invoke_state(Parameters={"FunctionName": "${Fn}"}, End=True)}),
        "DefinitionSubstitutions": {"Fn": "x"},
    }
    assert definition_of(props, lambda node: node)["States"]["A"]["Parameters"]["FunctionName"] == "x"
    props["DefinitionSubstitutions"] = {"Fn": 'a"b'}
    with pytest.raises(InvalidDefinition, match="not JSON"):
        definition_of(props, lambda node: node)


# -- the template's state machines ---------------------------------------------------------------


def template_state_machines():
    template = deployed_template(every_provider())
    resolver = Resolver(template, "stack", {logical_id: f"stack-{logical_id}" for logical_id in template["Resources"]}, every_provider())
    found = {}
    for resource_type in STATE_MACHINE_TYPES:
        for logical_id, resource in resources_of_type(template, resource_type).items():
            if resolver.deployed(resource):
                found[logical_id] = definition_of(resource["Properties"], resolver.resolve)
    return found


def test_there_is_a_shard_state_machine_per_provider():
    assert {f"{p}Shards" for p in every_provider()["Providers"].split(",")} <= set(template_state_machines())


@pytest.mark.parametrize(("logical_id", "definition"), list(template_state_machines().items()))
def test_every_state_machine_of_the_template_is_asl_moto_parses_and_the_local_stack_performs(logical_id, definition):
    AmazonStateLanguageParser.parse(json.dumps(definition))  # raises ASLParserException on what is not ASL
    assert definition_problems(definition) == []
    Interpreter(definition, {LAMBDA_INVOKE: lambda p: p, SQS_SEND_MESSAGE: lambda p: p}, label=logical_id)
