"""Labels route alerts: each channel of the template receives only the alerts its label filter names, and
the routing is AWS's (the rules' event patterns, matched by moto and performed from template.yaml), not ours."""

import io
import json

import pytest

from devstack.events import EventRouter
from devstack.invoke import function_invoker, invoke_aggregator, invoke_api, invoke_poller, reset_warm_state
from devstack.moto_stack import LocalStack
from devstack.stepfunctions import StateMachineRunner
from devstack.streams import StreamPump
from devstack.template import every_provider

pytestmark = pytest.mark.integration

LABELS = {"default": {"team": "platform"}, "pixverse": {"team": "video"}, "sunor": {"team": "audio"}, "sunor/staging*": {"env": "staging"}}


@pytest.fixture
def routed(webhooks, sims):
    """A stack whose Slack webhook takes team=video, its Discord webhook team=audio, its generic webhook everything."""
    parameters = {**every_provider(), "SlackWebhookUrl": webhooks.url("/slack-video"), "SlackWebhookLabels": "team=video",
                  "DiscordWebhookUrl": webhooks.url("/discord-audio"), "DiscordWebhookLabels": "team=audio",
                  "GenericWebhookUrl": webhooks.url("/generic")}  # fmt: skip
    webhooks.reset()
    with LocalStack(stack_name="credit-monitor-labels", parameters=parameters) as stack:
        reset_warm_state()
        stack.create_resources()
        stack.set_thresholds(json.dumps({"default": {"warning": 500, "critical": 100}, "labels": LABELS}))
        yield stack
    reset_warm_state()


def test_two_channels_with_different_label_filters_each_receive_only_their_alerts(routed, sims, webhooks):
    stack = routed
    inbox = stack.subscribe_inbox("video-team", filter_policy={"label.team": ["video"]})  # an SNS subscription, filtered alike
    for provider, key in (("pixverse", "pk-video"), ("sunor", "sk-audio"), ("crun", "ck-other")):
        sims[provider].set_balance(key, 1000)
        stack.put_api_keys(provider, {"prod": sims[provider].credentials(key)})
    pump, router = StreamPump(stack), EventRouter(stack)
    output = io.StringIO()
    machines = StateMachineRunner(stack, function_invoker(stack, {p: s.base_url for p, s in sims.items()}, output=output))

    def round_() -> None:
        for provider in ("pixverse", "sunor", "crun"):
            invoke_poller(stack, provider, {}, base_url=sims[provider].base_url, output=output)
        pump.deliver(lambda batch: invoke_aggregator(stack, batch, output=output))
        while machines.run_pending():
            pass
        router.deliver()

    round_()
    for provider, key in (("pixverse", "pk-video"), ("sunor", "sk-audio"), ("crun", "ck-other")):
        sims[provider].set_balance(key, 50)
    round_()

    slack = [r.body["text"] for r in webhooks.at("/slack-video")]
    discord = [r.body["embeds"][0]["title"] for r in webhooks.at("/discord-audio")]
    generic = sorted(r.body["alert"]["provider"] for r in webhooks.at("/generic"))
    assert slack == ["pixverse/prod CRITICAL: 50 credits left"]
    assert discord == ["sunor/prod CRITICAL: 50 credits left"]
    assert generic == ["crun", "pixverse", "sunor"]  # no filter: every alert
    assert [m["subject"] for m in inbox.fetch()] == ["pixverse/prod CRITICAL: 50 credits left"]
    labelled = {a["provider"]: a["labels"] for a in invoke_api(stack, "/alerts").body["items"]}
    assert labelled == {"pixverse": {"team": "video"}, "sunor": {"team": "audio"}, "crun": {"team": "platform"}}
    audio = invoke_api(stack, "/alerts", {"label": "team=audio"}).body["items"]
    assert [a["provider"] for a in audio] == ["sunor"]
    assert invoke_api(stack, "/balances/sunor/prod").body["labels"] == {"team": "audio"}
