"""Text from outside (a vendor's words) made plain: no escapes, bidi tricks, mentions or live links."""

from __future__ import annotations

import re

# A vendor's words (an error message, a plan name) are shown in logs, the API, email, SMS, chat and
# webhooks. Whoever wrote them may want to rewrite a terminal, reorder text (bidi overrides), ping a whole
# chat channel or slip a link into an alert: clean_text leaves plain words. Keys are not its business
# (the poller redacts them before, see polling.redaction.vendor_text); escaping for one channel's
# markup (Slack's &<>, Markdown) is the sender's.

# Escape sequences, removed whole: OSC/DCS/APC/PM/SOS strings (to BEL or ST), CSI sequences, then any
# other ESC and the character after it; and their 8-bit (C1) forms.
_ESCAPE_SEQUENCES = re.compile(
    r"[\x1b][\]P_^X][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|[\x90\x98\x9d\x9e\x9f][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|\x1b.?",
    re.DOTALL,
)
# Unicode's format characters (category Cf): zero-width ones, bidi embeddings, overrides and isolates,
# tag characters (which hide text from readers); removed.
_FORMAT_CHARACTERS = re.compile(
    "[\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f"
    "\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f]"
)
# Control characters (Cc) and line/paragraph separators (Zl, Zp) become spaces; lone surrogates (Cs, from a
# JSON "\ud800") cannot be encoded as UTF-8 at all, and become U+FFFD.
_CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_SURROGATES = re.compile("[\ud800-\udfff]")
# Chat markup. Slack's <!channel>, <!here>, <@U123>, <#C123|name>, <!subteam^S1|@team>; Discord's
# <@123>, <@&123>, <#123>; Teams' <at>...</at>: the words are kept, never the mention.
_CHAT_SEQUENCE = re.compile(r"<[!@#][&!]?([^<>|]*)(?:\|([^<>]*))?>")
_TEAMS_MENTION = re.compile(r"</?at>", re.IGNORECASE)
_BROADCAST = re.compile(r"@+(everyone|here|channel)", re.IGNORECASE)  # inside longer words too: no chat's word rules to guess
# Links: Slack's <url|label>, Markdown's [label](url), and bare URLs: kept as defanged text (hxxps://host[.]tld)
# that no chat renders as a link.
_SLACK_LINK = re.compile(r"<([A-Za-z][A-Za-z0-9+.-]*:[^<>|\s]*)(?:\|([^<>]*))?>")
_MARKDOWN_LINK = re.compile(r"\[([^\[\]]*)\]\(\s*(\S*?)\s*\)")
_URL = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]*)://([^\s/?#<>]*)|\b(www\.[^\s/?#<>]*)", re.IGNORECASE)
_DEFANGED_SCHEMES = {"http": "hxxp", "https": "hxxps", "ftp": "fxp", "ws": "wxs", "wss": "wxss"}
_OPEN_DOT = re.compile(r"(?<!\[)\.(?!\])")  # a dot not already defanged as [.]: cleaning twice changes nothing
_MARKUP_PASSES = 8  # nested markup (<!<!here>channel>) unwraps one level a pass; deeper is flattened outright


def _defang(match: re.Match[str]) -> str:
    scheme, host, www = match.groups()
    if www is not None:
        return _OPEN_DOT.sub("[.]", www)
    lower = scheme.lower()
    if lower in _DEFANGED_SCHEMES.values():
        return match.group(0)[: len(scheme) + 3] + _OPEN_DOT.sub("[.]", host)
    shown = _DEFANGED_SCHEMES.get(lower)
    return (f"{shown}://" if shown else f"{scheme}[:]//") + _OPEN_DOT.sub("[.]", host)


def _unwrap_markup(text: str) -> str:
    text = _SLACK_LINK.sub(lambda m: f"{m.group(2)} ({m.group(1)})" if m.group(2) else m.group(1), text)
    text = _CHAT_SEQUENCE.sub(lambda m: m.group(2) or m.group(1), text)
    text = _TEAMS_MENTION.sub("", text)
    text = _MARKDOWN_LINK.sub(lambda m: f"{m.group(1)} ({m.group(2)})", text).replace("](", "] (")  # and any link left half-formed
    text = _URL.sub(_defang, text)
    return _BROADCAST.sub(r"\1", text)


def clean_text(text: str) -> str:
    """``text`` as plain words on one line: no control characters, escape sequences, bidi or zero-width
    characters, code fences, mentions or links (URLs are kept, defanged: ``hxxps://host[.]tld/path``).

    Whitespace runs become one space; cleaning clean text changes nothing. Not a cut and not a
    redaction: vendor text goes through polling.redaction.vendor_text (redact, clean, cut)."""
    text = _ESCAPE_SEQUENCES.sub("", text)
    text = _FORMAT_CHARACTERS.sub("", text)
    text = _CONTROL_CHARACTERS.sub(" ", text)
    text = _SURROGATES.sub("\ufffd", text)
    text = text.replace("`", "'")  # no code span or fence can open or close
    # Unwrapping markup can join its neighbours into new markup ("<!<!here>channel>"): again until nothing changes.
    for _ in range(_MARKUP_PASSES):
        unwrapped = _unwrap_markup(text)
        if unwrapped == text:
            break
        text = unwrapped
    else:
        text = text.translate(_FLATTENED)
    return " ".join(text.split())


# What is left of markup nested deeper than _MARKUP_PASSES: look-alikes no chat reads as markup.
_FLATTENED = str.maketrans({"<": "\u2039", ">": "\u203a", "@": "\uff20", "[": "(", "]": ")"})
