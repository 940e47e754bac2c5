"""Why a poll failed: the kinds of failure, what each means and what to do, and the classified failure itself."""

from __future__ import annotations

from enum import StrEnum


class FailureKind(StrEnum):
    """Why a poll failed. Stored with the account and used by alerts, so operators can tell
    "API key rejected" from "provider down" without reading logs."""

    AUTH = "auth"
    INSUFFICIENT_CREDITS = "insufficient_credits"
    RATE_LIMITED = "rate_limited"
    PROVIDER_ERROR = "provider_error"
    MAINTENANCE = "maintenance"
    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"
    BAD_RESPONSE = "bad_response"
    CONFIGURATION = "configuration"  # the account itself is misconfigured (its name in two secrets)

    @property
    def summary(self) -> str:
        return _SUMMARIES[self]

    @property
    def advice(self) -> str:
        """What an operator should do about it: the last line of a failure alert."""
        return _ADVICE[self]

    @classmethod
    def of(cls, value: object) -> FailureKind:
        """The kind named by a stored value; an unknown one reads as a provider error."""
        try:
            return cls(str(value))
        except ValueError:
            return cls.PROVIDER_ERROR


_SUMMARIES = {
    FailureKind.AUTH: "API key rejected",
    FailureKind.INSUFFICIENT_CREDITS: "provider reports insufficient credits",
    FailureKind.RATE_LIMITED: "rate limited by the provider",
    FailureKind.PROVIDER_ERROR: "provider returned an error",
    FailureKind.MAINTENANCE: "provider under maintenance",
    FailureKind.TIMEOUT: "provider did not answer in time",
    FailureKind.UNREACHABLE: "provider unreachable",
    FailureKind.BAD_RESPONSE: "unexpected response from the provider",
    FailureKind.CONFIGURATION: "account misconfigured in the provider's secrets",
}

_ADVICE = {
    FailureKind.AUTH: "Check the API key in the provider's secret (it may be revoked or mistyped), then invoke the poller to re-check.",
    FailureKind.INSUFFICIENT_CREDITS: "The provider reports no credits: top up this account now.",
    FailureKind.RATE_LIMITED: "The provider is rate limiting the poller; check nothing else shares this key, or poll less often.",
    FailureKind.MAINTENANCE: "The provider is under maintenance; polls resume by themselves. Check the provider's status page if it lasts.",
    FailureKind.PROVIDER_ERROR: "The provider is answering with errors; check its status page. The last good balance is kept meanwhile.",
    FailureKind.TIMEOUT: "The provider is not answering in time; check its status page. The last good balance is kept meanwhile.",
    FailureKind.UNREACHABLE: "The provider cannot be reached (DNS, TLS or connection refused); check its status and the base URL.",
    FailureKind.BAD_RESPONSE: "The provider's response is not what its API documents; the API may have changed. Check the poller's logs.",
    FailureKind.CONFIGURATION: "The account is configured twice (the message names both secrets): keep it in one secret only.",
}
