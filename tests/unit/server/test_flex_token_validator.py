"""FlexTokenValidator: IAM request shape, expiry, outage vs bad token; and the token guard's
memory of IAM's answers (by fingerprint, bounded, until expiry or five minutes)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import httpx
import pytest

from flexrec.twilio.flex_tokens import (
    FlexTokenValidator,
    InvalidToken,
    TokenInfo,
    TokenServiceUnavailable,
    parse_expiration,
    token_fingerprint,
)
from flexrec.web.token_guard import TokenGuard

AC = "AC" + "1" * 32
NOW = 1_800_000_000.0


class FakeIam:
    """Records requests and answers with a configurable IAM response."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.answer: Callable[[httpx.Request], httpx.Response] = lambda r: httpx.Response(
            200,
            json={
                "valid": True,
                "identity": "alice",
                "worker_sid": "WK" + "a" * 32,
                "roles": ["agent"],
                "expiration": NOW + 3600,
            },
        )

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answer(request)


class Remembering:
    """A validator behind a guard whose clocks are the test's (what routes use)."""

    def __init__(self, iam: FakeIam, clock: list[float], **guard: object) -> None:
        self.validator = make(iam, clock)
        self.guard = TokenGuard(
            wall_clock=lambda: clock[0],
            clock=lambda: clock[0],
            **guard,  # type: ignore[arg-type]
        )

    def validate(self, token: str) -> TokenInfo:
        return self.guard.validate(self.validator, token, "10.0.0.1")


def make(iam: FakeIam, clock: list[float], **kw: object) -> FlexTokenValidator:
    return FlexTokenValidator(
        AC,
        "auth-token-xyz",
        base_url=str(kw.pop("base_url", "")),
        clock=lambda: clock[0],
        transport=httpx.MockTransport(iam),
        **kw,  # type: ignore[arg-type]
    )


def test_posts_token_json_with_basic_auth_to_iam() -> None:
    iam = FakeIam()
    info = make(iam, [NOW]).validate("tok-1")
    assert info.identity == "alice"
    assert info.worker_sid == "WK" + "a" * 32
    assert info.roles == ("agent",)
    assert not info.is_supervisor
    (req,) = iam.requests
    assert str(req.url) == f"https://iam.twilio.com/v1/Accounts/{AC}/Tokens/validate"
    assert req.method == "POST"
    assert json.loads(req.content) == {"token": "tok-1"}
    expected = base64.b64encode(f"{AC}:auth-token-xyz".encode()).decode()
    assert req.headers["authorization"] == f"Basic {expected}"


def test_base_url_rebases_onto_simulator() -> None:
    iam = FakeIam()
    make(iam, [NOW], base_url="http://127.0.0.1:8181/").validate("tok")
    assert str(iam.requests[0].url) == f"http://127.0.0.1:8181/v1/Accounts/{AC}/Tokens/validate"


def test_positive_answer_is_remembered_until_expiry() -> None:
    iam = FakeIam()
    clock = [NOW]
    validator = Remembering(iam, clock)
    validator.validate("tok")
    validator.validate("tok")
    assert len(iam.requests) == 1
    clock[0] = NOW + 3601
    iam.answer = lambda r: httpx.Response(200, json={"valid": False, "message": "expired"})
    with pytest.raises(InvalidToken):
        validator.validate("tok")
    assert len(iam.requests) == 2


def test_expired_expiration_is_rejected_even_if_iam_says_valid() -> None:
    iam = FakeIam()
    iam.answer = lambda r: httpx.Response(
        200, json={"valid": True, "identity": "a", "roles": [], "expiration": NOW - 1}
    )
    with pytest.raises(InvalidToken):
        make(iam, [NOW]).validate("tok")


def test_the_validator_itself_remembers_nothing() -> None:
    iam = FakeIam()
    good = iam.answer
    iam.answer = lambda r: httpx.Response(200, json={"valid": False, "message": "bad"})
    validator = make(iam, [NOW])
    with pytest.raises(InvalidToken, match="bad"):
        validator.validate("tok")
    iam.answer = good
    assert validator.validate("tok").identity == "alice"


