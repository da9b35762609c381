"""The logic of `flexrec setup`: point a Twilio account's TaskRouter events at this service.

Two ways in (pick one; both deliver the same TaskRouter events, and duplicates are harmless):
- `workspace`: the Flex workspace's `EventCallbackUrl` = `{public_url}/webhooks/taskrouter`,
  and, since flexrec then owns that callback, its `EventsFilter` = the event types flexrec uses
  (unset, TaskRouter posts every event type: each agent status change too).
- `event-streams`: a webhook Sink `{public_url}/webhooks/event-streams` and a Subscription to
  the TaskRouter event types flexrec needs (leaves the workspace callback to other uses).
Either way the Flex configuration is read and reported: Flex's own "Call Recording" records the
conference too, so with it on every call is recorded twice. Duplicate deliveries (a second
Event Streams subscription, a sink beside the workspace callback) are warned about; `fix`
removes them. `dry_run` reads only. Nothing to change and nothing to warn about is said so.

Every call goes through the gateway (`SdkGateway`'s setup calls): one transport, one error
translation, so Twilio unreachable or refusing the credentials is a `GatewayError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from twilio.rest import Client

from flexrec.cli.errors import CliError
from flexrec.config import Settings
from flexrec.twilio.errors import GatewayError
from flexrec.twilio.gateway import SdkGateway
from flexrec.twilio.resources import WorkspaceInfo
from flexrec.twilio.setup_calls import SinkInfo, SubscriptionInfo
from flexrec.webhooks import paths
from flexrec.webhooks.events import TASKROUTER_EVENTS_USED
from flexrec.webhooks.paths import webhook_url

Mode = Literal["workspace", "event-streams"]

# What flexrec acts on: one list, kept with the webhook parser.
NEEDED_EVENTS: tuple[str, ...] = TASKROUTER_EVENTS_USED
EVENT_STREAMS_PREFIX = "com.twilio.taskrouter."
SINK_DESCRIPTION = "flexrec recording service"
SUBSCRIPTION_DESCRIPTION = "flexrec: TaskRouter events for call recording"
FLEX_WORKSPACE_NAME = "Flex Task Assignment"


@dataclass(frozen=True)
class Change:
    """One setting `flexrec setup` changed (or would change), or a warning for the operator."""

    what: str
    before: str | None
    after: str | None
    applied: bool
    warning: bool = False
    info: bool = False  # a report line (Flex's own recording, say), neither change nor problem

    def describe(self) -> str:
        """A one-line human description."""
        if self.warning:
            return f"WARNING: {self.what}"
        if self.info:
            return self.what
        verb = "changed" if self.applied else "would change"
        return f"{self.what}: {verb} {self.before or '(unset)'} -> {self.after or '(unset)'}"


class SetupError(CliError):
    """The account cannot be configured as asked (no such workspace, a call refused...)."""


def _warning(text: str) -> Change:
    return Change(text, None, None, applied=False, warning=True)


def _info(text: str) -> Change:
    return Change(text, None, None, applied=False, info=True)


def nothing_to_do(changes: list[Change]) -> bool:
    """True when setup found nothing to change and nothing to warn about."""
    return not any(c.warning or c.applied or not c.info for c in changes)


def run_setup(
    settings: Settings,
    public_url: str,
    mode: Mode,
    dry_run: bool,
    *,
    client: Client | None = None,
    fix: bool = False,
) -> list[Change]:
    """Point the account at the service at `public_url`; return what changed and warnings.

    With `fix` (and not `dry_run`), duplicate deliveries found are removed too.
    """
    if mode not in ("workspace", "event-streams"):
        raise SetupError(f"unknown mode {mode!r}")
    public_url = public_url.rstrip("/")
    if not public_url.startswith(("https://", "http://")):
        raise SetupError("the public URL must start with https:// (or http:// for a simulator)")
    if client is None:
        from flexrec.twilio.client import make_client

        client = make_client(settings.twilio)
    gateway = SdkGateway(client, settings.twilio.account_sid, settings.twilio.workspace_sid)
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
        workspace = find_workspace(gateway, settings.twilio.workspace_sid)
        apply_fixes = fix and not dry_run
        if mode == "workspace":
            changes += _setup_workspace(gateway, workspace, public_url, dry_run)
            changes += _sink_duplicates(gateway, public_url, apply_fixes)
        else:
            changes += _setup_event_streams(gateway, public_url, dry_run)
            changes += _subscription_duplicates(gateway, public_url, apply_fixes)
            changes += _callback_duplicate(gateway, workspace, public_url, apply_fixes)
        changes += _check_flex_configuration(gateway)
    except GatewayError as error:
        # Credentials refused and Twilio unreachable keep their GatewayError (the CLI says
        # what to check); any other refusal names the call's status.
        if error.status is None or error.status in (401, 403) or error.retryable:
            raise
        raise SetupError(
            f"Twilio refused a setup call ({error.status}, code {error.code}): {error}"
        ) from error
    return changes


def find_workspace(gateway: SdkGateway, workspace_sid: str) -> WorkspaceInfo:
    """The configured workspace, else Flex's ("Flex Task Assignment"), else the only one."""
    if workspace_sid:
        return gateway.fetch_workspace(workspace_sid)
    found = gateway.list_workspaces()
    flex = [w for w in found if w.friendly_name == FLEX_WORKSPACE_NAME]
    if len(flex) == 1:
        return flex[0]
    if len(found) == 1:
        return found[0]
    raise SetupError("cannot tell which workspace is Flex's: set TWILIO_WORKSPACE_SID")


