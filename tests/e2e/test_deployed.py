"""End-to-end tests against a deployed stack. Skipped unless AWS_SAM_STACK_NAME names one.

    AWS_SAM_STACK_NAME=credit-monitor E2E_ACCOUNT=crun/prod .venv/bin/python -m pytest tests/e2e

E2E_ACCOUNT names an account whose key is in its provider's secret; the alert test needs it. The
tests change nothing permanently: the throwaway threshold is removed and the temporary queue deleted.
"""

import json
import os
import time
import uuid

import boto3
import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

STACK = os.environ.get("AWS_SAM_STACK_NAME")
pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not STACK, reason="AWS_SAM_STACK_NAME is not set: no deployed stack to test")]


def poller_output(provider: str) -> str:
    """The stack output naming a provider's poller: its id without non-alphanumerics (Fn::ForEach's &{Provider})."""
    return "".join(c for c in provider if c.isalnum()) + "PollerName"


@pytest.fixture(scope="module")
def outputs():
    [stack] = boto3.client("cloudformation").describe_stacks(StackName=STACK)["Stacks"]
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


@pytest.fixture(scope="module")
def account():
    target = os.environ.get("E2E_ACCOUNT", "")
    if "/" not in target:
        pytest.skip("E2E_ACCOUNT=<provider>/<account> is not set")
    return tuple(target.split("/", 1))


def signed_get(url):
    session = boto3.Session()
    request = AWSRequest(method="GET", url=url)
    SigV4Auth(session.get_credentials(), "execute-api", session.region_name).add_auth(request)
    return requests.get(url, headers=dict(request.headers), timeout=30)


def invoke(function, payload):
    response = boto3.client("lambda").invoke(FunctionName=function, Payload=json.dumps(payload).encode())
    body = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, body
    return body


def test_a_deployed_poller_polls_and_the_api_returns_the_balance(outputs, account):
    provider, name = account
    summary = invoke(outputs[poller_output(provider)], {"accounts": [name]})
    assert summary["polled"] == 1, summary
    balance = signed_get(f"{outputs['BalanceApiUrl']}/balances/{provider}/{name}")
    assert balance.status_code == 200, balance.text
    assert (balance.json()["provider"], balance.json()["account"]) == (provider, name)
    assert balance.json()["status"] == summary["accounts"][0]["status"]
    assert signed_get(f"{outputs['BalanceApiUrl']}/balances").json()["balances"]


def test_the_api_refuses_unsigned_requests(outputs):
    assert requests.get(f"{outputs['BalanceApiUrl']}/balances", timeout=30).status_code == 403


def test_the_poll_metrics_reach_cloudwatch(outputs, account):
    provider, name = account
    invoke(outputs[poller_output(provider)], {"accounts": [name]})
    cloudwatch = boto3.client("cloudwatch")
    deadline = time.time() + 600
    while time.time() < deadline:
        # Per provider, whatever AccountMetrics says: no series per account by default.
        dimensions = [{"Name": "Provider", "Value": provider}]
        found = cloudwatch.list_metrics(Namespace="CreditMonitor", MetricName="PollFailures", Dimensions=dimensions)
        if found["Metrics"]:
            return
        time.sleep(30)
    pytest.fail("PollFailures did not appear within 10 minutes")


def test_a_throwaway_threshold_raises_an_alert_on_the_topic(outputs, account):
    provider, name = account
    ssm, sqs, sns = boto3.client("ssm"), boto3.client("sqs"), boto3.client("sns")
    parameter = outputs["ThresholdsParameterName"]
    original = ssm.get_parameter(Name=parameter)["Parameter"]["Value"]
    queue_url = sqs.create_queue(QueueName=f"credit-monitor-e2e-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy = {"Statement": [{"Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
                             "Resource": queue_arn, "Condition": {"ArnEquals": {"aws:SourceArn": outputs["AlertTopicArn"]}}}]}  # fmt: skip
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)})
    subscription = sns.subscribe(TopicArn=outputs["AlertTopicArn"], Protocol="sqs", Endpoint=queue_arn, ReturnSubscriptionArn=True)
    try:
        thresholds = {**json.loads(original), f"{provider}/{name}": {"warning": 1e14, "critical": 1e13}}
        ssm.put_parameter(Name=parameter, Value=json.dumps(thresholds), Overwrite=True)
        time.sleep(65)  # the aggregator caches the parameter for a minute
        invoke(outputs[poller_output(provider)], {"accounts": [name]})
        deadline, subjects = time.time() + 180, []
        while time.time() < deadline and not subjects:
            for message in sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=20, MaxNumberOfMessages=10).get("Messages", []):
                subjects.append(json.loads(message["Body"])["Subject"])
        assert any(s.startswith(f"{provider}/{name} CRITICAL") for s in subjects), subjects
    finally:
        ssm.put_parameter(Name=parameter, Value=original, Overwrite=True)
        sns.unsubscribe(SubscriptionArn=subscription["SubscriptionArn"])
        sqs.delete_queue(QueueUrl=queue_url)
