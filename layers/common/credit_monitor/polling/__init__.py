"""Polling: one round reads a provider's keys, polls every account concurrently, and stores the outcome.

- :mod:`round` is one poll round of one provider (the poller function's whole logic);
- :mod:`fanout` polls the accounts of a round concurrently, each to a reading or a classified failure;
- :mod:`transport` is the HTTP beneath: pooled, bounded retries, a hard time budget, a body cap;
- :mod:`accounts` reads the accounts and keys from the provider's secret;
- :mod:`providers` says, per provider, where the credits are and how failures look.

Pollers never alert: what they store is what the aggregator reads.
"""