def _setup_workspace(
    gateway: SdkGateway, workspace: WorkspaceInfo, public_url: str, dry_run: bool
) -> list[Change]:
    target = webhook_url(public_url, paths.TASKROUTER)
    changes: list[Change] = []
    new_callback: str | None = None
    new_filter: str | None = None
    current = workspace.event_callback_url or None
    if current != target:
        if current:
            changes.append(
                _warning(
                    f"the workspace EventCallbackUrl {current} is replaced: whatever "
                    "listened there stops receiving TaskRouter events"
                )
            )
        new_callback = target
        changes.append(
            Change(f"workspace {workspace.sid} EventCallbackUrl", current, target, not dry_run)
        )
    # flexrec owns the callback from here on: the filter is exactly what it uses. Unset,
    # TaskRouter posts every event type (each agent status change too) for nothing.
    current_filter = workspace.events_filter or ""
    present = [e.strip() for e in current_filter.split(",") if e.strip()]
    if set(present) != set(NEEDED_EVENTS):
        new_filter = ",".join(NEEDED_EVENTS)
        changes.append(
            Change(
                f"workspace {workspace.sid} EventsFilter",
                current_filter or "(unset: every event type)",
                new_filter,
                not dry_run,
            )
        )
    if (new_callback or new_filter) and not dry_run:
        gateway.update_workspace(
            workspace.sid, event_callback_url=new_callback, events_filter=new_filter
        )
    return changes


def _our_sinks(gateway: SdkGateway, public_url: str) -> list[SinkInfo]:
    target = webhook_url(public_url, paths.EVENT_STREAMS)
    return [
        s for s in gateway.list_sinks()
        if s.sink_type == "webhook" and (s.destination or "").rstrip("/") == target
    ]  # fmt: skip


def _setup_event_streams(gateway: SdkGateway, public_url: str, dry_run: bool) -> list[Change]:
    target = webhook_url(public_url, paths.EVENT_STREAMS)
    changes: list[Change] = []
    sinks = _our_sinks(gateway, public_url)
    sink = sinks[0] if sinks else None
    if sink is None:
        changes.append(Change("Event Streams webhook sink", None, target, not dry_run))
        if dry_run:
            changes.append(
                Change("Event Streams subscription", None, _types_text(NEEDED_EVENTS), False)
            )
            return changes
        sink = gateway.create_webhook_sink(target, SINK_DESCRIPTION)
    if sink.status != "active":
        changes.append(
            _warning(
                f"sink {sink.sid} is {sink.status}: Twilio activates a webhook sink once it is "
                "validated (Sink Test, then Sink Validate with the test event's id)"
            )
        )
    subscriptions = gateway.list_subscriptions(sink.sid)
    if not subscriptions:
        changes.append(
            Change(
                f"Event Streams subscription for sink {sink.sid}",
                None,
                _types_text(NEEDED_EVENTS),
                not dry_run,
            )
        )
        if not dry_run:
            gateway.create_subscription(
                sink.sid,
                SUBSCRIPTION_DESCRIPTION,
                [EVENT_STREAMS_PREFIX + e for e in NEEDED_EVENTS],
            )
        return changes
    changes += _widen_subscription(gateway, subscriptions[0], dry_run)
    return changes


def _widen_subscription(gateway: Any, subscription: Any, dry_run: bool) -> list[Change]:
    try:
        present = gateway.list_subscribed_event_types(subscription.sid)
    except GatewayError:
        return [
            _warning(
                f"could not read the event types of subscription {subscription.sid}; check it "
                f"includes {_types_text(NEEDED_EVENTS)}"
            )
        ]
    missing = [e for e in NEEDED_EVENTS if EVENT_STREAMS_PREFIX + e not in present]
    # Types an older flexrec asked for and this one no longer uses (`reservation.created`):
    # harmless (each is skipped in its batch), so said, not removed.
    unused = sorted(
        t.removeprefix(EVENT_STREAMS_PREFIX)
        for t in present
        if t.startswith(EVENT_STREAMS_PREFIX)
        and t.removeprefix(EVENT_STREAMS_PREFIX) not in NEEDED_EVENTS
    )
    notes = (
        [
            _info(
                f"Event Streams subscription {subscription.sid} also carries "
                f"{_types_text(unused)}, which flexrec skips (no work); removing them in the "
                "Twilio Console saves their deliveries"
            )
        ]
        if unused
        else []
    )
    if not missing:
        return notes
    if not dry_run:
        for name in missing:
            gateway.add_subscribed_event(subscription.sid, EVENT_STREAMS_PREFIX + name)
    return [
        Change(
            f"Event Streams subscription {subscription.sid} event types",
            f"{len(present)} types",
            f"+ {_types_text(missing)}",
            not dry_run,
        ),
        *notes,
    ]


