"""The card-data webhook's signature as a receiver checks it, and the settings that turn it on:
a forged, altered, replayed or malformed request is refused; a secret too short to trust or a
URL that would carry the notice in clear is refused at start, naming the setting."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from flexrec.cli.errors import explain
from flexrec.config import CardDataSettings
from flexrec.pci.webhook import backoff_s, sign, verify

SECRET = "k" * 40
BODY = b'{"id":"evt_1","type":"card_data.silenced"}'
NOW = 1_796_000_000


def test_a_signed_body_verifies_within_five_minutes_and_only_as_sent() -> None:
    header = sign(SECRET, BODY, NOW)
    assert header.startswith(f"t={NOW},v1=") and len(header.partition("v1=")[2]) == 64
    assert verify(SECRET, BODY, header, now=NOW + 299)
    assert verify(SECRET, BODY, header, now=NOW - 299)  # the receiver's clock a little behind
    # A replay later than the tolerance, another secret, a changed body: refused.
    assert not verify(SECRET, BODY, header, now=NOW + 301)
    assert not verify("x" * 40, BODY, header, now=NOW)
    assert not verify(SECRET, BODY.replace(b"evt_1", b"evt_2"), header, now=NOW)
    # Moving the timestamp forward to pass the window breaks the signature.
    forged = header.replace(f"t={NOW}", f"t={NOW + 3600}")
    assert not verify(SECRET, BODY, forged, now=NOW + 3600)


@pytest.mark.parametrize(
    "header", ["", "v1=abc", f"t=soon,v1={'0' * 64}", f"t={NOW}", f"t={NOW},v0=abc"]
)
def test_a_malformed_signature_is_refused(header: str) -> None:
    assert not verify(SECRET, BODY, header, now=NOW)


def test_during_a_secret_rotation_either_signature_passes() -> None:
    old = sign("o" * 40, BODY, NOW).partition(",")[2]
    header = f"{sign(SECRET, BODY, NOW)},{old}"
    assert verify(SECRET, BODY, header, now=NOW)
    assert verify("o" * 40, BODY, header, now=NOW)


def test_retries_back_off_to_an_hour() -> None:
    assert [backoff_s(n) for n in (1, 2, 3, 8, 12)] == [30, 60, 120, 3600, 3600]


@pytest.mark.parametrize(
    ("url", "secret", "says"),
    [
        ("http://hooks.example.com/x", SECRET, "must use https://"),
        ("ftp://hooks.example.com/x", SECRET, "must be an https:// URL"),
        ("https://hooks.example.com/x", "", "FLEXREC_CARD_DATA_WEBHOOK_SECRET must be set"),
        ("https://hooks.example.com/x", "short-secret", "at least 32 characters"),
    ],
)
def test_unsafe_webhook_settings_are_refused_in_one_line(url: str, secret: str, says: str) -> None:
    with pytest.raises(ValidationError) as caught:
        CardDataSettings(card_data_webhook_url=url, card_data_webhook_secret=secret)
    line = explain(caught.value)
    assert line is not None and line.startswith("bad setting: ") and says in line
    assert not secret or secret not in line  # the secret is never echoed


def test_plain_http_to_this_machine_is_allowed() -> None:
    settings = CardDataSettings(
        card_data_webhook_url="http://127.0.0.1:9000/hook", card_data_webhook_secret=SECRET
    )
    assert settings.card_data_webhook_secret.get_secret_value() == SECRET


def test_a_bad_number_setting_names_its_variable() -> None:
    with pytest.raises(ValidationError) as caught:
        CardDataSettings(card_margin_ms=-1)
    assert explain(caught.value) == (
        "bad setting: FLEXREC_CARD_MARGIN_MS: Input should be greater than or equal to 0"
    )
