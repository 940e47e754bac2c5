"""What people receive: one message per notification group, and its body as each chat format wants it.

An alert alone is sent as its own message. Alerts decided together (many accounts of one provider crossing
a threshold in the same round: a shared allowance reset, a price change) reach email, SMS and chat as one
message listing the first GROUP_LINES of them and counting the rest; machines still get one event each.

Every chat format is rendered here, from our own words and the (cleaned) vendor text inside them, into an
object the event carries (``payloads``): EventBridge copies it into a channel's request as JSON (a rule's
InputPath), never pasting a value into a JSON string of a template, which AWS does without escaping.
Each format's own markup is escaped: Slack's ``& < >`` (no mention or link can be forged), Markdown for
Discord and Amazon Q Developer (a code block cannot be closed from inside), and Discord never pings.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from credit_monitor.alerting.labels import pairs
from credit_monitor.alerting.messages import SMS_LIMIT, SUBJECT_LIMIT, ascii_line
from credit_monitor.alerting.rules import FAILURE, RECOVERY, STALE, THRESHOLD
from credit_monitor.model import AlertMessage
from credit_monitor.storage.groups import Members

GROUP_LINES = 20  # accounts a grouped message lists; the rest are counted (GET /alerts lists every one)
DISCORD_TITLE, DISCORD_DESCRIPTION = 256, 4096  # Discord embed limits
CHAT_DESCRIPTION = 8000


def group_of(message: AlertMessage) -> tuple[str, dict[str, Any]]:
    """The group an alert joins: its provider, event, level, condition and labels (a group is sent to the
    channels its labels route to, so its alerts share them), and the facts its message is composed from."""
    detail = message.detail
    labels = detail.get("labels") or {}
    facts = {"provider": detail.get("provider"), "event": detail.get("event"), "level": detail.get("level"),
             "condition": detail.get("condition"), "labels": labels}  # fmt: skip
    group = "|".join(str(facts[name]) for name in ("provider", "event", "level", "condition")) + "|" + ",".join(pairs(labels))
    return group, facts


def compose(facts: dict[str, Any], members: Members) -> AlertMessage:
    """The group's one message: the alert itself when it is alone, else a summary listing the first few."""
    if members.total == 1:
        alert_id, message = members.first[0]
        return replace(message, detail={**message.detail, "alert_ids": [alert_id]})
    provider, event, level, total = facts["provider"], facts["event"], str(facts["level"]), members.total
    subject = _group_subject(provider, event, level, total)
    shown = [message.sms for _, message in members.first]
    more = total - len(shown)
    lines = [subject, "", *(f"- {line}" for line in shown)]
    if more:
        lines.append(f"- and {more:,} more (GET /alerts?provider={provider} lists every one)")
    advice = members.first[0][1].body.rsplit("What to do: ", 1)
    if len(advice) == 2:
        lines += ["", f"What to do: {advice[1]}"]
    labels = facts.get("labels") or {}
    detail = {"provider": provider, "account": "*", "event": event, "level": level, "previous_level": None,
              "condition": facts.get("condition"), "count": total, "accounts": [m.detail.get("account") for _, m in members.first],
              "alert_ids": [alert_id for alert_id, _ in members.first], "labels": labels, "label_pairs": pairs(labels)}  # fmt: skip
    attributes = {"provider": provider, "account": "*", "level": level, "event": event, **{f"label.{k}": v for k, v in labels.items()}}
    sms = ascii_line(f"{subject}, e.g. {shown[0]}", SMS_LIMIT)
    return AlertMessage(ascii_line(subject, SUBJECT_LIMIT), "\n".join(lines), sms, attributes, detail)


def _group_subject(provider: str, event: str, level: str, total: int) -> str:
    if event == THRESHOLD:
        return f"{provider}: {total:,} accounts {level.upper()}"
    if event == RECOVERY:
        return f"{provider}: {total:,} accounts recovered"
    if event == FAILURE:
        return f"{provider}: {total:,} accounts' polls failing"
    if event == STALE:
        return f"{provider}: {total:,} accounts' balances stale"
    return f"{provider}: {total:,} {event} alerts"


# -- per-channel payloads ---------------------------------------------------------------------------


