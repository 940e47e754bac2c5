"""Providers described by a definition file: the request, the auth, and where the numbers are (JMESPath).

A definition carries its vendor's documented example responses. Validation reports every problem of
every file at once, each with the file, the field and the problem, and evaluates every expression
against those examples. The format is in definitions/schema.json and README.md ("Add a provider").

One module a job: loading (files into providers), validation (a document into a ``Definition``),
compiled (the named types a validated definition is made of), request (the request for an account),
answers (the failure or the balance an answer holds), examples (checking the documented responses),
expressions (JMESPath with arithmetic).
"""

from __future__ import annotations

from credit_monitor.errors import DefinitionError
from credit_monitor.polling.providers.definition.compiled import Definition
from credit_monitor.polling.providers.definition.expressions import OPTIONS
from credit_monitor.polling.providers.definition.loading import build_provider, definition_files, load_definition, load_files, load_folder
from credit_monitor.polling.providers.definition.validation import BUILT_IN, TOP_LEVEL

__all__ = ["BUILT_IN", "OPTIONS", "TOP_LEVEL", "Definition", "DefinitionError", "build_provider", "definition_files", "load_definition",
           "load_files", "load_folder"]  # fmt: skip
