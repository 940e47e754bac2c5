"""Least privilege, checked on the IAM roles SAM generates from template.yaml (not only on its source).

The SAM translator turns policy templates (AWSSecretsManagerGetSecretValuePolicy, ...) and event
sources into the roles CloudFormation will create; each role is read back here.
"""

import copy
import os

import pytest
from samtranslator.translator.transform import transform

from credit_monitor.polling.providers import known_providers
from devstack.template import deployed_template, every_provider

MANAGED = {
    "AWSLambdaBasicExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "AWSXrayWriteOnlyAccess": "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
    "AWSLambdaDynamoDBExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaDynamoDBExecutionRole",
}


class _ManagedPolicies:
    def load(self):
        return MANAGED


@pytest.fixture(scope="module")
def roles():
    # CloudFormation runs AWS::LanguageExtensions (Fn::ForEach over Providers) before the SAM transform.
    template = deployed_template(every_provider())
    template["Transform"] = "AWS::Serverless-2016-10-31"
    for resource in template["Resources"].values():
        for key in ("CodeUri", "ContentUri"):
            if key in resource.get("Properties", {}):
                resource["Properties"][key] = "s3://bucket/key"  # what sam package would put there
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    translated = transform(copy.deepcopy(template), {}, _ManagedPolicies())
    return {name[: -len("Role")]: res["Properties"] for name, res in translated["Resources"].items() if res["Type"] == "AWS::IAM::Role"}


def statements(role):
    found = []
    for policy in role.get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            found.append((sorted(actions), resources))
    return found


def actions_on(role, predicate):
    return sorted({a for actions, resources in statements(role) for a in actions if any(predicate(r) for r in resources)})


def refers_to(resource, logical_id):
    text = str(resource)
    return f"'{logical_id}'" in text or f"${{{logical_id}}}" in text or f"{logical_id}." in text


POLLERS = [f"{''.join(c for c in provider if c.isalnum())}Poller" for provider in known_providers()]


@pytest.mark.parametrize("poller", POLLERS)
def test_a_poller_reads_only_its_own_secrets(roles, poller):
    provider = next(p for p in known_providers() if "".join(c for c in p if c.isalnum()) + "Poller" == poller)
    role = roles[poller]
    secret_statements = [(a, r) for a, r in statements(role) if any(x.startswith("secretsmanager:") for x in a)]
    reads = [(a, r) for a, r in secret_statements if a != ["secretsmanager:ListSecrets"]]
    assert reads, "the poller must be able to read its secrets"
    for actions, resources in reads:
        assert actions == ["secretsmanager:GetSecretValue"]
        arn = (
            f"arn:${{AWS::Partition}}:secretsmanager:${{AWS::Region}}:${{AWS::AccountId}}:secret:${{AWS::StackName}}/{provider}/api-keys-*"
        )
        assert [str(r) for r in resources] == [str({"Fn::Sub": arn})]
    # Listing names is all it may do with other secrets (ListSecrets has no resource type; it returns no value).
    assert [(a, r) for a, r in secret_statements if a == ["secretsmanager:ListSecrets"]] == [(["secretsmanager:ListSecrets"], ["*"])]


@pytest.mark.parametrize("poller", POLLERS)
def test_a_poller_writes_only_the_table_and_its_dead_letter_queue(roles, poller):
    role = roles[poller]
    for actions, resources in statements(role):
        if any(a.startswith("dynamodb:") for a in actions):
            assert all(refers_to(r, "BalancesTable") for r in resources)
        if any(a.startswith("sqs:") for a in actions):
            assert actions == ["sqs:SendMessage"]
            assert all(refers_to(r, "AsyncDeadLetterQueue") for r in resources)
    assert not any(a.startswith(("sns:", "ssm:")) for actions, _ in statements(role) for a in actions)


def test_the_api_role_can_only_query_the_table(roles):
    role = roles["BalanceApiFunction"]
    assert statements(role) == [(["dynamodb:Query"], [{"Fn::GetAtt": ["BalancesTable", "Arn"]}])]
    assert sorted(role["ManagedPolicyArns"]) == sorted([MANAGED["AWSLambdaBasicExecutionRole"], MANAGED["AWSXrayWriteOnlyAccess"]])


def test_only_the_aggregator_publishes_alerts_and_reads_the_thresholds(roles):
    for name, role in roles.items():
        publishes = actions_on(role, lambda r: refers_to(r, "AlertTopic"))
        reads_thresholds = [a for actions, _ in statements(role) for a in actions if a.startswith("ssm:")]
        if name == "Aggregator":
            assert publishes == ["sns:Publish"]
            assert reads_thresholds
        else:
            assert publishes == [], name
            assert reads_thresholds == [], name


def test_no_inline_statement_grants_every_resource(roles):
    """But secretsmanager:ListSecrets, which IAM cannot narrow (it has no resource type) and which returns names only."""
    for name, role in roles.items():
        for actions, resources in statements(role):
            if actions == ["secretsmanager:ListSecrets"]:
                continue
            assert "*" not in resources, f"{name}: {actions} on *"


def test_the_aggregator_reads_its_tables_stream_not_every_stream(roles):
    assert MANAGED["AWSLambdaDynamoDBExecutionRole"] not in roles["Aggregator"].get("ManagedPolicyArns", [])
    stream = [(a, r) for a, r in statements(roles["Aggregator"]) if "dynamodb:GetRecords" in a]
    assert stream == [(["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"],
                       [{"Fn::GetAtt": ["BalancesTable", "StreamArn"]}])]  # fmt: skip


@pytest.mark.parametrize("poller", POLLERS)
def test_a_shard_state_machine_invokes_only_its_own_poller(roles, poller):
    role = roles[poller.replace("Poller", "Shards")]
    invokes = [r for a, r in statements(role) if "lambda:InvokeFunction" in a]
    assert invokes
    assert all(refers_to(x, poller) for resources in invokes for x in resources)
    assert all(not refers_to(x, other) for resources in invokes for x in resources for other in POLLERS if other != poller)


def test_the_alert_timer_invokes_only_the_aggregator(roles):
    invokes = [r for a, r in statements(roles["AlertTimer"]) if "lambda:InvokeFunction" in a]
    assert invokes
    assert all(refers_to(x, "Aggregator") for resources in invokes for x in resources)


def test_only_the_aggregator_puts_events_and_only_on_the_alert_bus(roles):
    for name, role in roles.items():
        puts = [(actions, resources) for actions, resources in statements(role) if "events:PutEvents" in actions]
        if name == "Aggregator":
            [(actions, resources)] = puts
            assert actions == ["events:PutEvents"]
            assert all("event-bus/${eventBusName}" in str(r) and "EventBusName" in str(r) for r in resources), resources
        else:
            assert puts == [], name


def test_eventbridge_may_only_call_the_alert_webhooks(roles):
    [(actions, resources)] = statements(roles["Webhook"])
    assert actions == ["events:InvokeApiDestination"]
    conditions = ("HasSlackWebhook", "HasDiscordWebhook", "HasGenericWebhook", "HasPagerDuty")
    assert all(r.get("Fn::If", [None])[0] in conditions for r in resources)
    assert "Policies" not in roles["Chatbot"]  # a chat channel can only show alerts
