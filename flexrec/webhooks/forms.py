"""Twilio's url-encoded callback bodies, decoded as `urllib.parse.parse_qsl` decodes them.

A TaskRouter callback is forty fields, one of them a percent-encoded JSON document, and
`parse_qsl` was a quarter of an ignored webhook's CPU: it checks and unquotes every name and
value on the way, a Python step per `%XX`. Most fields (SIDs, statuses, numbers) hold no `%` or
`+` and are taken as they are; the others are unquoted in one C pass (below). The result is
the same pairs (a property test holds the two to it).
"""

from __future__ import annotations

import codecs
from urllib.parse import unquote

FormParams = dict[str, str | list[str]]


def _unquoted(text: str) -> str:
    """`unquote(text)`: each `%XX` made a `\\xXX` escape (every backslash doubled first, so no
    other escape exists) and the bytes decoded in C, ten times faster on a JSON document; a
    malformed `%` (the C decoder refuses it) takes urllib's way, which keeps it as it is."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\x").encode("utf-8")
    try:
        raw: bytes = codecs.escape_decode(escaped)[0]
    except ValueError:
        return unquote(text)
    return raw.decode("utf-8", "replace")


def _decoded(text: str) -> str:
    if "+" in text:
        text = text.replace("+", " ")
    return _unquoted(text) if "%" in text else text


def form_pairs(body: bytes) -> list[tuple[str, str]]:
    """The (name, value) pairs of a url-encoded body, as `parse_qsl(..., keep_blank_values=True)`
    gives them. Raises UnicodeDecodeError when the body is not UTF-8."""
    pairs = []
    for field in body.decode("utf-8").split("&"):
        if field:
            name, _, value = field.partition("=")
            pairs.append((_decoded(name), _decoded(value)))
    return pairs


def parse_form(body: bytes) -> FormParams:
    """The fields of a url-encoded body, a name posted more than once as a list of its values
    (blank values kept). Raises UnicodeDecodeError when the body is not UTF-8."""
    params: FormParams = {}
    for name, value in form_pairs(body):
        existing = params.get(name)
        if existing is None:
            params[name] = value
        elif isinstance(existing, list):
            existing.append(value)
        else:
            params[name] = [existing, value]
    return params
