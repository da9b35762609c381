"""Short-lived signed media links: HMAC-SHA256 over (recording SID, expiry, purpose, subject).

A link looks like `/media/recordings/RE….wav?exp=1700000000&p=play&sub=alice&sig=…`. The subject
(who the link was issued to) is signed too, so the audit log can name the person who played it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

PURPOSES = frozenset({"play", "download"})
SIGNATURE_VERSION = "v1"


class LinkError(Exception):
    """A media link was refused."""


class LinkExpired(LinkError):
    """The link's expiry time has passed."""


class LinkForged(LinkError):
    """The signature does not match the link's fields (or they are malformed)."""


@dataclass(frozen=True)
class VerifiedLink:
    """What a valid link grants."""

    recording_sid: str
    purpose: str
    subject: str
    expires_at: int


def media_path(recording_sid: str) -> str:
    """The service path that streams a recording's media."""
    return f"/media/recordings/{recording_sid}.wav"


class MediaLinkSigner:
    """Issues and checks media links with one secret (`FLEXREC_CONSOLE_SECRET`)."""

    def __init__(
        self,
        secret: str | bytes,
        ttl_s: int = 300,
        clock: Callable[[], float] = time.time,
    ) -> None:
        raw = secret.encode("utf-8") if isinstance(secret, str) else secret
        if len(raw) < 16:
            raise ValueError("the media link secret must be at least 16 bytes long")
        # A purpose-specific subkey, so the console secret's other uses never share MACs.
        self._key = hmac.new(raw, b"flexrec media links", hashlib.sha256).digest()
        self.ttl_s = ttl_s
        self._clock = clock

    def _signature(self, recording_sid: str, expires_at: int, purpose: str, subject: str) -> str:
        message = "\n".join(
            (SIGNATURE_VERSION, recording_sid, str(expires_at), purpose, subject)
        ).encode("utf-8")
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def sign(
        self,
        recording_sid: str,
        purpose: str = "play",
        subject: str = "",
        ttl_s: int | None = None,
    ) -> dict[str, str]:
        """The query parameters of a fresh link (exp, p, sub, sig)."""
        if purpose not in PURPOSES:
            raise ValueError(f"unknown link purpose {purpose!r}")
        expires_at = int(self._clock()) + (self.ttl_s if ttl_s is None else ttl_s)
        params = {"exp": str(expires_at), "p": purpose}
        if subject:
            params["sub"] = subject
        params["sig"] = self._signature(recording_sid, expires_at, purpose, subject)
        return params

    def url(
        self,
        base_url: str,
        recording_sid: str,
        purpose: str = "play",
        subject: str = "",
        ttl_s: int | None = None,
    ) -> str:
        """An absolute (or, with an empty base, relative) signed media URL."""
        params = self.sign(recording_sid, purpose, subject, ttl_s)
        return f"{base_url.rstrip('/')}{media_path(recording_sid)}?{urlencode(params)}"

    def verify(
        self,
        recording_sid: str,
        exp: str | None,
        sig: str | None,
        purpose: str | None = "play",
        subject: str | None = "",
    ) -> VerifiedLink:
        """Check a link's fields; raises `LinkForged` or `LinkExpired`."""
        purpose = purpose or "play"
        subject = subject or ""
        if not exp or not sig or purpose not in PURPOSES:
            raise LinkForged("missing or malformed link fields")
        try:
            expires_at = int(exp)
        except ValueError:
            raise LinkForged("malformed expiry") from None
        expected = self._signature(recording_sid, expires_at, purpose, subject)
        # Constant-time comparison: a timing difference must not reveal signature prefixes.
        if not hmac.compare_digest(expected.encode("ascii"), sig.encode("ascii", "replace")):
            raise LinkForged("signature mismatch")
        # Checked after the signature so an attacker learns nothing from forged expiries.
        if expires_at < int(self._clock()):
            raise LinkExpired("link expired")
        return VerifiedLink(recording_sid, purpose, subject, expires_at)


def signer_from_secret(secret: str, ttl_s: int = 300) -> MediaLinkSigner:
    """The signer for `FLEXREC_CONSOLE_SECRET`; an empty secret gets a random per-process one.

    Without a configured secret, links still work but only within this process and until it
    restarts (and never across several service processes), so a warning is logged.
    """
    if secret:
        return MediaLinkSigner(secret, ttl_s)
    import structlog

    structlog.get_logger(__name__).warning(
        "media_links.ephemeral_secret",
        hint="set FLEXREC_CONSOLE_SECRET so media links survive restarts and span processes",
    )
    return MediaLinkSigner(secrets.token_bytes(32), ttl_s)
