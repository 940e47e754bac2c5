"""What a provider id and an account name look like: the one copy of each rule."""

from __future__ import annotations

import re

PROVIDER_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
PROVIDER_ID_RULE = "1-32 of a-z 0-9 _ - starting with a letter or digit"
ACCOUNT_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
ACCOUNT_NAME_RULE = "1-64 of A-Z a-z 0-9 _ . -"


def valid_provider_id(value: object) -> bool:
    return isinstance(value, str) and PROVIDER_ID.fullmatch(value) is not None


def valid_account_name(value: object) -> bool:
    return isinstance(value, str) and ACCOUNT_NAME.fullmatch(value) is not None
