"""Nobody can exhaust the service or make it hammer Twilio: body caps before authentication,
cheap checks before token checks, refused tokens remembered, a budget of IAM checks per client,
and token checks on threads of their own."""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest
from server_harness import WT_OWN, FakeTokens, Harness

from flexrec.twilio.flex_tokens import MAX_TOKEN_CHARS, InvalidToken, TokenInfo
from flexrec.web import token_guard
from flexrec.web.body_limit import MAX_OTHER_BODY_BYTES, MAX_WEBHOOK_FORM_BYTES
from flexrec.web.token_guard import (
    TOKEN_CHECK_THREADS,
    TokenGuard,
    TokenLane,
    TooManyTokenChecks,
)

BASE = "/api/agent/tasks"


def chunked(total: int, first: bytes = b"Token=tok-alice&x=") -> Iterator[bytes]:
    """A body with no Content-Length (httpx sends an iterator chunked)."""
    yield first
    sent = len(first)
    while sent < total:
        piece = b"a" * min(16 * 1024, total - sent)
        sent += len(piece)
        yield piece


def test_chunked_token_body_over_the_cap_is_413_before_any_token_check(harness: Harness) -> None:
    response = harness.client.post(
        f"{BASE}/{WT_OWN}/recording/pause",
        content=chunked(MAX_OTHER_BODY_BYTES * 4),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413
    assert response.json()["error"] == "body_too_large"
    assert harness.tokens.seen == []
    assert harness.recording.calls == []


def test_chunked_json_token_body_over_the_cap_is_413(harness: Harness) -> None:
    response = harness.client.post(
        f"{BASE}/{WT_OWN}/recording",
        content=chunked(MAX_OTHER_BODY_BYTES + 1, b'{"Token": "'),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert harness.tokens.seen == []


def test_declared_length_over_the_cap_is_413_on_any_route(harness: Harness) -> None:
    # Even a route that never reads a body refuses to be sent a huge one.
    response = harness.client.post(
        "/api/admin/recordings", content=b"x" * (MAX_OTHER_BODY_BYTES + 1)
    )
    assert response.status_code == 413


def test_chunked_webhook_body_over_the_cap_is_413_and_not_handled(harness: Harness) -> None:
    response = harness.client.post(
        "/webhooks/taskrouter",
        content=chunked(MAX_WEBHOOK_FORM_BYTES + 1, b"EventType=task.created&x="),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413
    assert harness.recording.calls == []


def test_a_token_longer_than_any_real_one_is_refused_without_asking(harness: Harness) -> None:
    token = "a" * (MAX_TOKEN_CHARS + 1)
    response = harness.client.get(
        f"{BASE}/{WT_OWN}/recording", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 401
    assert harness.tokens.seen == []


def test_a_token_with_characters_no_token_has_is_refused_without_asking(harness: Harness) -> None:
    response = harness.client.post(
        f"{BASE}/{WT_OWN}/recording", data={"Token": "not a token; <script>"}
    )
    assert response.status_code == 401
    assert harness.tokens.seen == []


def test_a_malformed_task_sid_is_400_before_the_token_is_checked(harness: Harness) -> None:
    response = harness.client.get(
        f"{BASE}/WTnot-a-sid/recording", headers={"Authorization": "Bearer garbage-token"}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "bad_task_sid"
    assert harness.tokens.seen == []


def test_a_refused_token_is_remembered_and_not_asked_again(harness: Harness) -> None:
    for _ in range(5):
        response = harness.client.get(
            f"{BASE}/{WT_OWN}/recording", headers={"Authorization": "Bearer same-garbage"}
        )
        assert response.status_code == 401
    assert harness.tokens.seen == ["same-garbage"]


def test_garbage_tokens_from_one_client_reach_iam_only_a_burst(harness: Harness) -> None:
    statuses = []
    for n in range(60):
        response = harness.client.get(
            f"{BASE}/{WT_OWN}/recording", headers={"Authorization": f"Bearer garbage-{n}"}
        )
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert int(response.headers["Retry-After"]) >= 1
            assert response.json()["error"] == "too_many_token_checks"
    assert len(harness.tokens.seen) == TokenGuard().client_burst
    assert statuses.count(429) == 60 - len(harness.tokens.seen)
    # A refused client gets nothing from Twilio, even with a token that would be valid...
    blocked = harness.client.get(
        f"{BASE}/{WT_OWN}/recording", headers={"Authorization": "Bearer tok-alice"}
    )
    assert blocked.status_code == 429
    assert "tok-alice" not in harness.tokens.seen


def test_valid_tokens_never_run_the_budget_down(harness: Harness) -> None:
    for n in range(40):
        harness.tokens.table[f"tok-agent-{n}"] = harness.tokens.table["tok-alice"]
        response = harness.client.get(
            f"{BASE}/{WT_OWN}/recording", headers={"Authorization": f"Bearer tok-agent-{n}"}
        )
        assert response.status_code == 200
    assert len(harness.tokens.seen) == 40


def test_a_known_token_is_answered_from_memory_and_never_charged(harness: Harness) -> None:
    def agent_asks() -> int:
        return harness.client.get(
            f"{BASE}/{WT_OWN}/recording", headers={"Authorization": "Bearer tok-alice"}
        ).status_code

    assert agent_asks() == 200
    # Garbage from the agent's own address (one NAT for the whole contact centre) spends
    # the address's budget of Twilio checks...
    flood = [
        harness.client.get(
            f"{BASE}/{WT_OWN}/recording", headers={"Authorization": f"Bearer garbage-{n}"}
        ).status_code
        for n in range(30)
    ]
    assert 429 in flood
    # ...but the agent's token, known good, is answered from memory: never refused, and
    # Twilio was asked about it once.
    assert [agent_asks() for _ in range(20)] == [200] * 20
    assert harness.tokens.seen.count("tok-alice") == 1


def test_the_budget_comes_back_with_time() -> None:
    now = [0.0]
    guard = TokenGuard(client_burst=2, client_refill_s=10.0, clock=lambda: now[0])
    tokens = FakeTokens()
    for n in range(2):
        with pytest.raises(Exception, match="expired"):
            guard.validate(tokens, f"bad-{n}", "10.0.0.1")
    with pytest.raises(Exception, match="too many"):
        guard.validate(tokens, "bad-3", "10.0.0.1")
    # Another client is not punished for the first one's garbage.
    assert guard.validate(tokens, "tok-alice", "10.0.0.2").identity == "alice"
    now[0] = 10.0
    assert guard.validate(tokens, "tok-alice", "10.0.0.1").identity == "alice"


@dataclass
class SlowTokens:
    """A token validator that hangs until released, like an IAM that stopped answering."""

    release: threading.Event = field(default_factory=threading.Event)
    entered: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))

    def validate(self, token: str) -> TokenInfo:
        self.entered.release()
        self.release.wait(30)
        return TokenInfo("alice", None, ("agent",), None)


def test_slow_token_checks_do_not_starve_webhooks(harness: Harness) -> None:
    slow = SlowTokens()
    harness.services.tokens = slow
    harness.services.token_guard = TokenGuard(client_burst=1000)
    # More hanging token checks than the default threadpool has threads (40).
    waiting = [
        threading.Thread(
            target=harness.client.get,
            args=(f"{BASE}/{WT_OWN}/recording",),
            kwargs={"headers": {"Authorization": f"Bearer tok-{n}"}},
        )
        for n in range(45)
    ]
    try:
        for thread in waiting:
            thread.start()
        inside = 0
        while inside < 45 and slow.entered.acquire(timeout=2):
            inside += 1
        # Never more hanging checks than the token checks' own threads...
        assert inside == TOKEN_CHECK_THREADS
        answered: list[int] = []
        params = {"CallSid": "CA" + "5" * 32, "CallStatus": "completed", "Direction": "inbound"}

        def post_webhook() -> None:
            answered.append(harness.post_signed("/webhooks/call-status", params).status_code)

        webhook = threading.Thread(target=post_webhook)
        webhook.start()
        webhook.join(timeout=10)
        # ...and the webhooks' threadpool stays free.
        assert answered == [204]
    finally:
        slow.release.set()
        for thread in waiting:
            thread.join(timeout=30)


def test_an_iam_outage_is_not_passed_on_by_a_flood(harness: Harness) -> None:
    harness.tokens.down = True
    statuses = [
        harness.client.get(
            f"{BASE}/{WT_OWN}/recording", headers={"Authorization": f"Bearer tok-{n}"}
        ).status_code
        for n in range(30)
    ]
    assert len(harness.tokens.seen) == TokenGuard().client_burst
    assert set(statuses) == {503, 429}


AC_HERE = "AC" + "0" * 32  # the harness's account
NOW = 1_800_000_000.0


def _part(value: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def jwt(claims: dict[str, object], header: dict[str, object] | None = None) -> str:
    """A JWT-shaped token (its signature is noise: only IAM could check one)."""
    head = header or {"alg": "HS256", "typ": "JWT", "cty": "twilio-fpa;v=1"}
    return f"{_part(head)}.{_part(claims)}.{secrets.token_urlsafe(32)}"


def jwe() -> str:
    """A JWE-shaped token: a readable header, the rest opaque (as Flex user tokens are)."""
    head = _part({"alg": "dir", "enc": "A256GCM", "cty": "twilio-fpa;v=1"})
    parts = (secrets.token_urlsafe(12), secrets.token_urlsafe(300), secrets.token_urlsafe(16))
    return f"{head}..{'.'.join(parts)}"


def well_formed(n: int = 0) -> str:
    """A token this account's guard cannot refuse by its look: only IAM knows it is wrong."""
    return jwt({"sub": AC_HERE, "exp": NOW + 3600, "jti": f"flood-{n}-{secrets.token_hex(4)}"})


@pytest.mark.parametrize(
    ("token", "why"),
    [
        (secrets.token_urlsafe(48), "neither a JWT nor a JWE"),
        ("a.b.c", "not base64url JSON"),
        (jwt({"sub": "AC" + "9" * 32, "exp": NOW + 3600}), "another"),
        (jwt({"sub": AC_HERE, "exp": NOW - 3600}), "expired"),
        (jwt({"sub": AC_HERE}), "no expiry"),
        (jwt({"exp": NOW + 3600}), "names no account"),
        (jwt({"sub": AC_HERE, "exp": "soon"}), "not a number"),
        (jwt({"sub": AC_HERE, "exp": NOW + 3600}, {"typ": "JWT"}), "no algorithm"),
        (_part({"alg": "dir"}) + jwe()[jwe().index(".") :], "no encryption"),
    ],
)
def test_a_token_that_is_no_flex_token_of_this_account_is_refused_locally(
    token: str, why: str
) -> None:
    guard = TokenGuard(account_sid=AC_HERE, wall_clock=lambda: NOW, client_burst=1)
    tokens = FakeTokens()
    for _ in range(3):  # never charged: the client's single unit stays
        with pytest.raises(InvalidToken, match=why):
            guard.validate(tokens, token, "10.0.0.1")
    assert tokens.seen == []
    tokens.table[good := well_formed()] = tokens.table["tok-alice"]
    assert guard.validate(tokens, good, "10.0.0.1").identity == "alice"


def test_well_formed_tokens_of_this_account_are_asked(harness: Harness) -> None:
    guard = TokenGuard(account_sid=AC_HERE, wall_clock=lambda: NOW)
    tokens = FakeTokens()
    for token in (well_formed(), jwe()):
        with pytest.raises(InvalidToken, match="expired"):  # FakeTokens' word for "unknown"
            guard.validate(tokens, token, "10.0.0.1")
    assert len(tokens.seen) == 2


def test_a_new_token_on_a_live_task_is_checked_during_a_flood_of_well_formed_tokens(
    harness: Harness,
) -> None:
    harness.services.token_guard = TokenGuard(account_sid=AC_HERE, wall_clock=lambda: NOW)
    harness.services.live_task = lambda task_sid: task_sid == WT_OWN
    stranger_tasks = [f"WT{n:032x}" for n in range(40)]
    flood = [
        harness.client.get(
            f"{BASE}/{task}/recording", headers={"Authorization": f"Bearer {well_formed(n)}"}
        ).status_code
        for n, task in enumerate(stranger_tasks)
    ]
    assert flood.count(401) == TokenGuard().client_burst  # what reached IAM
    assert set(flood[TokenGuard().client_burst :]) == {429}  # the address's budget is spent
    # An agent of the contact centre, behind the same address, opens their live task with a
    # token never seen before: it is checked on the task's own budget, at once.
    fresh = well_formed(999)
    harness.tokens.table[fresh] = harness.tokens.table["tok-alice"]
    answer = harness.client.get(
        f"{BASE}/{WT_OWN}/recording", headers={"Authorization": f"Bearer {fresh}"}
    )
    assert answer.status_code == 200
    # Inventing a task SID buys the flood nothing more.
    more = harness.client.get(
        f"{BASE}/{'WT' + 'e' * 32}/recording", headers={"Authorization": f"Bearer {well_formed()}"}
    )
    assert more.status_code == 429


def test_a_live_tasks_own_budget_is_small() -> None:
    guard = TokenGuard(account_sid=AC_HERE, wall_clock=lambda: NOW, client_burst=0)
    lane = TokenLane("task:" + WT_OWN, lambda: True)
    tokens = FakeTokens()
    outcomes = []
    for n in range(6):
        try:
            guard.validate(tokens, well_formed(n), "10.0.0.1", lane)
        except InvalidToken:
            outcomes.append("asked")
        except TooManyTokenChecks:
            outcomes.append("throttled")
    assert outcomes == ["asked"] * guard.lane_burst + ["throttled"] * (6 - guard.lane_burst)


@dataclass
class UnhurriedTokens:
    """IAM answering every new agent token valid after a realistic delay."""

    delay_s: float = 0.05
    seen: list[str] = field(default_factory=list)

    def validate(self, token: str) -> TokenInfo:
        self.seen.append(token)
        time.sleep(self.delay_s)
        return TokenInfo(token, None, ("supervisor",), None)


def test_many_agents_starting_at_once_behind_one_address_wait_their_turn(
    harness: Harness,
) -> None:
    # A shift starts: 60 new tokens at once from the contact centre's one address, more than
    # its burst of checks in flight. Valid answers give units back, so the rest wait for them
    # in order instead of being refused.
    tokens = UnhurriedTokens()
    harness.services.tokens = tokens

    def open_task(n: int) -> int:
        return harness.client.get(
            f"{BASE}/{WT_OWN}/recording", headers={"Authorization": f"Bearer new-agent-{n}"}
        ).status_code

    with ThreadPoolExecutor(max_workers=60) as pool:
        statuses = list(pool.map(open_task, range(60)))
    assert statuses == [200] * 60
    assert len(tokens.seen) == 60


def test_waiting_for_checks_under_way_ends_in_429_when_they_all_fail(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(token_guard, "QUEUE_WAIT_S", 0.5)
    harness.services.token_guard = TokenGuard(client_burst=2)
    slow = SlowTokens()
    harness.services.tokens = slow
    with ThreadPoolExecutor(max_workers=3) as pool:
        hanging = [
            pool.submit(
                harness.client.get,
                f"{BASE}/{WT_OWN}/recording",
                headers={"Authorization": f"Bearer tok-{n}"},
            )
            for n in range(2)
        ]
        for _ in range(2):
            assert slow.entered.acquire(timeout=10)
        began = time.monotonic()
        third = harness.client.get(
            f"{BASE}/{WT_OWN}/recording", headers={"Authorization": "Bearer tok-3"}
        )
        assert third.status_code == 429  # waited its turn, and nothing came back in time
        assert time.monotonic() - began >= 0.4
        slow.release.set()
        # (valid tokens, though not of the task's agent: checked, then refused the task)
        assert [f.result(timeout=10).status_code for f in hanging] == [403, 403]
