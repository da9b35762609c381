"""JSON from outside: deep nesting and non-finite numbers refused, NULs replaced."""

from __future__ import annotations

import pytest

from flexrec.safejson import MAX_DEPTH, UnsafeJson, loads_bounded


@pytest.mark.parametrize(
    "text",
    [
        '{"a":' * 1500 + "1" + "}" * 1500,  # RecursionError inside json itself
        "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1),
        '{"n": NaN}',
        '{"n": -Infinity}',
        '{"n": 1e400}',
        "{not json",
    ],
)
def test_refused(text: str) -> None:
    with pytest.raises(UnsafeJson):
        loads_bounded(text)


def test_kept_with_nuls_replaced() -> None:
    parsed = loads_bounded(
        '{"a\\u0000": ["x\\u0000y", {"b": "\\u0000"}], "n": 9223372036854775808}'
    )
    assert parsed == {"a\ufffd": ["x\ufffdy", {"b": "\ufffd"}], "n": 2**63}
    assert loads_bounded("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None
