"""Shared test setup. The environment is set before any project module is imported, as in Lambda."""

import os

os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "credit-monitor")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "CreditMonitor")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
    os.environ.setdefault(name, value)

pytest_plugins = ["tests.stack_fixtures"]
