"""Password sign-in throttling, per account and per client, before any password is hashed.

Each wrong password spends a unit of the account's budget (5, one back a minute) and of the
client's (20, one back every 6 s); a right one gives them back. When either is spent the
sign-in is refused (429 with Retry-After) before scrypt runs, so guessing costs the guesser
time, not the service memory (each scrypt hash takes 16 MiB). Budgets are per process.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from flexrec.server.budgets import KeyedBudget


class SignInThrottle:
    """Decides whether a password sign-in may be tried now."""

    def __init__(
        self,
        *,
        account_burst: int = 5,
        account_refill_s: float = 60.0,
        client_burst: int = 20,
        client_refill_s: float = 6.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._accounts = KeyedBudget(account_burst, account_refill_s, clock=clock)
        self._clients = KeyedBudget(client_burst, client_refill_s, clock=clock)

    def begin(self, username: str, client: str) -> int:
        """Spend a unit of both budgets: 0 to go ahead, else whole seconds to wait."""
        account = username.strip().lower()
        wait = max(self._accounts.wait_s(account), self._clients.wait_s(client))
        if not wait:
            wait = self._clients.take(client)
            if not wait:
                wait = self._accounts.take(account)
                if wait:
                    self._clients.give_back(client)
        return max(1, math.ceil(wait)) if wait else 0

    def succeeded(self, username: str, client: str) -> None:
        """The password was right: the attempt does not count against anyone."""
        self._accounts.give_back(username.strip().lower())
        self._clients.give_back(client)