def _unfenced(text: str) -> str:
    """Text that cannot close the code block it is shown in: a zero-width space breaks every run of backticks."""
    return re.sub(r"`{3,}", lambda m: "\u200b".join(m.group(0)), text)


def _bracketless(text: str) -> str:
    """For Amazon Q's cards, shown in Slack or Teams alike: no entity either would read (<!channel>, <@U1>) and
    no HTML entity Teams would print as it is; the look-alike angle quotes read the same."""
    return text.replace("<", "\u2039").replace(">", "\u203a")


def slack_escape(text: str) -> str:
    """Slack's mrkdwn control characters (https://api.slack.com/reference/surfaces/formatting#escaping):
    escaped, no ``<!channel>``, ``<@U...>`` or ``<http://...|label>`` in a vendor's text ever renders."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_MARKDOWN = re.compile(r"([\\`*_~|<>\[\]])")


def markdown_escape(text: str) -> str:
    """Markdown outside a code block (Discord's titles, Amazon Q's titles): every control character escaped."""
    return _MARKDOWN.sub(r"\\\1", text)


def _no_pings(text: str) -> str:
    return re.sub(r"@(everyone|here)", "@\u200b\\1", text)


def payloads(message: AlertMessage, notification_id: str, *, test: bool) -> dict[str, Any]:
    """The request each chat channel gets (the notification event's ``payloads``), escaped for its format."""
    detail = message.detail
    where = f"{detail.get('provider')}/{detail.get('account')}"
    ids = detail.get("alert_ids") or []
    about = f"alert {ids[0]}" if len(ids) == 1 else f"{detail.get('count', len(ids))} alerts" if ids else notification_id
    context = f"credit-monitor | {where} | {detail.get('event')} | {detail.get('level')} | {about}"
    subject = _unfenced(message.subject)
    slack = {
        "text": slack_escape(subject),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{slack_escape(subject)}*"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": f"```{slack_escape(_unfenced(message.body))}```"}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": slack_escape(context)}]},
        ],
    }
    discord = {
        "username": "credit-monitor",
        "allowed_mentions": {"parse": []},  # nothing in a message ever pings anyone
        "embeds": [{"title": _no_pings(markdown_escape(message.subject))[:DISCORD_TITLE],
                    "description": _no_pings(f"```\n{_unfenced(message.body)[: DISCORD_DESCRIPTION - 8]}\n```"),
                    "footer": {"text": _no_pings(context)[:2048]}}],
    }  # fmt: skip
    keywords = [str(detail.get(name)) for name in ("provider", "level", "event") if detail.get(name)]
    chat = {
        "version": "1.0", "source": "custom", "id": notification_id,
        "content": {"textType": "client-markdown", "title": markdown_escape(message.subject),
                    "description": f"```\n{_bracketless(_unfenced(message.body))[: CHAT_DESCRIPTION - 8]}\n```", "keywords": keywords},
        "metadata": {"threadId": where, "summary": markdown_escape(message.subject), "eventType": f"credit-balance-{detail.get('event')}",
                     "additionalContext": {"notification_id": notification_id, "test": str(test).lower()}},
    }  # fmt: skip
    return {"slack": slack, "discord": discord, "chat": chat}


def pagerduty(message: AlertMessage, detail: dict[str, Any]) -> dict[str, Any]:
    """The PagerDuty Events API v2 request of an alert (the routing key joins it from the connection): a
    condition that cleared resolves its incident, anything else triggers (or updates) it."""
    dedup = f"credit-monitor/{detail.get('provider')}/{detail.get('account')}/{detail.get('condition')}"
    if detail.get("resolved"):
        return {"event_action": "resolve", "dedup_key": dedup}
    facts = {k: v for k, v in detail.items() if k not in ("payloads", "message")}
    source = f"credit-monitor/{detail.get('provider')}/{detail.get('account')}"
    return {"event_action": "trigger", "dedup_key": dedup,
            "payload": {"summary": message.subject[:1024], "source": source, "severity": detail.get("severity") or "warning",
                        "component": detail.get("provider"), "group": detail.get("account"), "class": detail.get("event"),
                        "custom_details": facts}}  # fmt: skip
