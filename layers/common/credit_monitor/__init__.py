"""Credit balance monitor: provider adapters, polling, normalization and storage.

This package is the Lambda layer shared by every function; handlers stay thin and call into it.
"""

__version__ = "0.1.0"
