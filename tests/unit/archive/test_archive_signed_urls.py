"""Signed media links: valid, expired, and every kind of forgery."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from flexrec.archive.signed_urls import (
    LinkExpired,
    LinkForged,
    MediaLinkSigner,
    media_path,
    signer_from_secret,
)

SID = "RE" + "a" * 32
SECRET = "console-secret-for-tests-0123456789"


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_signed_url_verifies_until_it_expires() -> None:
    clock = Clock()
    signer = MediaLinkSigner(SECRET, ttl_s=300, clock=clock)
    url = signer.url("https://rec.example.com/", SID, "play", "alice@example.com")
    parts = urlsplit(url)
    assert parts.path == media_path(SID) == f"/media/recordings/{SID}.wav"
    q = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert q["exp"] == str(int(clock.now) + 300)
    link = signer.verify(SID, q["exp"], q["sig"], q["p"], q["sub"])
    assert (link.recording_sid, link.purpose, link.subject) == (SID, "play", "alice@example.com")
    clock.now += 300
    signer.verify(SID, q["exp"], q["sig"], q["p"], q["sub"])  # the last valid second
    clock.now += 1
    with pytest.raises(LinkExpired):
        signer.verify(SID, q["exp"], q["sig"], q["p"], q["sub"])


@pytest.mark.parametrize("field", ["sid", "exp", "purpose", "subject", "sig"])
def test_changing_any_signed_field_is_a_forgery(field: str) -> None:
    signer = MediaLinkSigner(SECRET, clock=Clock())
    q = signer.sign(SID, "play", "alice")
    args = {"sid": SID, "exp": q["exp"], "purpose": "play", "subject": "alice", "sig": q["sig"]}
    args[field] = {
        "sid": "RE" + "b" * 32,
        "exp": str(int(q["exp"]) + 3600),
        "purpose": "download",
        "subject": "mallory",
        "sig": q["sig"][:-2] + ("AA" if not q["sig"].endswith("AA") else "BB"),
    }[field]
    with pytest.raises(LinkForged):
        signer.verify(args["sid"], args["exp"], args["sig"], args["purpose"], args["subject"])


def test_a_link_from_another_secret_is_a_forgery() -> None:
    q = MediaLinkSigner("another-secret-0123456789abcdef", clock=Clock()).sign(SID)
    with pytest.raises(LinkForged):
        MediaLinkSigner(SECRET, clock=Clock()).verify(SID, q["exp"], q["sig"], q["p"])


@pytest.mark.parametrize(
    ("exp", "sig", "purpose"),
    [(None, "x", "play"), ("123", None, "play"), ("soon", "x", "play"), ("1", "x", "delete")],
)
def test_malformed_links_are_forgeries(exp: str | None, sig: str | None, purpose: str) -> None:
    with pytest.raises(LinkForged):
        MediaLinkSigner(SECRET, clock=Clock()).verify(SID, exp, sig, purpose)


def test_weak_secret_and_unknown_purpose_are_refused() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        MediaLinkSigner("short")
    with pytest.raises(ValueError, match="purpose"):
        MediaLinkSigner(SECRET).sign(SID, "delete")


def test_signer_from_secret_is_stable_or_ephemeral() -> None:
    q = signer_from_secret(SECRET).sign(SID)
    signer_from_secret(SECRET).verify(SID, q["exp"], q["sig"], q["p"])  # same secret: valid
    first, second = signer_from_secret(""), signer_from_secret("")
    link = first.sign(SID)
    first.verify(SID, link["exp"], link["sig"], link["p"])
    with pytest.raises(LinkForged):
        second.verify(SID, link["exp"], link["sig"], link["p"])  # a new random secret each time
