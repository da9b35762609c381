"""The logic of `flexrec setup`: point a Twilio account's TaskRouter events at this service.

Two ways in (pick one; both deliver the same TaskRouter events, and duplicates are harmless):
- `workspace`: the Flex workspace's `EventCallbackUrl` = `{public_url}/webhooks/taskrouter`;
  a non-empty `EventsFilter` that leaves out events flexrec needs is widened.
- `event-streams`: a webhook Sink `{public_url}/webhooks/event-streams` and a Subscription to
  the TaskRouter event types flexrec needs (leaves the workspace callback to other uses).
Either way the Flex configuration is read, with a warning when Flex's own call recording is on
(it records the conference too: every call would be recorded twice). `dry_run` reads only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from flexrec.cli_errors import CliError
from flexrec.config import Settings
from flexrec.twilio.gateway import TRANSLATED_ERRORS, translate_error

Mode = Literal["workspace", "event-streams"]

# The TaskRouter events the recording service acts on (see flexrec.recording).
NEEDED_EVENTS: tuple[str, ...] = (
    "task.created",
    "task.updated",
    "task.canceled",
    "task.wrapup",
    "task.completed",
    "task.deleted",
    "task.system-deleted",
    "reservation.created",
    "reservation.accepted",
    "reservation.rejected",
    "reservation.timeout",
    "reservation.canceled",
    "reservation.rescinded",
    "reservation.wrapup",
    "reservation.completed",
    "reservation.failed",
)
EVENT_STREAMS_PREFIX = "com.twilio.taskrouter."
SINK_DESCRIPTION = "flexrec recording service"
SUBSCRIPTION_DESCRIPTION = "flexrec: TaskRouter events for call recording"


@dataclass(frozen=True)
class Change:
    """One setting `flexrec setup` changed (or would change), or a warning for the operator."""

    what: str
    before: str | None
    after: str | None
    applied: bool
    warning: bool = False

    def describe(self) -> str:
        """A one-line human description."""
        if self.warning:
            return f"WARNING: {self.what}"
        verb = "changed" if self.applied else "would change"
        return f"{self.what}: {verb} {self.before or '(unset)'} -> {self.after or '(unset)'}"


class SetupError(CliError):
    """The account cannot be configured as asked (no such workspace, a call refused...)."""


def _warning(text: str) -> Change:
    return Change(text, None, None, applied=False, warning=True)


def run_setup(
    settings: Settings,
    public_url: str,
    mode: Mode,
    dry_run: bool,
    *,
    client: Client | None = None,
) -> list[Change]:
    """Point the account at the service at `public_url`; return what changed and warnings."""
    if mode not in ("workspace", "event-streams"):
        raise SetupError(f"unknown mode {mode!r}")
    public_url = public_url.rstrip("/")
    if not public_url.startswith(("https://", "http://")):
        raise SetupError("the public URL must start with https:// (or http:// for a simulator)")
    if client is None:
        from flexrec.twilio.client import make_client

        client = make_client(settings.twilio)
    changes: list[Change] = []
    configured = settings.server.public_url.rstrip("/")
    if configured and configured != public_url:
        changes.append(
            _warning(
                f"FLEXREC_PUBLIC_URL is {configured} but Twilio will post to {public_url}: "
                "webhook signatures will not verify"
            )
        )
    if not public_url.startswith("https://"):
        changes.append(_warning(f"{public_url} is not https: use it with the simulator only"))
    try:
        workspace = _find_workspace(client, settings.twilio.workspace_sid)
        if mode == "workspace":
            changes += _setup_workspace(client, workspace, public_url, dry_run)
            if _our_sink(client, f"{public_url}/webhooks/event-streams") is not None:
                changes.append(
                    _warning(
                        "an Event Streams sink also points at this service: every event "
                        "arrives twice (harmless, but you may delete the sink)"
                    )
                )
        else:
            changes += _setup_event_streams(client, public_url, dry_run)
            if (workspace.event_callback_url or "").rstrip("/") == (
                f"{public_url}/webhooks/taskrouter"
            ):
                changes.append(
                    _warning(
                        "the workspace EventCallbackUrl also points at this service: every "
                        "event arrives twice (harmless, but you may clear it)"
                    )
                )
        changes += _check_flex_configuration(client)
    except TRANSLATED_ERRORS as exc:
        # The gateway's one translation; credentials refused and Twilio unreachable keep their
        # GatewayError (the CLI says what to check), any other refusal names the call's status.
        error = translate_error(exc)
        if error.status is None or error.status in (401, 403) or error.retryable:
            raise error from exc
        raise SetupError(
            f"Twilio refused a setup call ({error.status}, code {error.code}): {error}"
        ) from exc
    return changes


def _find_workspace(client: Client, workspace_sid: str) -> Any:
    workspaces = client.taskrouter.v1.workspaces
    if workspace_sid:
        return workspaces(workspace_sid).fetch()
    found = list(workspaces.list(limit=50))
    flex = [w for w in found if w.friendly_name == "Flex Task Assignment"]
    if len(flex) == 1:
        return flex[0]
    if len(found) == 1:
        return found[0]
    raise SetupError("cannot tell which workspace is Flex's: set TWILIO_WORKSPACE_SID")


def _setup_workspace(
    client: Client, workspace: Any, public_url: str, dry_run: bool
) -> list[Change]:
    target = f"{public_url}/webhooks/taskrouter"
    updates: dict[str, str] = {}
    changes: list[Change] = []
    current = workspace.event_callback_url or None
    if current != target:
        if current:
            changes.append(
                _warning(
                    f"the workspace EventCallbackUrl {current} is replaced: whatever "
                    "listened there stops receiving TaskRouter events"
                )
            )
        updates["event_callback_url"] = target
        changes.append(
            Change(f"workspace {workspace.sid} EventCallbackUrl", current, target, not dry_run)
        )
    current_filter = workspace.events_filter or ""
    if current_filter:
        present = [e.strip() for e in current_filter.split(",") if e.strip()]
        missing = [e for e in NEEDED_EVENTS if e not in present]
        if missing:
            widened = ",".join([*present, *missing])
            updates["events_filter"] = widened
            changes.append(
                Change(
                    f"workspace {workspace.sid} EventsFilter", current_filter, widened, not dry_run
                )
            )
    if updates and not dry_run:
        client.taskrouter.v1.workspaces(workspace.sid).update(**updates)
    return changes


def _sink_destination(sink: Any) -> str:
    config = sink.sink_configuration or {}
    return str(config.get("destination", "")).rstrip("/") if isinstance(config, dict) else ""


def _find_sink(client: Client, target: str) -> Any:
    return next(
        (
            s for s in client.events.v1.sinks.list(limit=200)
            if s.sink_type == "webhook" and _sink_destination(s) == target
        ),
        None,
    )  # fmt: skip


def _our_sink(client: Client, target: str) -> Any:
    """The sink posting to `target`, or None (also when Event Streams cannot be read)."""
    try:
        return _find_sink(client, target)
    except TwilioException:
        return None


def _setup_event_streams(client: Client, public_url: str, dry_run: bool) -> list[Change]:
    target = f"{public_url}/webhooks/event-streams"
    events = client.events.v1
    changes: list[Change] = []
    sink = _find_sink(client, target)
    if sink is None:
        changes.append(Change("Event Streams webhook sink", None, target, not dry_run))
        if dry_run:
            changes.append(
                Change("Event Streams subscription", None, _types_text(NEEDED_EVENTS), False)
            )
            return changes
        sink = events.sinks.create(
            description=SINK_DESCRIPTION,
            sink_configuration={"destination": target, "method": "POST", "batch_events": True},
            sink_type="webhook",
        )
    if sink.status != "active":
        changes.append(
            _warning(
                f"sink {sink.sid} is {sink.status}: Twilio activates a webhook sink once it is "
                "validated (Sink Test, then Sink Validate with the test event's id)"
            )
        )
    subscription = next((s for s in events.subscriptions.list(sink_sid=sink.sid, limit=200)), None)
    if subscription is None:
        changes.append(
            Change(
                f"Event Streams subscription for sink {sink.sid}",
                None,
                _types_text(NEEDED_EVENTS),
                not dry_run,
            )
        )
        if not dry_run:
            events.subscriptions.create(
                description=SUBSCRIPTION_DESCRIPTION,
                sink_sid=sink.sid,
                types=[{"type": EVENT_STREAMS_PREFIX + e} for e in NEEDED_EVENTS],
            )
        return changes
    changes += _widen_subscription(events, subscription, dry_run)
    return changes


def _widen_subscription(events: Any, subscription: Any, dry_run: bool) -> list[Change]:
    handle = events.subscriptions(subscription.sid).subscribed_events
    try:
        present = {str(e.type) for e in handle.list(limit=500)}
    except TwilioException:  # list pages raise the base class, not TwilioRestException
        return [
            _warning(
                f"could not read the event types of subscription {subscription.sid}; check it "
                f"includes {_types_text(NEEDED_EVENTS)}"
            )
        ]
    missing = [e for e in NEEDED_EVENTS if EVENT_STREAMS_PREFIX + e not in present]
    if not missing:
        return []
    if not dry_run:
        for name in missing:
            handle.create(type=EVENT_STREAMS_PREFIX + name)
    return [
        Change(
            f"Event Streams subscription {subscription.sid} event types",
            f"{len(present)} types",
            f"+ {_types_text(missing)}",
            not dry_run,
        )
    ]


def _types_text(names: Sequence[str]) -> str:
    return ",".join(names)


def _check_flex_configuration(client: Client) -> list[Change]:
    fetch: Callable[[], Any] = client.flex_api.v1.configuration().fetch
    try:
        config = fetch()
    except TwilioRestException as exc:
        if exc.status == 404:
            return [_warning("no Flex configuration on this account (is Flex enabled?)")]
        raise
    if config.call_recording_enabled:
        return [
            _warning(
                "Flex call recording (call_recording_enabled) is ON: Flex also records the "
                "conference, so every call is recorded twice. Turn it off in Flex Console > "
                "Voice > Call Recording, unless you want both."
            )
        ]
    return []
