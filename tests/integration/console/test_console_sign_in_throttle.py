"""Password sign-in is throttled per account and per client, and says when to retry."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable

import pytest
from console_client_helpers import TestClient, login_csrf_of, sign_in

from flexrec.accounts import users
from flexrec.app.sandbox import AGENTS, SUPERVISOR, Sandbox
from flexrec.console import context as console_context
from flexrec.console.throttle import SignInThrottle
from flexrec.web.thread_pools import POOL_SIZES


def test_a_client_guessing_one_accounts_password_is_stopped_with_retry_after(
    client_for: Callable[..., TestClient],
) -> None:
    client = client_for()
    for _ in range(3):
        assert sign_in(client, SUPERVISOR[0], "wrong-guess").status_code == 401
    refused = sign_in(client, SUPERVISOR[0], SUPERVISOR[1])  # it has been failing: even so
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 120
    assert "try again in" in refused.text
    # Other accounts are not locked by it.
    alice = next(iter(AGENTS))
    assert sign_in(client, alice, AGENTS[alice][0]).status_code == 303


def test_an_account_guessed_from_everywhere_still_lets_its_owner_in(sandbox: Sandbox) -> None:
    # One wrong guess a minute from anywhere used to keep a known supervisor out for ever.
    guessers = [TestClient(sandbox.app, client=(f"203.0.113.{n}", 40000)) for n in range(1, 9)]
    owner = TestClient(sandbox.app, client=("198.51.100.7", 40000))
    try:
        statuses = [sign_in(g, SUPERVISOR[0], "wrong-guess").status_code for g in guessers]
        assert statuses == [401] * len(guessers)  # the account's budget (5) is spent
        assert sign_in(owner, SUPERVISOR[0], SUPERVISOR[1]).status_code == 303
    finally:
        for client in (*guessers, owner):
            client.close()


@pytest.fixture
def still_clock_client_for(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., TestClient]:
    """`client_for` over a console whose throttle's clock stands still: a client's budget
    refills a guess every 6 s, which a slow machine's 25 sign-ins could outlast."""
    monkeypatch.setattr(
        console_context, "SignInThrottle", functools.partial(SignInThrottle, clock=lambda: 0.0)
    )
    made: Callable[..., TestClient] = request.getfixturevalue("client_for")
    return made


def test_one_client_guessing_many_accounts_is_stopped(
    still_clock_client_for: Callable[..., TestClient],
) -> None:
    client = still_clock_client_for()
    statuses = [sign_in(client, f"nobody-{n}", "wrong-guess").status_code for n in range(25)]
    assert statuses[:20] == [401] * 20
    assert set(statuses[20:]) == {429}


def test_budgets_come_back_and_a_right_password_costs_nothing() -> None:
    now = [0.0]
    throttle = SignInThrottle(clock=lambda: now[0])
    for _ in range(3):
        assert not throttle.begin("Sam", "10.0.0.1").refused
    assert throttle.begin("sam", "10.0.0.1").retry_after_s == 120  # per account, any case
    now[0] = 120.0
    attempt = throttle.begin("sam", "10.0.0.1")
    assert not attempt.refused
    throttle.succeeded(attempt)
    assert not throttle.begin("sam", "10.0.0.1").refused


def test_the_account_limit_slows_guessing_and_refuses_nobody() -> None:
    now = [0.0]
    throttle = SignInThrottle(clock=lambda: now[0], slow_down_s=2.0)
    first = [throttle.begin("sam", f"10.0.0.{n}") for n in range(5)]
    assert [(a.refused, a.delay_s) for a in first] == [(False, 0.0)] * 5
    # The account's budget is spent: other clients are slowed down, never refused, for as
    # long as someone keeps guessing (one wrong guess a minute from a new address).
    for minute in range(1, 30):
        now[0] = 60.0 * minute
        throttle.begin("sam", f"10.1.0.{minute}")
        owner = throttle.begin("sam", "192.0.2.1")
        assert (owner.refused, owner.delay_s) == (False, 2.0)
        assert not owner.charged_account  # so its success gives the guessers nothing back
        throttle.succeeded(owner)


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
