"""Password sign-in is throttled per account and per client, and says when to retry."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from console_client_helpers import TestClient, login_csrf_of, sign_in

from flexrec.console import users
from flexrec.console.sandbox import AGENTS, SUPERVISOR, Sandbox
from flexrec.console.throttle import SignInThrottle
from flexrec.server.thread_pools import POOL_SIZES


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


def test_password_hashes_run_on_a_small_pool_of_their_own(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each scrypt takes 16 MiB: guesses from many clients at once must not run 40 at a time.
    release, entered = threading.Event(), threading.Semaphore(0)

    def slow_verify(_password: str, _stored: str) -> bool:
        entered.release()
        release.wait(30)
        return False

    monkeypatch.setattr(users, "verify_password", slow_verify)
    with TestClient(sandbox.app) as client:
        login_csrf = login_csrf_of(client)

        def guess(n: int) -> None:
            data = {"username": f"nobody-{n}", "password": "x", "csrf_token": login_csrf}
            client.post("/console/login", data=data, follow_redirects=False)

        guesses = [threading.Thread(target=guess, args=(n,)) for n in range(12)]
        try:
            for thread in guesses:
                thread.start()
            inside = 0
            while inside < 12 and entered.acquire(timeout=2):
                inside += 1
            assert inside == POOL_SIZES["password_hashes"]
        finally:
            release.set()
            for thread in guesses:
                thread.join(timeout=30)
