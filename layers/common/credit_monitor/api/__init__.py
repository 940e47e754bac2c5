"""The balance API: authenticated, read-only answers from the table.

- :mod:`app` declares the routes and maps domain errors to HTTP statuses;
- :mod:`params` reads and validates path and query parameters (422 naming the parameter);
- :mod:`queries` answers each route through storage, in the models of :mod:`models`.
"""
