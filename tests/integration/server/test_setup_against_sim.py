"""`run_setup` driving the simulator through the unmodified SDK (in process, flexsim.testing)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from twilio.http import HttpClient as SdkHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from flexrec.cli.setup_twilio import NEEDED_EVENTS, SetupError, nothing_to_do, run_setup
from flexrec.config import Settings, TwilioSettings
from flexrec.webhooks.events import TASKROUTER_EVENTS_USED
from flexsim import SimConfig, SimRunner, World, create_sim_app, defaults
from flexsim.testing import SimHttpClient, sdk_client

PUBLIC = "https://rec.example.com"


@pytest.fixture
def sim() -> Any:
    world = World()
    client = sdk_client(create_sim_app(world))  # the unmodified SDK, in process
    yield world, client, client.http_client
    client.http_client.close()


def settings() -> Settings:
    return Settings(
        twilio=TwilioSettings(
            account_sid=defaults.ACCOUNT_SID,
            auth_token=defaults.AUTH_TOKEN,
            workspace_sid=defaults.WORKSPACE_SID,
        )
    )


def writes(http: SimHttpClient) -> list[tuple[str, str]]:
    return [c for c in http.history if c[0] != "GET"]


def test_workspace_mode_sets_event_callback_url_and_events_filter(sim: Any) -> None:
    world, client, http = sim
    changes = run_setup(settings(), PUBLIC + "/", "workspace", dry_run=False, client=client)
    assert world.event_callback_url == f"{PUBLIC}/webhooks/taskrouter"
    # Unset, TaskRouter posts every event type: flexrec owns the callback, so it filters.
    assert world.events_filter.split(",") == list(TASKROUTER_EVENTS_USED)
    callback, events_filter = [c for c in changes if not (c.warning or c.info)]
    assert (callback.before, callback.after, callback.applied) == (
        None,
        f"{PUBLIC}/webhooks/taskrouter",
        True,
    )
    assert "EventCallbackUrl" in callback.describe()
    assert "EventsFilter" in events_filter.what and events_filter.applied
    # Running again finds nothing to do, and says so.
    http.history.clear()
    again = run_setup(settings(), PUBLIC, "workspace", dry_run=False, client=client)
    assert [c for c in again if not c.info] == []
    assert nothing_to_do(again)
    assert writes(http) == []


@pytest.mark.parametrize("mode", ["workspace", "event-streams"])
def test_the_demos_and_benches_account_is_what_setup_leaves(mode: Any) -> None:
    # `flexrec demo` and bench/service_day.py start the simulator with the EventsFilter (or
    # the sink's subscription) `flexrec setup` writes, so they measure a configured account:
    # setup run against it has nothing to change.
    public = "http://127.0.0.1:9"
    config = SimConfig(
        port=0,
        rate_per_hour=0,
        start_traffic=False,
        service_url=public,
        event_streams=mode == "event-streams",
        events_filter=",".join(TASKROUTER_EVENTS_USED),
    )
    with SimRunner(config) as runner:
        client = sdk_client(runner.base_url)
        try:
            changes = run_setup(settings(), public, mode, dry_run=True, client=client)
        finally:
            client.http_client.close()
    assert [c.describe() for c in changes if c.warning and "not https" not in c.what] == []
    assert [c.describe() for c in changes if not (c.warning or c.info)] == []


def test_workspace_dry_run_writes_nothing(sim: Any) -> None:
    world, client, http = sim
    changes = run_setup(settings(), PUBLIC, "workspace", dry_run=True, client=client)
    assert world.event_callback_url is None
    assert writes(http) == []
    planned = [c for c in changes if not (c.warning or c.info)]
    assert [c.applied for c in planned] == [False, False]
    assert "would change" in planned[0].describe()


def test_workspace_mode_sets_the_filter_it_needs_and_warns_on_replace(sim: Any) -> None:
    world, client, _ = sim
    world.event_callback_url = "https://old.example.com/events"
    world.events_filter = "task.created,worker.activity.update"
    changes = run_setup(settings(), PUBLIC, "workspace", dry_run=False, client=client)
    assert set(world.events_filter.split(",")) == set(NEEDED_EVENTS)
    assert any(c.warning and "old.example.com" in c.what for c in changes)


def test_event_streams_mode_creates_sink_and_subscription_once(sim: Any) -> None:
    world, client, http = sim
    changes = run_setup(settings(), PUBLIC, "event-streams", dry_run=False, client=client)
    sinks = list(client.events.v1.sinks.list())
    assert [s.sink_configuration["destination"] for s in sinks] == [
        f"{PUBLIC}/webhooks/event-streams"
    ]
    subs = list(client.events.v1.subscriptions.list(sink_sid=sinks[0].sid))
    assert len(subs) == 1
    assert world.event_callback_url is None
    assert sum(1 for c in changes if c.applied) == 2
    http.history.clear()
    run_setup(settings(), PUBLIC, "event-streams", dry_run=False, client=client)
    assert ("POST", "/v1/Sinks") not in http.history
    assert ("POST", "/v1/Subscriptions") not in http.history
    assert len(list(client.events.v1.sinks.list())) == 1


def test_event_streams_dry_run_writes_nothing(sim: Any) -> None:
    _, client, http = sim
    changes = run_setup(settings(), PUBLIC, "event-streams", dry_run=True, client=client)
    assert writes(http) == []
    assert [c.applied for c in changes if not (c.warning or c.info)] == [False, False]


def test_flex_call_recording_enabled_is_warned(sim: Any) -> None:
    world, client, _ = sim
    world.flex_configuration["call_recording_enabled"] = True
    changes = run_setup(settings(), PUBLIC, "workspace", dry_run=True, client=client)
    assert any(c.warning and "call_recording_enabled" in c.what for c in changes)


def test_no_warning_when_flex_recording_off(sim: Any) -> None:
    _, client, _ = sim
    changes = run_setup(settings(), PUBLIC, "workspace", dry_run=True, client=client)
    assert not any("call_recording_enabled" in c.what for c in changes)
    (report,) = [c for c in changes if c.info]
    assert "Call Recording is off" in report.what


def test_flex_recording_on_says_what_it_costs_and_what_to_choose(sim: Any) -> None:
    world, client, _ = sim
    world.flex_configuration["call_recording_enabled"] = True
    changes = run_setup(settings(), PUBLIC, "workspace", dry_run=True, client=client)
    (warning,) = [c for c in changes if c.warning and "Call Recording" in c.what]
    assert "recorded twice" in warning.what
    assert "Choose one" in warning.what and "Flex Console > Voice" in warning.what
    assert not nothing_to_do(changes)


class NoFlexPermission(SdkHttpClient):
    """The simulator, except that Flex's API refuses the key (a Restricted API key has
    permissions for Voice, TaskRouter and Event Streams, none for Flex)."""

    def __init__(self, inner: SimHttpClient) -> None:
        super().__init__(logging.getLogger("test.sdk"), is_async=False)
        self.inner = inner

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        if "flex-api.twilio.com" in url:
            body = '{"code": 20403, "message": "Permission denied", "status": 403}'
            return Response(403, body)
        return self.inner.request(method, url, *args, **kwargs)


def test_a_key_that_may_not_read_flex_still_sets_up_and_says_what_to_check(sim: Any) -> None:
    world, _, http = sim
    client = Client(defaults.ACCOUNT_SID, defaults.AUTH_TOKEN, http_client=NoFlexPermission(http))
    changes = run_setup(settings(), PUBLIC, "workspace", dry_run=False, client=client)
    assert world.event_callback_url == f"{PUBLIC}/webhooks/taskrouter"
    (warning,) = [c for c in changes if c.warning and "Flex configuration" in c.what]
    assert "HTTP 403" in warning.what and "Flex Console > Voice > Call Recording" in warning.what


def test_duplicate_subscriptions_are_warned_then_fixed(sim: Any) -> None:
    world, client, _ = sim
    run_setup(settings(), PUBLIC, "event-streams", dry_run=False, client=client)
    (sink,) = list(client.events.v1.sinks.list())
    client.events.v1.subscriptions.create(
        description="a second one",
        sink_sid=sink.sid,
        types=[{"type": "com.twilio.taskrouter.task.created"}],
    )
    changes = run_setup(settings(), PUBLIC, "event-streams", dry_run=False, client=client)
    assert any(c.warning and "--fix" in c.what and "2 Event Streams" in c.what for c in changes)
    assert len(world.event_subscriptions) == 2
    fixed = run_setup(settings(), PUBLIC, "event-streams", dry_run=False, client=client, fix=True)
    assert any(c.applied and "duplicate" in c.what for c in fixed)
    assert len(world.event_subscriptions) == 1
    assert nothing_to_do(
        run_setup(settings(), PUBLIC, "event-streams", dry_run=True, client=client)
    )


def test_a_sink_beside_the_workspace_callback_is_removed_with_fix(sim: Any) -> None:
    world, client, _ = sim
    run_setup(settings(), PUBLIC, "event-streams", dry_run=False, client=client)
    changes = run_setup(settings(), PUBLIC, "workspace", dry_run=False, client=client, fix=True)
    assert any(c.applied and "duplicate" in c.what for c in changes)
    assert world.event_subscriptions == []
    assert nothing_to_do(run_setup(settings(), PUBLIC, "workspace", dry_run=True, client=client))


def test_twilio_unreachable_is_a_gateway_error() -> None:
    from flexrec.twilio.gateway import GatewayError

    class Unreachable(SdkHttpClient):
        def request(self, *args: Any, **kwargs: Any) -> Response:
            raise ConnectionRefusedError("connection refused")

    unreachable = Unreachable(logging.getLogger("test.sdk"), is_async=False)
    client = Client(defaults.ACCOUNT_SID, defaults.AUTH_TOKEN, http_client=unreachable)
    with pytest.raises(GatewayError) as raised:
        run_setup(settings(), PUBLIC, "workspace", dry_run=True, client=client)
    assert raised.value.status is None


def test_mismatched_public_url_setting_is_warned(sim: Any) -> None:
    _, client, _ = sim
    s = settings()
    s.server.public_url = "https://other.example.com"
    changes = run_setup(s, PUBLIC, "workspace", dry_run=True, client=client)
    assert any(c.warning and "signatures will not verify" in c.what for c in changes)


def test_unknown_workspace_is_a_setup_error(sim: Any) -> None:
    _, client, _ = sim
    s = settings()
    s.twilio.workspace_sid = "WS" + "9" * 32
    with pytest.raises(SetupError, match="404"):
        run_setup(s, PUBLIC, "workspace", dry_run=True, client=client)


def test_bad_public_url_is_a_setup_error() -> None:
    with pytest.raises(SetupError):
        run_setup(settings(), "rec.example.com", "workspace", dry_run=True, client=None)


def test_workspace_mode_warns_when_a_sink_also_delivers(sim: Any) -> None:
    _, client, _ = sim
    run_setup(settings(), PUBLIC, "event-streams", dry_run=False, client=client)
    changes = run_setup(settings(), PUBLIC, "workspace", dry_run=False, client=client)
    assert any(c.warning and "Event Streams sink" in c.what for c in changes)
    again = run_setup(settings(), PUBLIC, "event-streams", dry_run=True, client=client)
    assert any(c.warning and "EventCallbackUrl also points" in c.what for c in again)


def test_an_agents_worker_is_found_by_name(sim: Any) -> None:
    from flexrec.twilio.workers import find_workers

    world, client, _ = sim
    for name in ("alice@example.com", "bob@example.com"):
        world.add_worker(name, {"contact_uri": f"client:{name}"})
    everyone = find_workers(client, defaults.WORKSPACE_SID)
    assert [w.friendly_name for w in everyone] == ["alice@example.com", "bob@example.com"]
    first = everyone[0]
    assert [w.sid for w in find_workers(client, defaults.WORKSPACE_SID, first.friendly_name)] == [
        first.sid
    ]
    partial = first.friendly_name[:-1].upper()  # contained, any case
    assert first.sid in {w.sid for w in find_workers(client, defaults.WORKSPACE_SID, partial)}
    assert find_workers(client, defaults.WORKSPACE_SID, "no-such-agent-xyz") == []
