"""A vendor's words are shown in logs, terminals, email, chat and webhooks: clean_text leaves plain words."""

import re
import sys
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from credit_monitor.model import clean_text


@pytest.mark.parametrize(
    ("text", "clean"),
    [
        # Terminal escapes: colours, screen clears, window titles, hyperlinks (OSC 8), 8-bit CSI.
        ("low \x1b[31mcredits\x1b[0m", "low credits"),
        ("\x1b[2J\x1b[Hcleared", "cleared"),
        ("\x1b]0;pwned\x07title", "title"),
        ("\x1b]8;;http://evil.example\x1b\\click\x1b]8;;\x1b\\", "click"),
        ("\x9b31mred", "red"),
        # Control, bidi and zero-width characters; lone surrogates (from a JSON "\ud800") cannot be encoded.
        ("a\x00b\x07c\r\nd\te\x85f\u2028g", "a b c d e f g"),
        ("invoice_\u202egnp.exe", "invoice_gnp.exe"),
        ("ze\u200bro\u2060wi\ufeffdth", "zerowidth"),
        ("tag\U000e0041\U000e0042s", "tags"),
        ("lone \ud800 surrogate", "lone \ufffd surrogate"),
        # Code spans and fences cannot open.
        ("```\nrm -rf /\n```", "''' rm -rf / '''"),
        # Mentions: Slack's, Discord's, Teams'; broadcasts.
        ("<!channel> <!here> <!everyone>", "channel here everyone"),
        ("<@U024BE7LH> <#C024BE7LB|general> <!subteam^SAZ94GDB8|@ops>", "U024BE7LH general @ops"),
        ("<@123456> <@!123456> <@&7890>", "123456 123456 7890"),
        ("<at>Alex</at>", "Alex"),
        ("@everyone @here @channel @@everyone", "everyone here channel everyone"),
        # Links: kept as defanged text that no chat renders as a link.
        ("<https://evil.example/login|Your bill>", "Your bill (hxxps://evil[.]example/login)"),
        ("[Your bill](https://evil.example/login?a=1.2)", "Your bill (hxxps://evil[.]example/login?a=1.2)"),
        ("see http://evil.example and www.evil.example/x", "see hxxp://evil[.]example and www[.]evil[.]example/x"),
        ("ftp://files.example wss://ws.example gopher://g.example", "fxp://files[.]example wxss://ws[.]example gopher[:]//g[.]example"),
        # Markup nested to form new markup once the inner level is unwrapped.
        ("<!<!here>channel>", "herechannel"),
        ("[[a](http://x.example)](http://y.example)", "[a (hxxp://x[.]example)] (hxxp://y[.]example)"),
        ("@\u200beveryone", "everyone"),
        # Ordinary text is left as it is.
        ("Insufficient credits: balance < 0, top up > 100", "Insufficient credits: balance < 0, top up > 100"),
        ("plan v1.2 renews 2026-11-21", "plan v1.2 renews 2026-11-21"),
    ],
)
def test_vendor_markup_becomes_plain_words(text, clean):
    assert clean_text(text) == clean


def test_every_control_format_surrogate_and_separator_character_of_unicode_is_handled():
    kinds = ("Cc", "Cf", "Cs", "Zl", "Zp")
    left = [hex(cp) for cp in range(sys.maxunicode + 1) if unicodedata.category(chr(cp)) in kinds and chr(cp) in clean_text(f"a{chr(cp)}b")]
    assert left == []


def test_markup_nested_deeper_than_the_passes_is_flattened_to_look_alikes():
    nested = "<!" * 20 + "here" + ">" * 20
    cleaned = clean_text(nested)
    assert "<!" not in cleaned
    assert "<" not in cleaned.replace("\u2039", "")


PIECES = ["<", ">", "!", "@", "|", "[", "]", "(", ")", "`", "\x1b", "\u202e", "\u200b", "://", "http", "www.", ".", " "]
PIECES += ["here", "channel", "everyone", "x", "at", "/"]
text_with_markup = st.lists(st.sampled_from(PIECES), max_size=40).map("".join)


@given(text_with_markup | st.text(max_size=60))
def test_cleaning_clean_text_changes_nothing_and_leaves_no_markup(text):
    cleaned = clean_text(text)
    assert clean_text(cleaned) == cleaned
    assert "\x1b" not in cleaned
    assert "`" not in cleaned
    assert re.search(r"<[!@#][^<>]*>", cleaned) is None  # a chat mention or command
    assert re.search(r"<[a-z]+:[^<>]*>", cleaned, re.IGNORECASE) is None  # a Slack link
    assert "](" not in cleaned  # a Markdown link
    lowered = cleaned.lower()
    for broadcast in ("@everyone", "@here", "@channel"):
        assert broadcast not in lowered
    for scheme in ("http://", "https://"):
        assert scheme not in lowered
