"""Flex tokens issued by the simulator: what IAM's validation answers for each kind of token."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from flexsim.tokens import UnknownWorker, issue_token, validate_token
from flexsim.world import SimClock, World


@pytest.fixture
def world() -> World:
    world = World(clock=SimClock(scale=0, start_epoch=1_800_000_000))
    world.add_worker("Alice Agent", {"contact_uri": "client:alice"})
    world.add_worker("bob", {})
    return world


def _sid(world: World, name: str) -> str:
    return next(w.sid for w in world.workers.values() if w.friendly_name == name)


def test_a_fresh_token_validates_with_the_agent_claims(world: World) -> None:
    alice = _sid(world, "Alice Agent")
    result = validate_token(world, issue_token(world, alice, 600, ["agent"]))
    assert result["valid"] is True
    assert (result["code"], result["message"]) == (0, None)
    assert (result["worker_sid"], result["identity"], result["roles"]) == (
        alice,
        "alice",
        ["agent"],
    )
    assert result["account_sid"] == world.account_sid
    assert result["expiration"] == "2027-01-15T08:10:00Z"  # 1_800_000_000 + 600 s
    assert result["realm_user_id"].startswith("US")


def test_identity_falls_back_to_the_worker_name(world: World) -> None:
    result = validate_token(world, issue_token(world, _sid(world, "bob"), 60, ("supervisor",)))
    assert (result["identity"], result["roles"]) == ("bob", ["supervisor"])


def test_expiry_follows_the_simulated_clock(world: World) -> None:
    token = issue_token(world, _sid(world, "bob"), 60, ["agent"])
    world.clock.advance(59)
    assert validate_token(world, token)["valid"] is True
    world.clock.advance(1)
    expired = validate_token(world, token)
    assert (expired["valid"], expired["code"], expired["worker_sid"]) == (False, 20104, None)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # signature changed
        lambda t: t.split(".")[0] + ".e30." + t.split(".")[2],  # claims swapped for {}
        lambda t: "sim2" + t[4:],
        lambda t: "",
        lambda t: "not.a.token.at.all",
        lambda t: None,
        lambda t: 42,
    ],
)
def test_forged_or_malformed_tokens_are_invalid(world: World, mangle: object) -> None:
    token = issue_token(world, _sid(world, "bob"), 60, ["agent"])
    result = validate_token(world, mangle(token))  # type: ignore[operator]
    assert (result["valid"], result["code"]) == (False, 20101)
    assert result["identity"] is None


def test_a_token_from_another_world_is_invalid(world: World) -> None:
    other = World(clock=SimClock(scale=0, start_epoch=1_800_000_000))
    worker = other.add_worker("eve", {})
    assert validate_token(world, issue_token(other, worker.sid, 60, ["agent"]))["valid"] is False


def test_unknown_workers_get_no_token(world: World) -> None:
    with pytest.raises(UnknownWorker):
        issue_token(world, "WK" + "0" * 32, 60, ["agent"])


def _decoded(part: str) -> dict[str, Any]:
    value = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    assert isinstance(value, dict)
    return value


def test_a_token_is_shaped_like_a_twilio_access_token(world: World) -> None:
    # A service reads what a real token shows (shape, account, expiry) before asking IAM.
    token = issue_token(world, _sid(world, "Alice Agent"), 600, ["agent"])
    header, claims, signature = token.split(".")
    assert _decoded(header) == {"alg": "HS256", "typ": "JWT", "cty": "twilio-fpa;v=1"}
    payload = _decoded(claims)
    assert (payload["sub"], payload["exp"]) == (world.account_sid, 1_800_000_000 + 600)
    assert payload["iss"].startswith("SK")
    assert payload["grants"]["identity"] == "alice"
    assert payload["grants"]["task_router"]["worker_sid"] == _sid(world, "Alice Agent")
    assert signature
