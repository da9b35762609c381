"""Password sign-in is throttled per account and per client, and says when to retry."""

from __future__ import annotations

from collections.abc import Callable

from console_client_helpers import TestClient, sign_in

from flexrec.console.sandbox import AGENTS, SUPERVISOR
from flexrec.console.throttle import SignInThrottle


def test_guessing_one_accounts_password_is_stopped_with_retry_after(
    client_for: Callable[..., TestClient],
) -> None:
    client = client_for()
    for _ in range(5):
        assert sign_in(client, SUPERVISOR[0], "wrong-guess").status_code == 401
    refused = sign_in(client, SUPERVISOR[0], SUPERVISOR[1])  # even the right one, for now
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert "try again in" in refused.text
    # Other accounts are not locked by it.
    alice = next(iter(AGENTS))
    assert sign_in(client, alice, AGENTS[alice][0]).status_code == 303


def test_one_client_guessing_many_accounts_is_stopped(
    client_for: Callable[..., TestClient],
) -> None:
    client = client_for()
    statuses = [sign_in(client, f"nobody-{n}", "wrong-guess").status_code for n in range(25)]
    assert statuses[:20] == [401] * 20
    assert set(statuses[20:]) == {429}


def test_budgets_come_back_and_a_right_password_costs_nothing() -> None:
    now = [0.0]
    throttle = SignInThrottle(clock=lambda: now[0])
    for _ in range(5):
        assert throttle.begin("Sam", "10.0.0.1") == 0
    assert throttle.begin("sam", "10.0.0.2") == 60  # per account, whatever the case or client
    now[0] = 60.0
    assert throttle.begin("sam", "10.0.0.1") == 0
    throttle.succeeded("sam", "10.0.0.1")
    assert throttle.begin("sam", "10.0.0.1") == 0
