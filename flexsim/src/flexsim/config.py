"""`SimConfig`: everything a simulator run needs, and where the account's own callbacks go."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import flexsim.scenarios  # noqa: F401 - registers the built-in scenarios the default mix draws
from flexsim import defaults
from flexsim.engine import EngineConfig, default_weights
from flexsim.latency import DEFAULT_LATENCY
from flexsim.variants import AXES, check_pins


@dataclass(frozen=True)
class CallbackUrls:
    """The simulated account's configured callback URLs (None: not configured)."""

    taskrouter: str | None
    event_streams: str | None
    call_status: str | None
    conference: str | None
    studio_recording: str | None


@dataclass
class SimConfig:
    """Everything a simulator run needs; defaults give a small, quiet contact center."""

    host: str = "127.0.0.1"
    port: int = defaults.DEFAULT_PORT  # 0: pick a free port
    agents: int = 10
    queues: tuple[str, ...] = ("Everyone",)
    rate_per_hour: float = 120.0
    inbound_share: float = 0.8
    scenario_weights: dict[str, float] = field(default_factory=default_weights)
    calls: int | None = None  # total interactions to generate; None = run forever
    scale: float = 1.0  # simulated seconds per real second
    seed: int = 0
    # Where the simulated account's own callbacks go. Each is what the account was configured
    # with in Twilio (None: that callback is not configured, so nothing is sent), exactly as a
    # client-made resource's callbacks go to the URLs its creator gave:
    # - the workspace's EventCallbackUrl (TaskRouter events; also settable over REST),
    event_callback_url: str | None = None
    # - an Event Streams webhook sink subscribed to every TaskRouter event the simulator emits
    #   (also creatable over REST: /v1/Sinks, /v1/Subscriptions),
    event_streams_url: str | None = None
    # - the status callback of the account's own call legs (the phone number's Status Callback
    #   URL for inbound calls; Flex's outbound and agent legs),
    call_status_callback_url: str | None = None
    # - the conference status callback (set on the Flex conference where a plugin asks for it:
    #   the `conference_callbacks` variant decides per call),
    conference_callback_url: str | None = None
    # - the recording status callback of a Studio flow's Call Recording widget.
    studio_recording_callback_url: str | None = None
    # A shorthand for a service that serves every callback under one base URL with the paths
    # `/webhooks/taskrouter`, `/webhooks/event-streams`, `/webhooks/call-status`,
    # `/webhooks/conference` and `/webhooks/recording-status` (flexrec's layout); an explicit
    # URL above wins. `event_streams` sends TaskRouter events to its Event Streams path instead
    # of the workspace callback.
    service_url: str | None = None
    event_streams: bool = False
    # The workspace's EventsFilter (comma-separated TaskRouter event types; None: every type,
    # as a workspace nobody configured sends), as an account that ran its integration's setup
    # has it; also the types the default Event Streams sink above is subscribed to.
    events_filter: str | None = None
    call_progress_events: bool = False  # also report ringing/in-progress (default: the end only)
    # e.g. "api=0.2,dup=0.1,reorder=0.1,latency=50"; interference: "absent=0.05,failed=0.05,
    # stopped=0.05,clobber=0.1" (keys in flexsim.faults, `flexsim --help`)
    faults: str | None = None
    # REST answer time, "LOW-HIGH" ms (5th-95th percentile; flexsim.latency): Twilio's real
    # ~100-300 ms by default, "0" for tests that do not measure latency.
    rest_latency: str = DEFAULT_LATENCY
    # True: the latency is real time whatever the scale (benches measuring answer times
    # against Twilio's real-time limits on a compressed day).
    rest_latency_real_time: bool = False
    start_traffic: bool = True
    # SIDs are unique per run (a fresh salt each time) while everything else follows the seed;
    # an int pins the salt to mint a run's SIDs again (0: the unsalted SIDs of `World(seed)`).
    sid_salt: int | None = None
    talk_time_median_s: float = 120.0
    wrap_time_mean_s: float = 15.0
    # How long a callback may take to answer before it counts as a timeout and is retried,
    # for callbacks without a limit of their own: Twilio's default read timeout, 15 s
    # (Webhooks connection overrides, `rt`). TaskRouter events also get 15 s, Event Streams
    # sinks 5 s (flexsim.webhooks.ANSWER_LIMITS_S).
    webhook_timeout_s: float = 15.0
    webhook_max_retries: int = 3
    webhook_retry_backoff_s: float = 0.5
    # Account variants (flexsim.variants): a value pins the axis for every call, None draws it
    # per call from the mix.
    outbound_attributes: str | None = None
    participant_labels: str | None = None
    conference_callbacks: str | None = None
    studio_recording: str | None = None
    native_recording: str | None = None
    # Card payments (flexsim.speech.payment): the share of conversations that take one, and
    # the agent's pause pinned to in_time, late or never (None: drawn per call).
    card_share: float = 0.3
    card_pause: str | None = None
    account_sid: str = field(
        default_factory=lambda: os.environ.get("TWILIO_ACCOUNT_SID", defaults.ACCOUNT_SID)
    )
    auth_token: str = field(
        default_factory=lambda: os.environ.get("TWILIO_AUTH_TOKEN", defaults.AUTH_TOKEN)
    )

    def callback_urls(self) -> CallbackUrls:
        """Where each of the account's own callbacks goes (None: not configured)."""
        base = self.service_url.rstrip("/") if self.service_url else None

        def url(given: str | None, path: str) -> str | None:
            return given or (f"{base}/webhooks/{path}" if base else None)

        streams = self.event_streams_url or (
            f"{base}/webhooks/event-streams" if base and self.event_streams else None
        )
        taskrouter = self.event_callback_url or (
            f"{base}/webhooks/taskrouter" if base and not self.event_streams else None
        )
        return CallbackUrls(
            taskrouter=taskrouter,
            event_streams=streams,
            call_status=url(self.call_status_callback_url, "call-status"),
            conference=url(self.conference_callback_url, "conference"),
            studio_recording=url(self.studio_recording_callback_url, "recording-status"),
        )

    def engine_config(self) -> EngineConfig:
        """The engine's share of this configuration (with the account's callback URLs)."""
        urls = self.callback_urls()
        return EngineConfig(
            agents=self.agents,
            queues=self.queues,
            rate_per_hour=self.rate_per_hour,
            inbound_share=self.inbound_share,
            scenario_weights=dict(self.scenario_weights),
            calls=self.calls,
            seed=self.seed,
            talk_time_median_s=self.talk_time_median_s,
            wrap_time_mean_s=self.wrap_time_mean_s,
            conference_callback_url=urls.conference,
            call_status_callback_url=urls.call_status,
            studio_recording_callback_url=urls.studio_recording,
            variant_pins=self.variant_pins(),
            card_share=self.card_share,
            card_pause=self.card_pause,
        )

    def variant_pins(self) -> dict[str, str]:
        """The pinned variant axes (raises `VariantError` for an unknown value)."""
        return check_pins({axis: getattr(self, axis) for axis in AXES})
