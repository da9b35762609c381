"""FlexTokenValidator against the simulator's IAM endpoint (same paths and JSON as Twilio)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from flexrec.twilio.flex_tokens import FlexTokenValidator, InvalidToken, TokenServiceUnavailable
from flexrec.twilio.token_shape import EXPIRY_LEEWAY_S, MalformedToken, check_token_shape
from flexsim import SimClock, World, create_sim_app, defaults, issue_token
from flexsim.testing import AppTransport

SIM_ORIGIN = "http://127.0.0.1:8181"


@pytest.fixture
def sim() -> Iterator[tuple[World, AppTransport]]:
    world = World(clock=SimClock(scale=0, start_epoch=1_790_000_000.0))
    transport = AppTransport(create_sim_app(world))
    yield world, transport
    transport.close()


def validator(transport: AppTransport, auth_token: str = defaults.AUTH_TOKEN) -> Any:
    return FlexTokenValidator(
        defaults.ACCOUNT_SID,
        auth_token,
        base_url=SIM_ORIGIN,
        transport=transport,
        clock=lambda: 1_790_000_000.0,
    )


def test_agent_and_supervisor_tokens(sim: tuple[World, AppTransport]) -> None:
    world, transport = sim
    alice = world.add_worker("alice", {"contact_uri": "client:alice"})
    sue = world.add_worker("sue", {"contact_uri": "client:sue"}, roles=("supervisor",))
    v = validator(transport)
    info = v.validate(issue_token(world, alice.sid, 3600, ["agent"]))
    assert (info.identity, info.worker_sid, info.roles) == ("alice", alice.sid, ("agent",))
    assert info.expires_at == pytest.approx(1_790_003_600.0)
    assert v.validate(issue_token(world, sue.sid, 600, ["supervisor"])).is_supervisor
    assert transport.urls[0] == (f"{SIM_ORIGIN}/v1/Accounts/{defaults.ACCOUNT_SID}/Tokens/validate")


def test_expired_and_forged_tokens_are_invalid(sim: tuple[World, AppTransport]) -> None:
    world, transport = sim
    alice = world.add_worker("alice", {})
    token = issue_token(world, alice.sid, 60, ["agent"])
    world.clock.advance(61)
    with pytest.raises(InvalidToken):
        validator(transport).validate(token)
    with pytest.raises(InvalidToken):
        validator(transport).validate(token[:-4] + "AAAA")


def test_wrong_account_credentials_are_unavailable_not_invalid(
    sim: tuple[World, AppTransport],
) -> None:
    world, transport = sim
    alice = world.add_worker("alice", {})
    with pytest.raises(TokenServiceUnavailable):
        validator(transport, auth_token="wrong").validate(
            issue_token(world, alice.sid, 3600, ["agent"])
        )


def test_simulator_tokens_show_what_a_real_token_shows(sim: tuple[World, AppTransport]) -> None:
    world, _transport = sim
    alice = world.add_worker("alice", {"contact_uri": "client:alice"})
    token = issue_token(world, alice.sid, 3600, ["agent"])
    now = world.clock.now()
    check_token_shape(token, defaults.ACCOUNT_SID, now)  # a JWT of this account, not expired
    with pytest.raises(MalformedToken, match="another"):
        check_token_shape(token, "AC" + "9" * 32, now)
    with pytest.raises(MalformedToken, match="expired"):
        check_token_shape(token, defaults.ACCOUNT_SID, now + 3600 + EXPIRY_LEEWAY_S)
