"""Every key a poller read is masked in everything it writes, in every form it can take."""

import json
from urllib.parse import quote, quote_plus

from hypothesis import given
from hypothesis import strategies as st

from credit_monitor.polling.redaction import MASK, SecretRedactor

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
