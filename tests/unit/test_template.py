"""template.yaml says what DESIGN.md promises: resources, contract variables, least privilege."""

import tomllib

import pytest

from credit_monitor.providers import PROVIDERS
from credit_monitor.store import TTL_ATTRIBUTE
from devstack import ROOT
from devstack.template import load_template, resources_of_type

TEMPLATE = load_template()
RESOURCES = TEMPLATE["Resources"]
FUNCTIONS = resources_of_type(TEMPLATE, "AWS::Serverless::Function")
POLLERS = {
    f["Properties"]["Environment"]["Variables"]["PROVIDER"]: (name, f)
    for name, f in FUNCTIONS.items()
    if "PROVIDER" in f["Properties"].get("Environment", {}).get("Variables", {})
}


def test_sections_come_in_the_conventional_order():
    sections = [key for key in TEMPLATE if key in ("Parameters", "Globals", "Resources", "Outputs")]
    assert sections == ["Parameters", "Globals", "Resources", "Outputs"]


def test_globals_set_runtime_architecture_tracing_and_powertools():
    function = TEMPLATE["Globals"]["Function"]
    assert function["Runtime"] == "python3.13"
    assert function["Architectures"] == ["arm64"]
    assert function["Tracing"] == "Active"
    assert {"Timeout", "MemorySize"} <= function.keys()
    variables = function["Environment"]["Variables"]
    assert variables["POWERTOOLS_SERVICE_NAME"] == "credit-monitor"
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "CreditMonitor"
    assert variables["TABLE_NAME"] == {"Ref": "BalancesTable"}


def test_there_is_one_poller_per_provider_sharing_one_handler():
    assert set(POLLERS) == {"crun", "sunor", "srtgen", "apimall", "pixverse"}
    for _, function in POLLERS.values():
        props = function["Properties"]
        assert props["CodeUri"] == "functions/poller/"
        assert props["Handler"] == "poll_handler.lambda_handler"
    assert (ROOT / "functions" / "poller" / "poll_handler.py").is_file()


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_each_poller_has_the_contract_variables(provider):
    _, function = POLLERS[provider]
    variables = function["Properties"]["Environment"]["Variables"]
    assert {"PROVIDER", "PROVIDER_BASE_URL", "API_KEYS_SECRET"} <= variables.keys()
    base_url_parameter = TEMPLATE["Parameters"][variables["PROVIDER_BASE_URL"]["Ref"]]
    assert base_url_parameter["Default"] == PROVIDERS[provider].default_base_url
    secret = RESOURCES[variables["API_KEYS_SECRET"]["Ref"]]
    assert secret["Type"] == "AWS::SecretsManager::Secret"
    assert secret["Properties"]["SecretString"] == "{}"  # a placeholder the operator fills


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_each_poller_reads_only_its_own_secret_and_writes_only_the_table(provider):
    _, function = POLLERS[provider]
    own_secret = function["Properties"]["Environment"]["Variables"]["API_KEYS_SECRET"]
    policies = function["Properties"]["Policies"]
    secret_policies = [p["AWSSecretsManagerGetSecretValuePolicy"] for p in policies if "AWSSecretsManagerGetSecretValuePolicy" in p]
    assert secret_policies == [{"SecretArn": own_secret}]
    write_policies = [p["DynamoDBWritePolicy"] for p in policies if "DynamoDBWritePolicy" in p]
    assert write_policies == [{"TableName": {"Ref": "BalancesTable"}}]
    statements = [s for p in policies if "Statement" in p for s in p["Statement"]]
    assert statements == [
        {"Sid": "ReadPreviousBalances", "Effect": "Allow", "Action": "dynamodb:Query", "Resource": {"Fn::GetAtt": ["BalancesTable", "Arn"]}}
    ]
    names = {next(iter(p)) for p in policies}
    assert names <= {"AWSSecretsManagerGetSecretValuePolicy", "DynamoDBWritePolicy", "Statement"}


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_each_poller_has_its_own_schedule_that_can_be_switched_off(provider):
    _, function = POLLERS[provider]
    [event] = function["Properties"]["Events"].values()
    assert event["Type"] == "ScheduleV2"
    assert event["Properties"]["ScheduleExpression"] == {"Fn::Sub": "rate(${PollIntervalMinutes} minutes)"}
    state_parameter = TEMPLATE["Parameters"][event["Properties"]["State"]["Ref"]]
    assert state_parameter["AllowedValues"] == ["ENABLED", "DISABLED"]
    assert TEMPLATE["Parameters"]["PollIntervalMinutes"]["Default"] == 5


def test_the_table_is_on_demand_recoverable_expiring_and_streamed():
    [table] = resources_of_type(TEMPLATE, "AWS::DynamoDB::Table").values()
    props = table["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["TimeToLiveSpecification"] == {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}
    assert props["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert [k["AttributeName"] for k in props["KeySchema"]] == ["pk", "sk"]
    assert table["DeletionPolicy"] == "Retain"  # history outlives a torn-down stack


def test_the_layer_is_built_by_sam_for_the_runtime():
    [layer] = resources_of_type(TEMPLATE, "AWS::Serverless::LayerVersion").values()
    assert layer["Metadata"]["BuildMethod"] == "python3.13"
    assert layer["Properties"]["ContentUri"] == "layers/common/"
    assert (ROOT / "layers" / "common" / "requirements.txt").is_file()
    assert not (ROOT / "layers" / "common" / "python").exists()


def test_outputs_name_the_table_and_every_secret():
    outputs = TEMPLATE["Outputs"]
    assert outputs["BalancesTableName"]["Value"] == {"Ref": "BalancesTable"}
    secret_refs = [o["Value"] for o in outputs.values()]
    for _, function in POLLERS.values():
        assert {"Ref": function["Properties"]["Environment"]["Variables"]["API_KEYS_SECRET"]["Ref"]} in secret_refs


def test_samconfig_defaults():
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    assert config["version"] == 0.1
    assert config["default"]["validate"]["parameters"]["lint"] is True
    deploy = config["default"]["deploy"]["parameters"]
    assert deploy["confirm_changeset"] is True
    assert deploy["resolve_s3"] is True
    assert "CAPABILITY_IAM" in deploy["capabilities"]
