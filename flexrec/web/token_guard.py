"""Everything in front of Twilio IAM: which Flex tokens are answered from memory, which are
refused locally, and how many checks a stranger can make the service ask Twilio for.

In order, for each token a request carries:
1. a token no Flex token looks like (too long, characters outside JWT/JWE's alphabet) is
   refused;
2. a token IAM accepted is answered from memory (until it expires, five minutes at most) and
   costs nothing: no budget, no Twilio call. (It used to pay from its client's budget first,
   so garbage tokens from the same address locked a real agent out of the pause button.)
3. a token IAM refused in the last minute is refused again from memory;
4. with this account's SID known, a token that cannot be one of its Flex tokens (neither a JWE
   nor a JWT, a JWT naming another account or none, expired) is refused without asking
   (flexrec.twilio.token_shape): random garbage never reaches IAM nor any budget;
5. what is left would reach Twilio, and only that is budgeted: each client (address) may have
   a burst of checks, one more every few seconds; a valid answer gives its unit back, an
   invalid one (or no answer) keeps it. Out of units, a request naming a live task it could
   act on (the agent API's task) is charged to that task's own small budget instead; else, when
   units are out on checks still waiting on IAM (many agents starting at once behind one
   address), the request waits for one of them to end, in order, up to `QUEUE_WAIT_S`; else
   it is refused (429 with Retry-After) and nothing reaches Twilio.
Why a budget per task, for what a flood leaves: contact centres sit behind one address (and
behind a proxy without FLEXREC_TRUSTED_PROXIES everyone does), so a flood of well-formed but
wrong tokens spends the address's budget, and nothing in a new token (a JWE is opaque) tells
a real one from the flood's. What the flood cannot make up is a task that is live in this
service: its SID is known only to the agents on it, supervisors and Twilio. So an agent whose
new token arrives during the flood is checked on its task's budget at once, a stranger
inventing task SIDs gets nothing more, and an insider flooding their own task only slows
themselves. (The budget stays per address, not per token: a flood of distinct tokens is what
must be bounded.)
The checks run on a thread limiter of their own: a slow IAM ties up those threads, never the
threadpool the webhooks are handled on.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from prometheus_client import Counter

from flexrec.twilio.flex_tokens import (
    MAX_TOKEN_CHARS,
    InvalidToken,
    TokenError,
    TokenInfo,
    TokenServiceUnavailable,
    TokenValidator,
    token_fingerprint,
)
from flexrec.twilio.token_shape import MalformedToken, check_token_shape
from flexrec.web.budgets import KeyedBudget
from flexrec.web.thread_pools import POOL_SIZES, run_on

# JWT/JWE compact serialisation is base64url parts joined by dots; `+ / =` tolerate base64.
_TOKEN_ALPHABET = re.compile(r"^[A-Za-z0-9._~+/=-]+$")
# Threads that may wait on IAM at once; webhooks keep the default threadpool to themselves.
TOKEN_CHECK_THREADS = POOL_SIZES["token_checks"]
# How long a request waits for a check of its client still under way to end before 429.
QUEUE_WAIT_S = 5.0
# A positive answer is reused at most this long, even for a token valid for hours, so a
# deactivated agent loses access within minutes; answers without an expiry count as this too.
DEFAULT_MAX_CACHE_S = 300.0

GUARD_DECISIONS = Counter(
    "flexrec_flex_token_guard_total",
    "Flex tokens met by the guard, by decision: known (valid, from memory), refused_locally "
    "(malformed, another account, expired), remembered_invalid, asked (sent to Twilio IAM, "
    "on the client's budget or on a live task's), queued (waited for the client's checks under "
    "way to end), throttled (budget spent: 429, nothing asked).",
    ["decision"],
)


class TooManyTokenChecks(TokenError):
    """This client spent its budget of token checks; retry after `retry_after_s` seconds.
    `in_flight`: some of its checks are still waiting on IAM (their units may come back)."""

    def __init__(self, retry_after_s: float, *, in_flight: bool = False) -> None:
        super().__init__("too many Flex token checks from this client; retry later")
        self.retry_after_s = retry_after_s
        self.in_flight = in_flight


@dataclass(frozen=True)
class TokenLane:
    """A resource the request names whose own budget may pay for its check when the client's
    is spent: `key` names it, `is_live()` says whether the service knows it as live (run only
    then, on the token checks' threads)."""

    key: str
    is_live: Callable[[], bool]


def is_plausible_token(token: str) -> bool:
    """True when `token` could be a Flex token (length and alphabet), so worth asking IAM."""
    return 0 < len(token) <= MAX_TOKEN_CHARS and _TOKEN_ALPHABET.match(token) is not None


class _Memory:
    """A thread-safe bounded LRU of token digests to (value, until)."""

    def __init__(self, max_entries: int) -> None:
        self._max = max_entries
        self._items: OrderedDict[str, tuple[object, float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, now: float) -> object | None:
        with self._lock:
            entry = self._items.get(key)
            if entry is None:
                return None
            value, until = entry
            if until <= now:
                del self._items[key]
                return None
            self._items.move_to_end(key)
            return value

    def put(self, key: str, value: object, until: float) -> None:
        with self._lock:
            self._items[key] = (value, until)
            self._items.move_to_end(key)
            while len(self._items) > self._max:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


@dataclass
class TokenGuard:
    """Per-app memory of answered tokens and budgets of IAM checks (thread-safe).

    `account_sid` empty (tests with stand-in tokens) skips the shape check of step 4 only.
    """

    account_sid: str = ""
    invalid_ttl_s: float = 60.0
    max_cache_s: float = DEFAULT_MAX_CACHE_S
    client_burst: int = 10
    client_refill_s: float = 6.0  # one more unit per client this often
    lane_burst: int = 3
    lane_refill_s: float = 10.0
    max_entries: int = 10_000
    clock: Callable[[], float] = time.monotonic
    wall_clock: Callable[[], float] = time.time  # token expiries are epoch seconds
    _valid: _Memory = field(init=False)
    _invalid: _Memory = field(init=False)
    max_queued: int = 1000  # requests of one client waiting for a check in flight to end
    _clients: KeyedBudget = field(init=False)
    _lanes: KeyedBudget = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _in_flight: dict[str, int] = field(default_factory=dict, init=False)
    _queued: dict[str, deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]]] = field(
        default_factory=dict, init=False
    )

    def __post_init__(self) -> None:
        self._valid = _Memory(self.max_entries)
        self._invalid = _Memory(self.max_entries)
        self._clients = KeyedBudget(
            self.client_burst, self.client_refill_s, max_keys=self.max_entries, clock=self.clock
        )
        self._lanes = KeyedBudget(
            self.lane_burst, self.lane_refill_s, max_keys=self.max_entries, clock=self.clock
        )

    @property
    def known_count(self) -> int:
        """How many valid tokens are remembered (for tests and metrics)."""
        return len(self._valid)

    def screen(self, token: str) -> TokenInfo | None:
        """Steps 1-4, cheap and without I/O: who holds `token` when IAM said so recently, None
        when only IAM can tell, or `InvalidToken` when it is certainly no valid token."""
        digest = token_fingerprint(token)
        info = self._valid.get(digest, self.wall_clock())
        if isinstance(info, TokenInfo):
            GUARD_DECISIONS.labels("known").inc()
            return info
        self._refuse_locally(token, digest)
        return None

    def _refuse_locally(self, token: str, digest: str) -> None:
        if not is_plausible_token(token):
            raise InvalidToken("this is not a Flex token")
        refused = self._invalid.get(digest, self.clock())
        if refused is not None:
            GUARD_DECISIONS.labels("remembered_invalid").inc()
            # Twilio's own reason again (e.g. expired), not a vaguer one on every retry.
            raise InvalidToken(f"{refused} (Twilio refused this token a moment ago)")
        if self.account_sid:
            try:
                check_token_shape(token, self.account_sid, self.wall_clock())
            except MalformedToken as exc:
                GUARD_DECISIONS.labels("refused_locally").inc()
                raise InvalidToken(f"not a Flex token of this account: {exc}") from None

    def _take_budget(self, client: str, lane: TokenLane | None) -> tuple[KeyedBudget, str]:
        wait = self._clients.take(client)
        if not wait:
            return self._clients, client
        if lane is not None and lane.is_live():
            lane_wait = self._lanes.take(lane.key)
            if not lane_wait:
                return self._lanes, lane.key
            wait = min(wait, lane_wait)
        with self._lock:
            in_flight = self._in_flight.get(client, 0) > 0
        raise TooManyTokenChecks(wait, in_flight=in_flight)

    def _started(self, client: str) -> None:
        with self._lock:
            self._in_flight[client] = self._in_flight.get(client, 0) + 1

    def _ended(self, client: str) -> None:
        with self._lock:
            left = self._in_flight.get(client, 1) - 1
            if left > 0:
                self._in_flight[client] = left
            else:
                self._in_flight.pop(client, None)
            queue = self._queued.get(client)
            waiter = queue.popleft() if queue else None
            if queue is not None and not queue:
                del self._queued[client]
        if waiter is not None:  # one waiting request of this client may try again
            loop, future = waiter
            with contextlib.suppress(RuntimeError):  # its loop closed meanwhile
                loop.call_soon_threadsafe(_resolve, future)

    async def check_ended(self, client: str, timeout_s: float, *, first: bool = False) -> bool:
        """Wait until one of `client`'s checks in flight ends (its unit may be back), at most
        `timeout_s`; False when none ended in time or too many already wait."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._lock:
            if not self._in_flight.get(client):
                return True  # the last one ended before we got here: try again at once
            queue = self._queued.setdefault(client, deque())
            if len(queue) >= self.max_queued:
                return False
            if first:
                queue.appendleft((loop, future))
            else:
                queue.append((loop, future))
        try:
            await asyncio.wait_for(future, timeout_s)
        except TimeoutError:
            with self._lock:
                waiting = self._queued.get(client)
                if waiting is not None and (loop, future) in waiting:
                    waiting.remove((loop, future))
            return False
        return True

    def _remember(self, digest: str, info: TokenInfo) -> None:
        now = self.wall_clock()
        until = now + self.max_cache_s
        if info.expires_at is not None:
            until = min(until, info.expires_at)
        self._valid.put(digest, info, until)

    def validate(
        self,
        validator: TokenValidator,
        token: str,
        client: str,
        lane: TokenLane | None = None,
    ) -> TokenInfo:  # the blocking path (routes use `check_token`, which may also queue)
        """`validator.validate(token)` behind this guard (blocking: run it on a thread).

        Raises `InvalidToken`, `TooManyTokenChecks` or `TokenServiceUnavailable`.
        """
        token = token.strip()
        known = self.screen(token)
        if known is not None:
            return known
        return self.ask(validator, token, client, lane)

    def ask(
        self, validator: TokenValidator, token: str, client: str, lane: TokenLane | None = None
    ) -> TokenInfo:
        """Step 5 for a token `screen` left to IAM: the budget, then IAM (blocking)."""
        digest = token_fingerprint(token)
        budget, key = self._take_budget(client, lane)
        GUARD_DECISIONS.labels("asked").inc()
        self._started(client)
        try:
            info = self._asked(validator, token, digest, budget, key)
        finally:
            self._ended(client)
        return info

    def _asked(
        self, validator: TokenValidator, token: str, digest: str, budget: KeyedBudget, key: str
    ) -> TokenInfo:
        try:
            info = validator.validate(token)
        except InvalidToken as exc:
            # Refused: remembered with Twilio's reason, and the unit stays spent.
            self._invalid.put(digest, str(exc), self.clock() + self.invalid_ttl_s)
            raise
        except TokenServiceUnavailable:
            # Says nothing against the token (not remembered), but the IAM call was made: the
            # unit stays spent, so a flood during an IAM outage is not passed on either.
            raise
        except BaseException:
            budget.give_back(key)
            raise
        budget.give_back(key)
        self._remember(digest, info)
        return info


async def check_token(
    guard: TokenGuard,
    validator: TokenValidator,
    token: str,
    client: str | None,
    lane: TokenLane | None = None,
) -> TokenInfo:
    """Validate a Flex token through the guard: a known one at once, any other on the token
    checks' own threads. Raises `InvalidToken`, `TooManyTokenChecks` or
    `TokenServiceUnavailable`."""
    token = token.strip()
    known = guard.screen(token)  # on the event loop: known and malformed tokens cost no hop
    if known is not None:
        return known
    client = client or "unknown"
    deadline = time.monotonic() + QUEUE_WAIT_S
    woken = False
    while True:
        try:
            return await run_on("token_checks", guard.ask, validator, token, client, lane)
        except TooManyTokenChecks as exc:
            # Spent by checks still waiting on IAM (many agents at once behind one address):
            # their units come back with valid answers, so wait for one, in order, a while.
            left = deadline - time.monotonic()
            if not exc.in_flight or left <= 0:
                GUARD_DECISIONS.labels("throttled").inc()
                raise
            GUARD_DECISIONS.labels("queued").inc()
            woken = await guard.check_ended(client, left, first=woken)
            if not woken and deadline - time.monotonic() <= 0:
                GUARD_DECISIONS.labels("throttled").inc()
                raise


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def retry_after_header(exc: TooManyTokenChecks) -> dict[str, str]:
    """The `Retry-After` header (whole seconds, at least 1) of a refused check."""
    return {"Retry-After": str(max(1, math.ceil(exc.retry_after_s)))}


__all__ = [
    "MAX_TOKEN_CHARS",
    "InvalidToken",
    "TokenGuard",
    "TokenLane",
    "TokenServiceUnavailable",
    "TooManyTokenChecks",
    "check_token",
    "is_plausible_token",
    "retry_after_header",
]
