"""Keeps token checks from becoming Twilio traffic a stranger controls, or starving webhooks.

Every Flex token the service has not seen costs one call to Twilio IAM. Before that call:
- a token no real Flex token looks like (too long, characters outside JWT/JWE's alphabet) is
  refused at once;
- a token IAM refused in the last minute is refused again from memory (kept by SHA-256 digest,
  never the token);
- each client (address) has a small budget of IAM checks: every check takes one unit while it
  runs, a valid answer gives it back, an invalid one (or no answer) keeps it, and units come
  back slowly.
  A client out of units is refused (429 with Retry-After) and nothing reaches Twilio, so garbage
  tokens cost at most a burst plus one per refill period per client, while valid tokens from
  many agents behind one address never run the budget down.
The checks run on a thread limiter of their own: a slow IAM ties up those threads, never the
threadpool the webhooks are handled on.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from flexrec.server.budgets import KeyedBudget
from flexrec.server.thread_pools import POOL_SIZES, run_on
from flexrec.twilio.flex_tokens import (
    MAX_TOKEN_CHARS,
    InvalidToken,
    TokenError,
    TokenInfo,
    TokenServiceUnavailable,
    TokenValidator,
    token_fingerprint,
)

# JWT/JWE compact serialisation is base64url parts joined by dots; `+ / =` tolerate base64.
_TOKEN_ALPHABET = re.compile(r"^[A-Za-z0-9._~+/=-]+$")
# Threads that may wait on IAM at once; webhooks keep the default threadpool to themselves.
TOKEN_CHECK_THREADS = POOL_SIZES["token_checks"]


class TooManyTokenChecks(TokenError):
    """This client spent its budget of token checks; retry after `retry_after_s` seconds."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__("too many Flex token checks from this client; retry later")
        self.retry_after_s = retry_after_s


def is_plausible_token(token: str) -> bool:
    """True when `token` could be a Flex token (length and alphabet), so worth asking IAM."""
    return 0 < len(token) <= MAX_TOKEN_CHARS and _TOKEN_ALPHABET.match(token) is not None


@dataclass
class TokenGuard:
    """Per-app memory of refused tokens and per-client budgets of IAM checks (thread-safe)."""

    invalid_ttl_s: float = 60.0
    client_burst: int = 10
    client_refill_s: float = 6.0  # one more unit per client this often
    max_entries: int = 10_000
    clock: Callable[[], float] = time.monotonic
    _invalid: OrderedDict[str, float] = field(default_factory=OrderedDict, init=False)
    _clients: KeyedBudget = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        self._clients = KeyedBudget(
            self.client_burst, self.client_refill_s, max_keys=self.max_entries, clock=self.clock
        )

    def admit(self, token: str, client: str) -> str:
        """Take one unit of `client`'s budget for checking `token`; returns the token's digest.

        Raises `InvalidToken` (implausible or recently refused) or `TooManyTokenChecks`.
        """
        if not is_plausible_token(token):
            raise InvalidToken("this is not a Flex token")
        digest = token_fingerprint(token)
        now = self.clock()
        with self._lock:
            until = self._invalid.get(digest)
            if until is not None:
                if until > now:
                    raise InvalidToken("the Flex token was rejected")
                del self._invalid[digest]
        wait = self._clients.take(client)
        if wait:
            raise TooManyTokenChecks(wait)
        return digest

    def settle(self, digest: str, client: str, *, refused: bool) -> None:
        """End a check: a refused token is remembered and keeps its unit; else it is returned."""
        if not refused:
            self._clients.give_back(client)
            return
        with self._lock:
            self._invalid[digest] = self.clock() + self.invalid_ttl_s
            self._invalid.move_to_end(digest)
            while len(self._invalid) > self.max_entries:
                self._invalid.popitem(last=False)

    def validate(self, validator: TokenValidator, token: str, client: str) -> TokenInfo:
        """`validator.validate(token)` behind this guard (blocking: run it on a thread)."""
        digest = self.admit(token, client)
        try:
            info = validator.validate(token)
        except InvalidToken:
            self.settle(digest, client, refused=True)
            raise
        except TokenServiceUnavailable:
            # Says nothing against the token (not remembered), but the IAM call was made: the
            # unit stays spent, so a flood during an IAM outage is not passed on either.
            raise
        except BaseException:
            self.settle(digest, client, refused=False)
            raise
        self.settle(digest, client, refused=False)
        return info


async def check_token(
    guard: TokenGuard, validator: TokenValidator, token: str, client: str | None
) -> TokenInfo:
    """Validate a Flex token through the guard, on the token checks' own threads.

    Raises `InvalidToken`, `TooManyTokenChecks` or `TokenServiceUnavailable`.
    """
    return await run_on(
        "token_checks", guard.validate, validator, token.strip(), client or "unknown"
    )


def retry_after_header(exc: TooManyTokenChecks) -> dict[str, str]:
    """The `Retry-After` header (whole seconds, at least 1) of a refused check."""
    return {"Retry-After": str(max(1, math.ceil(exc.retry_after_s)))}


__all__ = [
    "MAX_TOKEN_CHARS",
    "InvalidToken",
    "TokenGuard",
    "TokenServiceUnavailable",
    "TooManyTokenChecks",
    "check_token",
    "is_plausible_token",
    "retry_after_header",
]
