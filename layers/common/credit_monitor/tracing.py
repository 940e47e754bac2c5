"""X-Ray tracing through Powertools Tracer, only when the stack turns it on (the Tracing parameter).

Off (the default), nothing here imports the X-Ray SDK: ``traced`` returns the handler's own result and
``span`` is an empty context. On, each invocation is a trace whose subsegments name the steps (reading
keys, polling, storing, alerting, answering) and whose annotations say which provider and how many
accounts, so a slow or failing run can be found by provider in the X-Ray console.

Only boto3/botocore are patched: the provider requests are not traced per request, since X-Ray would
record each request's URL, and some vendors take the API key in the query string. Handler responses are
not recorded either (they can name accounts and error texts); exceptions are.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any

from credit_monitor import settings

PATCHED_MODULES = ("boto3", "botocore")


def tracer() -> Any | None:
    """This container's Tracer, or None when tracing is off (decided on first use, not at import)."""
    return _tracer() if settings.current(settings.TracingSettings).enabled else None


@functools.cache
def _tracer() -> Any:
    from aws_lambda_powertools import Tracer  # noqa: PLC0415 - the X-Ray SDK loads only when tracing is on

    return Tracer(patch_modules=PATCHED_MODULES)


def traced(handler: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """A Lambda handler traced as one segment per invocation when tracing is on, called as is otherwise."""

    @functools.wraps(handler)
    def run(event: Any, context: Any) -> Any:
        active = tracer()
        if active is None:
            return handler(event, context)
        return active.capture_lambda_handler(handler, capture_response=False)(event, context)

    return run


Annotate = Callable[..., None]


def _ignore(**_annotations: Any) -> None:
    return None


@contextlib.contextmanager
def span(name: str, **annotations: str | int | float | bool) -> Iterator[Annotate]:
    """A named subsegment with searchable annotations; yields a function to add more (``annotate(failed=2)``).

    When tracing is off this is an empty context and the function does nothing.
    """
    active = tracer()
    if active is None:
        yield _ignore
        return
    with active.provider.in_subsegment(f"## {name}") as subsegment:

        def annotate(**more: str | int | float | bool) -> None:
            for key, value in more.items():
                subsegment.put_annotation(key=key, value=value)

        annotate(**annotations)
        yield annotate