def test_memory_is_bounded_lru_and_keyed_by_fingerprint() -> None:
    iam = FakeIam()
    validator = Remembering(iam, [NOW], max_entries=2)
    for tok in ("t1", "t2", "t1", "t3"):
        validator.validate(tok)
    assert validator.guard.known_count == 2
    assert len(iam.requests) == 3
    validator.validate("t1")  # recently used: still remembered
    assert len(iam.requests) == 3
    validator.validate("t2")  # evicted
    assert len(iam.requests) == 4
    assert "t1" not in repr(validator.guard._valid._items)
    assert token_fingerprint("t1") in validator.guard._valid._items


@pytest.mark.parametrize("token", ["", "   "])
def test_empty_token_is_invalid_without_asking(token: str) -> None:
    iam = FakeIam()
    with pytest.raises(InvalidToken):
        make(iam, [NOW]).validate(token)
    assert iam.requests == []


def test_iam_unreachable_is_unavailable_not_invalid() -> None:
    def boom(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    iam = FakeIam()
    iam.answer = boom
    with pytest.raises(TokenServiceUnavailable):
        make(iam, [NOW]).validate("tok")


@pytest.mark.parametrize("status", [401, 429, 500, 503])
def test_iam_refusing_our_credentials_or_failing_is_unavailable(status: int) -> None:
    iam = FakeIam()
    iam.answer = lambda r: httpx.Response(status, json={"message": "nope"})
    with pytest.raises(TokenServiceUnavailable):
        make(iam, [NOW]).validate("tok")


def test_iam_non_json_answer_is_unavailable() -> None:
    iam = FakeIam()
    iam.answer = lambda r: httpx.Response(200, text="<html>")
    with pytest.raises(TokenServiceUnavailable):
        make(iam, [NOW]).validate("tok")


def test_iam_400_is_invalid_token() -> None:
    iam = FakeIam()
    iam.answer = lambda r: httpx.Response(400, json={"valid": False, "message": "malformed"})
    with pytest.raises(InvalidToken):
        make(iam, [NOW]).validate("tok")


def test_supervisor_role() -> None:
    iam = FakeIam()
    iam.answer = lambda r: httpx.Response(
        200, json={"valid": True, "identity": "sup", "roles": ["supervisor"], "expiration": None}
    )
    info = make(iam, [NOW]).validate("tok")
    assert info.is_supervisor
    assert info.worker_sid is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2027-01-15T12:00:00Z", 1_800_014_400.0),
        (1_799_841_600, 1_799_841_600.0),
        (1_799_841_600_000, 1_799_841_600.0),
        ("1799841600", 1_799_841_600.0),
        (None, None),
        ("garbage", None),
    ],
)
def test_parse_expiration(value: object, expected: float | None) -> None:
    assert parse_expiration(value) == expected


def test_positive_answer_is_reused_only_up_to_max_cache_time() -> None:
    iam = FakeIam()  # the token itself is valid for an hour
    clock = [NOW]
    validator = Remembering(iam, clock, max_cache_s=300.0)
    validator.validate("tok")
    clock[0] = NOW + 299
    validator.validate("tok")
    assert len(iam.requests) == 1
    clock[0] = NOW + 301
    validator.validate("tok")
    assert len(iam.requests) == 2


def test_validated_info_keeps_the_real_expiry_also_from_memory() -> None:
    validator = Remembering(FakeIam(), [NOW])
    assert validator.validate("tok").expires_at == NOW + 3600
    assert validator.validate("tok").expires_at == NOW + 3600


def test_a_remembered_refusal_gives_twilios_reason_again() -> None:
    # The second try on an expired token said only "Twilio refused this token a moment ago".
    iam = FakeIam()
    iam.answer = lambda r: httpx.Response(
        200, json={"valid": False, "message": "Access Token expired or expiration date invalid"}
    )
    validator = Remembering(iam, [NOW])
    for _ in range(2):
        with pytest.raises(InvalidToken, match="Access Token expired") as refused:
            validator.validate("tok")
    assert len(iam.requests) == 1  # the second answer came from memory
    assert "a moment ago" in str(refused.value)
