"""Every key a poller read is masked in everything it writes, in every form it can take."""

import json
from urllib.parse import quote, quote_plus

from hypothesis import given
from hypothesis import strategies as st

from credit_monitor.polling.redaction import FRAGMENT_CHARS, MASK, SCAN_CHARS, SecretRedactor, vendor_text
from tests import leak_scan
from tests.leak_scan import leaked

KEY_CHARS = st.characters(min_codepoint=33, max_codepoint=126)
KEYS = st.lists(st.text(KEY_CHARS, min_size=4, max_size=40), min_size=1, max_size=30)
FORMS = (lambda k: k, lambda k: quote(k, safe=""), quote_plus, lambda k: json.dumps(k)[1:-1])


@given(keys=KEYS, filler=st.lists(st.text(max_size=20), min_size=1, max_size=8), data=st.data())
def test_no_form_of_any_key_survives_wherever_it_appears(keys, filler, data):
    redactor = SecretRedactor()
    redactor.remember(keys)
    pieces = []
    for text in filler:
        key = data.draw(st.sampled_from(keys))
        form = data.draw(st.sampled_from(FORMS))
        pieces += [text, form(key)]
    redacted = redactor.redact("".join(pieces))
    for key in keys:
        assert key not in redacted.replace(MASK, "\0")  # a mask never completes a key with its neighbours


def test_a_key_that_extends_another_is_masked_whole_not_cut_to_the_shorter():
    redactor = SecretRedactor()
    redactor.remember(["sk-abcd", "sk-abcd-long-tail"])
    assert redactor.redact("a=sk-abcd-long-tail b=sk-abcd c") == "a=*** b=*** c"


def test_text_without_keys_is_left_as_it_is_and_nothing_is_redacted_before_keys_are_known():
    redactor = SecretRedactor()
    assert redactor.redact("GET /v1/balance?x=1") == "GET /v1/balance?x=1"
    redactor.remember(["sk-1234", "abc"])  # too short to be a key: ordinary words are not garbled
    assert (
        redactor.redact('{"message": "abc polled", "url": "https://h/p?key=sk-1234"}')
        == '{"message": "abc polled", "url": "https://h/p?key=***"}'
    )


def test_a_thousand_keys_in_four_forms_each_are_all_masked():
    keys = [f"sk-bench-{i:04d}-{i * 7919 % 10007}" for i in range(1000)]
    redactor = SecretRedactor()
    redactor.remember(keys)
    line = " ".join(form(key) for key in keys[::97] for form in FORMS)
    assert redactor.redact(line).split() == [MASK] * len(line.split())


# -- a vendor's text: redacted, cleaned, then cut ---------------------------------------------------

KEY_64 = "sk-live-Qx7pL2mN9vR4tW8yZ1aB5cD3eF6gH0jK2lM4nP7qR9sT1uV3wX5yZ8aB0c"


def knowing(*keys: str) -> SecretRedactor:
    redactor = SecretRedactor()
    redactor.remember(keys)
    return redactor


@given(offset=st.integers(0, 260), limit=st.sampled_from([40, 100, 160, 200]), form=st.sampled_from(FORMS))
def test_a_key_straddling_any_cut_leaves_no_run_of_it(offset, limit, form):
    # Seen: a key at offset 150 of a 401 message cut at 200 kept 50 characters in clear.
    text = vendor_text("x" * offset + form(KEY_64) + " and more words", limit, knowing(KEY_64))
    assert len(text) <= limit
    assert leaked(text, [KEY_64]) == []


def test_a_vendor_quoting_part_of_a_key_has_that_part_masked():
    redactor = knowing(KEY_64)
    assert vendor_text(f"key {KEY_64[:12]}... was revoked", 200, redactor) == "key ***... was revoked"
    assert vendor_text(f"key ending {KEY_64[-9:]} was revoked", 200, redactor) == "key ending *** was revoked"
    assert vendor_text(f"key {KEY_64[:7]}", 200, redactor) == f"key {KEY_64[:7]}"  # shorter than a run: not a key's part


def test_a_key_split_by_control_or_zero_width_characters_is_masked_once_they_are_gone():
    redactor = knowing(KEY_64)
    split = "\u200b".join(KEY_64[i : i + 4] for i in range(0, len(KEY_64), 4))
    assert leaked(vendor_text(f"bad key {split}", 200, redactor), [KEY_64], length=4) == []
    assert leaked(vendor_text(f"bad key {KEY_64[:30]}\x1b[0m{KEY_64[30:]}", 200, redactor), [KEY_64]) == []


def test_a_re_encoded_url_with_lowercase_escapes_is_masked():
    redactor = knowing("ab/cd+ef=gh/ij+kl")
    url = "https://x.example/p?api_key=ab%2fcd%2bef%3dgh%2fij%2bkl"
    assert vendor_text(url, 100, redactor) == "hxxps://x[.]example/p?api_key=***"


def test_a_huge_text_is_scanned_only_so_far_and_nothing_of_a_key_past_the_scan_shows():
    # A vendor quoting part of a key right where the scan stops: the scanned text loses what could begin it.
    text = vendor_text("*" * (SCAN_CHARS - 5) + KEY_64[:20] + "y" * 1_000_000, SCAN_CHARS, knowing(KEY_64))
    assert leaked(text, [KEY_64], length=4) == []


def test_vendor_text_is_clean_and_cut():
    redactor = knowing(KEY_64)
    assert vendor_text("  Insufficient\n\tcredits \x1b[31m<!channel>\x1b[0m  ", 200, redactor) == "Insufficient credits channel"
    assert vendor_text("a" * 500, 200, redactor) == "a" * 200
    assert FRAGMENT_CHARS <= leak_scan.FRAGMENT_CHARS  # the redactor masks at least what the leak scans look for
