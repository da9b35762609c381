"""The webhook form decoder gives exactly what `urllib.parse.parse_qsl` gives, faster."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flexrec.webhooks.forms import form_pairs, parse_form


# Percent signs, hex digits that make UTF-8 lead and continuation bytes, backslashes (the fast
# path turns `%` into a `\x` escape), raw non-ASCII text and the separators.
@settings(max_examples=500)
@given(st.text(alphabet=st.sampled_from("ab=&%+%%2F0C3A9E8x\\é€ ;\x00"), max_size=40))
def test_any_text_decodes_as_parse_qsl_decodes_it(text: str) -> None:
    assert form_pairs(text.encode()) == parse_qsl(text, keep_blank_values=True)


@given(st.lists(st.tuples(st.text(max_size=12), st.text(max_size=30)), max_size=8))
def test_encoded_fields_come_back_as_posted(fields: list[tuple[str, str]]) -> None:
    body = urlencode(fields)
    assert form_pairs(body.encode()) == parse_qsl(body, keep_blank_values=True)


def test_a_json_value_and_repeated_names() -> None:
    body = urlencode(
        [("TaskAttributes", '{"call_sid": "CA1", "to": "+1 555"}'), ("A", "1"), ("A", "2"),
         ("Empty", ""), ("Plus", "a+b c")]
    ).encode()  # fmt: skip
    assert parse_form(body) == {
        "TaskAttributes": '{"call_sid": "CA1", "to": "+1 555"}',
        "A": ["1", "2"],
        "Empty": "",
        "Plus": "a+b c",
    }


def test_a_body_that_is_not_utf8_is_refused() -> None:
    with pytest.raises(UnicodeDecodeError):
        parse_form(b"A=\xff")