def _types_text(names: Sequence[str]) -> str:
    return ",".join(names)


def _check_flex_configuration(gateway: SdkGateway) -> list[Change]:
    try:
        config = gateway.fetch_flex_configuration()
    except GatewayError as error:
        if error.status == 404:
            return [_warning("no Flex configuration on this account (is Flex enabled?)")]
        if error.status in (401, 403):
            # The workspace calls just passed with these credentials: the key may not read
            # Flex (a Restricted API key has no Flex permission). Setup is done; say what
            # could not be checked instead of failing after the changes were made.
            return [
                _warning(
                    f"these credentials may not read the Flex configuration (HTTP "
                    f"{error.status}; a Restricted API key has no Flex permission): check "
                    "yourself that Flex Console > Voice > Call Recording is off, or every call "
                    "is recorded twice"
                )
            ]
        raise
    if config.get("call_recording_enabled"):
        return [
            _warning(
                "Flex's own Call Recording (call_recording_enabled) is ON: Flex records each "
                "call's conference as well as flexrec's customer-leg recording, so every call "
                "is recorded twice (Twilio bills both recordings' minutes and storage; Insights "
                "shows two media entries). Choose one: to keep flexrec (dual channel per "
                "customer leg, pause for card payments, archive, console), turn it off in Flex "
                "Console > Voice > Call Recording; to keep Flex's, do not run flexrec."
            )
        ]
    return [
        _info(
            "Flex's own Call Recording is off: each call is recorded once, by flexrec "
            "(nothing to do)"
        )
    ]


# ------------------------------------------------------------------ duplicate deliveries


def _subscriptions_to_us(gateway: SdkGateway, public_url: str) -> list[SubscriptionInfo]:
    try:
        sinks = _our_sinks(gateway, public_url)
    except GatewayError as error:
        if error.retryable:
            raise
        return []  # Event Streams not readable here (not enabled): no duplicate through it
    found: list[SubscriptionInfo] = []
    for sink in sinks:
        found += gateway.list_subscriptions(sink.sid)
    return found


def _remove(gateway: SdkGateway, subscriptions: Sequence[SubscriptionInfo]) -> Change:
    for subscription in subscriptions:
        gateway.delete_subscription(subscription.sid)
    sids = ", ".join(s.sid for s in subscriptions)
    return Change("duplicate Event Streams subscriptions removed", sids, None, True)


def _sink_duplicates(gateway: SdkGateway, public_url: str, apply: bool) -> list[Change]:
    """Workspace mode: a sink posting to this service as well delivers every event twice."""
    subscriptions = _subscriptions_to_us(gateway, public_url)
    if not subscriptions:
        return []
    if apply:
        return [_remove(gateway, subscriptions)]
    sids = ", ".join(s.sid for s in subscriptions)
    return [
        _warning(
            f"an Event Streams sink also points at this service (subscriptions {sids}): every "
            "event arrives twice; run setup again with --fix to remove those subscriptions"
        )
    ]


def _subscription_duplicates(gateway: SdkGateway, public_url: str, apply: bool) -> list[Change]:
    """Event Streams mode: more than one subscription feeding this service."""
    subscriptions = _subscriptions_to_us(gateway, public_url)
    extra = subscriptions[1:]
    if not extra:
        return []
    if apply:
        return [_remove(gateway, extra)]
    sids = ", ".join(s.sid for s in extra)
    return [
        _warning(
            f"{len(subscriptions)} Event Streams subscriptions feed this service: every event "
            f"arrives {len(subscriptions)} times; run setup again with --fix to keep "
            f"{subscriptions[0].sid} and remove {sids}"
        )
    ]


def _callback_duplicate(
    gateway: SdkGateway, workspace: WorkspaceInfo, public_url: str, apply: bool
) -> list[Change]:
    """Event Streams mode: the workspace callback posting to this service too."""
    target = webhook_url(public_url, paths.TASKROUTER)
    if (workspace.event_callback_url or "").rstrip("/") != target:
        return []
    if apply:
        gateway.update_workspace(workspace.sid, event_callback_url="")
        return [Change(f"workspace {workspace.sid} EventCallbackUrl", target, None, True)]
    return [
        _warning(
            "the workspace EventCallbackUrl also points at this service: every event arrives "
            "twice; run setup again with --fix to clear it"
        )
    ]
