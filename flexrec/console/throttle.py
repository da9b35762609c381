"""Password sign-in throttling, before any password is hashed: per client first, and an account
limit that slows guessing without ever locking the account's owner out.

Three budgets, each spent by a wrong password and given back by a right one:
- the client (address): 20 wrong guesses, one back every 6 s, whatever the accounts; spent, the
  client is refused (429 with Retry-After);
- the client on one account: 3 wrong guesses, one back every 2 minutes; spent, that client is
  refused for that account only (it has been failing on it);
- the account: 5 wrong guesses, one back a minute. Spent, it refuses nobody: an attempt from a
  client that still has its own budgets is tried after a short delay (`slow_down_s`), so
  guessing one account from many addresses slows down while its owner, signing in from a
  client that has not been failing, still gets in. (Refusing everyone here let one wrong
  guess a minute from anywhere keep a known supervisor locked out for ever.)
Refusals cost the service nothing (no scrypt, whose hash takes 16 MiB); delays are spent
on the event loop, not on the hashing threads. Budgets are per process.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from flexrec.web.budgets import KeyedBudget

DEFAULT_SLOW_DOWN_S = 2.0


@dataclass(frozen=True)
class SignInAttempt:
    """What the throttle decided for one attempt: refused (whole seconds to wait) or allowed,
    maybe after `delay_s`; `succeeded` takes it back to return what it spent."""

    username: str
    client: str
    retry_after_s: int = 0
    delay_s: float = 0.0
    charged_account: bool = False

    @property
    def refused(self) -> bool:
        """True when the attempt must not be tried now (answer 429)."""
        return self.retry_after_s > 0


class SignInThrottle:
    """Decides whether, and how soon, a password sign-in may be tried."""

    def __init__(
        self,
        *,
        account_burst: int = 5,
        account_refill_s: float = 60.0,
        client_burst: int = 20,
        client_refill_s: float = 6.0,
        pair_burst: int = 3,
        pair_refill_s: float = 120.0,
        slow_down_s: float = DEFAULT_SLOW_DOWN_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._accounts = KeyedBudget(account_burst, account_refill_s, clock=clock)
        self._clients = KeyedBudget(client_burst, client_refill_s, clock=clock)
        self._pairs = KeyedBudget(pair_burst, pair_refill_s, clock=clock)
        self.slow_down_s = slow_down_s

    @staticmethod
    def _pair(account: str, client: str) -> str:
        return f"{client}\n{account}"

    def begin(self, username: str, client: str) -> SignInAttempt:
        """Spend what this attempt may cost; the decision says whether and when to try it."""
        account = username.strip().lower()
        pair = self._pair(account, client)
        wait = max(self._clients.wait_s(client), self._pairs.wait_s(pair))
        if not wait:
            wait = self._clients.take(client)
            if not wait:
                wait = self._pairs.take(pair)
                if wait:  # a concurrent attempt took the pair's last unit
                    self._clients.give_back(client)
        if wait:
            return SignInAttempt(account, client, retry_after_s=max(1, math.ceil(wait)))
        if self._accounts.take(account):
            # The account is being guessed: slow this attempt down, never refuse it.
            return SignInAttempt(account, client, delay_s=self.slow_down_s)
        return SignInAttempt(account, client, charged_account=True)

    def succeeded(self, attempt: SignInAttempt) -> None:
        """The password was right: the attempt does not count against anyone."""
        self._clients.give_back(attempt.client)
        self._pairs.give_back(self._pair(attempt.username, attempt.client))
        if attempt.charged_account:
            self._accounts.give_back(attempt.username)
