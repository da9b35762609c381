"""A simulated account in the test's own process: no socket, no thread, a clock that moves only
when the test moves it. For unit tests of code that talks to Twilio through the official SDK,
where a running `SimRunner` would cost a server per test:

    sim = InProcessSim()
    sim.arrange.completed_recording(make_wav(duration_s=3.0))
    sim.arrange.fault_next("GET", "*/Recordings/*.wav", status=503, times=2)
    client = sim.client()                      # a twilio.rest.Client answered by `sim.app`
    ...
    assert sim.request_log.count("GET", "*/Recordings/*.wav") == 3

Everything a `SimRunner` serves over REST is served (the same app); what needs the engine's
timers (a REST-made call ringing, traffic) does not happen on its own here.
"""

from __future__ import annotations

import httpx
from twilio.rest import Client

from flexsim import defaults
from flexsim.api.app import SimCredentials, create_sim_app
from flexsim.arrange import Arrange
from flexsim.faults import FaultPlan
from flexsim.request_log import RequestLog
from flexsim.testing.asgi import AppTransport
from flexsim.testing.http import IN_PROCESS_ORIGIN, SimHttpClient
from flexsim.world import SimClock, World

# 2026-03-04 10:00 UTC: a fixed start, so what a test arranges has the same times every run.
DEFAULT_START_EPOCH = 1_772_618_400.0


class InProcessSim:
    """One simulated account served in process: `world`, its REST `app`, the `faults` plan
    (`arrange.fault_next`), the `request_log` and `client()`s of the official SDK."""

    def __init__(
        self,
        *,
        seed: int = 0,
        account_sid: str = defaults.ACCOUNT_SID,
        auth_token: str = defaults.AUTH_TOKEN,
        start_epoch: float = DEFAULT_START_EPOCH,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.world = World(SimClock(scale=0, start_epoch=start_epoch), seed, account_sid)
        self.faults = FaultPlan(seed=seed)
        self.request_log = RequestLog()
        self.app = create_sim_app(
            self.world,
            faults=self.faults,
            credentials=SimCredentials(auth_token=auth_token),
            request_log=self.request_log,
        )
        self.arrange = Arrange(self.world, self.faults)
        # Thread-safe: one transport serves every client and thread of the test.
        self.transport = AppTransport(self.app)

    def client(self, transport: httpx.BaseTransport | None = None) -> Client:
        """The official SDK client, answered by this simulator (or by `transport`, e.g. an
        `httpx.MockTransport` that watches requests and hands them to `self.transport`)."""
        http = SimHttpClient(IN_PROCESS_ORIGIN, transport=transport or self.transport)
        return Client(self.account_sid, self.auth_token, http_client=http)

    def advance(self, seconds: float) -> None:
        """Move the simulated clock forward."""
        self.world.clock.advance(seconds)
