"""Bodies are capped before sign-in reads them, on the console and the Insights link route."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from console_client_helpers import TestClient

from flexrec.app.sandbox import Sandbox
from flexrec.twilio.flex_tokens import TokenInfo
from flexrec.web.body_limit import MAX_OTHER_BODY_BYTES

RE = "RE" + "0" * 32


def chunked(first: bytes, total: int = MAX_OTHER_BODY_BYTES * 4) -> Iterator[bytes]:
    """A body with no Content-Length, as a chunked upload sends it."""
    yield first
    sent = len(first)
    while sent < total:
        sent += 16 * 1024
        yield b"a" * 16 * 1024


def count_token_checks(sandbox: Sandbox) -> list[str]:
    seen: list[str] = []
    inner = sandbox.tokens.validate

    def counting(token: str) -> TokenInfo:
        seen.append(token)
        return inner(token)

    sandbox.tokens.validate = counting  # type: ignore[method-assign]
    return seen


def test_flex_sign_in_with_a_huge_chunked_body_is_413_and_asks_nobody(
    sandbox: Sandbox, client_for: Callable[..., TestClient]
) -> None:
    seen = count_token_checks(sandbox)
    client = client_for()
    for content_type, first in (
        ("application/json", b'{"token": "flex-alice-token", "pad": "'),
        ("application/x-www-form-urlencoded", b"Token=flex-alice-token&pad="),
    ):
        response = client.post(
            "/console/login/flex", content=chunked(first), headers={"Content-Type": content_type}
        )
        assert response.status_code == 413
    assert seen == []


def test_insights_link_with_a_huge_chunked_body_is_413_and_asks_nobody(
    sandbox: Sandbox, client_for: Callable[..., TestClient]
) -> None:
    seen = count_token_checks(sandbox)
    response = client_for().post(
        f"/insights/recordings/{RE}/url",
        content=chunked(b"Token=flex-alice-token&pad="),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413
    assert seen == []


def test_password_sign_in_with_a_huge_chunked_body_is_413(
    client_for: Callable[..., TestClient],
) -> None:
    response = client_for().post(
        "/console/login",
        content=chunked(b"username=sam&password="),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413
