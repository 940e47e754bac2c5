"""Delivery: an alerting item's outbox to its channels, exactly once per channel, by whoever holds its lease.

The last stage of the pipeline (alerting.pipeline). Each channel that accepts a message is marked on it at
once, so a failure of another channel (or of recording the alert) never sends it to this one again:

- a channel accepts: the entry records it;
- a channel fails: the lease is released and PublishFailed raised, so the stream record (or the task) is
  retried and the message, still queued, goes to the channels that have not taken it. Nothing is lost;
- the last channel accepts: the entry leaves the outbox (with its record, for an alert) in one transaction;
- a sender dies holding the lease: the next attempt, or the scheduled check, sends it once the lease expires;
- a message arrives while another aggregator sends: the holder releases the lease only when the outbox is
  empty, so it sends that one too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from credit_monitor.errors import PublishFailed
from credit_monitor.model import AlertMessage
from credit_monitor.storage.alerts import AlertStore

Send = Callable[[AlertMessage, str], object]  # (message, its id); raises when the channel did not take it


@dataclass(frozen=True)
class Drained:
    sent: int  # messages that left the outbox
    emptied: bool  # the outbox was left empty and the lease released (False: another sender holds it)


@dataclass(frozen=True)
class Delivery:
    store: AlertStore
    channels: dict[str, Send]  # in the order they are tried
    record: bool  # whether a sent message is kept for GET /alerts (alerts are; a notification to people is not)

    def drain(self, key: dict[str, str]) -> Drained:
        """Send the item's pending messages, oldest first, if no one else holds its lease."""
        outbox = self.store.claim(key)
        if outbox is None:
            return Drained(0, emptied=False)
        sent = 0
        while outbox is not None:
            for message_id in sorted(outbox.entries):
                message, taken = outbox.entries[message_id]
                if not self._send(key, message_id, message, taken):
                    return Drained(sent, emptied=False)  # the lease was lost: its new holder sends the rest
                sent += 1
            outbox = self.store.release_if_empty(key)
        return Drained(sent, emptied=True)

    def _send(self, key: dict[str, str], message_id: str, message: AlertMessage, taken: frozenset[str]) -> bool:
        """Deliver one entry to every channel that has not taken it, then complete it. False when the lease was
        lost on the way; PublishFailed when a channel refused (the entry stays queued)."""
        for channel, send in self.channels.items():
            if channel in taken:
                continue
            try:
                send(message, message_id)
            except Exception as exc:
                self.store.release(key)
                raise PublishFailed(f"{channel} did not take {key['pk']}/{key['sk']} alert {message_id}; it stays queued: {exc}") from exc
            # Marked at once, the last channel too: if completing then fails, the retry completes it without
            # sending it anywhere again.
            if not self.store.mark_delivered(key, message_id, channel):
                return False
        return self.store.complete(key, message_id, message, record=self.record)
