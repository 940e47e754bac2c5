"""Alerting: from stored balances to messages, exactly once.

- :mod:`aggregator` runs the flow: stream batches, the scheduled check, the digest, re-evaluation;
- :mod:`rules` is the alert state machine (levels, hysteresis, failures, staleness, forecast alerts);
- :mod:`thresholds` reads the thresholds document; :mod:`forecast` computes burn rate and days left;
- :mod:`messages` and :mod:`digest` say what an alert says;
- :mod:`notify` is the one place alerts leave the system.

The aggregator never calls providers; it reads what the pollers stored.
"""
