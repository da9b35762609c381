"""Twilio's url-encoded callback bodies, decoded as `urllib.parse.parse_qsl` decodes them.

A TaskRouter callback is a score of fields, one of them a percent-encoded JSON document, and
`parse_qsl` was a quarter of an ignored webhook's CPU: it checks and unquotes every name and
value on the way. Most of them (SIDs, statuses, numbers) hold no `%` or `+`, so only the ones
that do are unquoted here; the result is the same pairs (a test holds the two to it).
"""

from __future__ import annotations

from urllib.parse import unquote

FormParams = dict[str, str | list[str]]


def _decoded(text: str) -> str:
    if "+" in text:
        text = text.replace("+", " ")
    return unquote(text) if "%" in text else text


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
