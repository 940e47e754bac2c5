"""A provider added by a definition file alone (OpenRouter) goes through poll, alert and API like a built-in."""

import pytest

from devstack.invoke import invoke_api

pytestmark = pytest.mark.integration


def test_a_defined_provider_is_polled_alerted_on_and_served(stack, sims, poll, aggregate, inbox):
    stack.set_thresholds('{"default": {"warning": 500, "critical": 100}, "openrouter": {"warning": 20, "critical": 5}}')
    sims["openrouter"].set_balance("sk-or-prod", 37.5)
    sims["openrouter"].set_balance("sk-or-dev", 2)
    stack.put_api_keys("openrouter", {"prod": "sk-or-prod", "dev": "sk-or-dev", "old": "sk-or-revoked"})

    run = poll("openrouter")
    aggregate.stream()

    assert (run.summary["succeeded"], run.summary["failed"]) == (2, 1)
    [request] = [r for r in sims["openrouter"].requests if r.headers["authorization"] == "Bearer sk-or-prod"]
    assert request.path == "/api/v1/key"  # what an ordinary (non-management) key may read
    prod = invoke_api(stack, "/balances/openrouter/prod").body
    assert (prod["available"], prod["unit"], prod["status"], prod["alert_level"]) == (37.5, "USD", "ok", "ok")
    assert prod["breakdown"] == {"limit": 100, "usage": 25.5, "limit_reset": "monthly"}
    assert prod["allowance"] == 100  # the key's credit limit: what percent thresholds will be relative to
    old = invoke_api(stack, "/balances/openrouter/old").body
    assert (old["status"], old["error_kind"]) == ("error", "auth")
    assert "openrouter code 401: No auth credentials found" in old["error"]
    assert [m["subject"] for m in inbox.fetch()] == ["openrouter/dev CRITICAL: 2 USD left"]
    assert [b["account"] for b in invoke_api(stack, "/balances/openrouter").body["balances"]] == ["dev", "old", "prod"]
    assert [(m["Provider"], m["LowestAvailable"]) for m in run.metrics("LowestAvailable")] == [("openrouter", [2.0])]
