"""The gateway's calls for `flexrec setup`: the workspace callback, Event Streams, Flex config.

A mixin of `SdkGateway` (flexrec/twilio/gateway.py), so setup reaches Twilio through the same
transport and the same error translation as everything else: a failure is a `GatewayError`
(an unreachable Twilio is one line, never a traceback).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from twilio.rest import Client

from flexrec.twilio.errors import twilio_call
from flexrec.twilio.resources import WorkspaceInfo


@dataclass(frozen=True)
class SinkInfo:
    """An Event Streams sink."""

    sid: str
    description: str | None
    sink_type: str | None
    status: str | None
    destination: str | None


@dataclass(frozen=True)
class SubscriptionInfo:
    """An Event Streams subscription of a sink."""

    sid: str
    sink_sid: str
    description: str | None


def _workspace(ws: Any) -> WorkspaceInfo:
    return WorkspaceInfo(
        sid=ws.sid,
        friendly_name=ws.friendly_name,
        event_callback_url=ws.event_callback_url or None,
        events_filter=ws.events_filter or None,
    )


def _sink(sink: Any) -> SinkInfo:
    config = sink.sink_configuration if isinstance(sink.sink_configuration, dict) else {}
    destination = config.get("destination")
    return SinkInfo(
        sid=sink.sid,
        description=sink.description,
        sink_type=str(sink.sink_type) if sink.sink_type else None,
        status=str(sink.status) if sink.status else None,
        destination=str(destination) if destination else None,
    )


class SetupCalls:
    """Workspace, Event Streams and Flex configuration calls (needs `self._client`)."""

    _client: Client

    def list_workspaces(self, friendly_name: str | None = None) -> list[WorkspaceInfo]:
        """The account's workspaces, optionally only those with this exact FriendlyName."""
        kwargs: dict[str, Any] = {"limit": 50}
        if friendly_name:
            kwargs["friendly_name"] = friendly_name
        with twilio_call():
            rows = self._client.taskrouter.v1.workspaces.list(**kwargs)
        return [_workspace(w) for w in rows]

    def fetch_workspace(self, workspace_sid: str) -> WorkspaceInfo:
        """One workspace."""
        with twilio_call():
            return _workspace(self._client.taskrouter.v1.workspaces(workspace_sid).fetch())

    def update_workspace(
        self,
        workspace_sid: str,
        *,
        event_callback_url: str | None = None,
        events_filter: str | None = None,
    ) -> WorkspaceInfo:
        """Set the workspace's EventCallbackUrl and/or EventsFilter (None: unchanged)."""
        kwargs: dict[str, Any] = {}
        if event_callback_url is not None:
            kwargs["event_callback_url"] = event_callback_url
        if events_filter is not None:
            kwargs["events_filter"] = events_filter
        with twilio_call():
            ws = self._client.taskrouter.v1.workspaces(workspace_sid).update(**kwargs)
        return _workspace(ws)

    def list_sinks(self) -> list[SinkInfo]:
        """The account's Event Streams sinks."""
        with twilio_call():
            return [_sink(s) for s in self._client.events.v1.sinks.list(limit=200)]

    def create_webhook_sink(self, destination: str, description: str) -> SinkInfo:
        """A webhook sink posting batches of CloudEvents to `destination`."""
        with twilio_call():
            sink = self._client.events.v1.sinks.create(
                description=description,
                sink_configuration={
                    "destination": destination,
                    "method": "POST",
                    "batch_events": True,
                },
                sink_type="webhook",
            )
        return _sink(sink)

    def list_subscriptions(self, sink_sid: str) -> list[SubscriptionInfo]:
        """The subscriptions feeding a sink."""
        with twilio_call():
            rows = self._client.events.v1.subscriptions.list(sink_sid=sink_sid, limit=200)
        return [SubscriptionInfo(s.sid, s.sink_sid, s.description) for s in rows]

    def create_subscription(
        self, sink_sid: str, description: str, event_types: list[str]
    ) -> SubscriptionInfo:
        """Subscribe a sink to these CloudEvent types (schema version 1)."""
        with twilio_call():
            sub = self._client.events.v1.subscriptions.create(
                description=description,
                sink_sid=sink_sid,
                types=[{"type": t, "schema_version": 1} for t in event_types],
            )
        return SubscriptionInfo(sub.sid, sub.sink_sid, sub.description)

    def delete_subscription(self, subscription_sid: str) -> None:
        """Remove a subscription (its sink stops receiving those events)."""
        with twilio_call():
            self._client.events.v1.subscriptions(subscription_sid).delete()

    def list_subscribed_event_types(self, subscription_sid: str) -> set[str]:
        """The CloudEvent types a subscription covers."""
        with twilio_call():
            handle = self._client.events.v1.subscriptions(subscription_sid).subscribed_events
            return {str(e.type) for e in handle.list(limit=500)}

    def add_subscribed_event(self, subscription_sid: str, event_type: str) -> None:
        """Add one CloudEvent type to a subscription."""
        with twilio_call():
            handle = self._client.events.v1.subscriptions(subscription_sid).subscribed_events
            handle.create(type=event_type)

    def fetch_flex_configuration(self) -> dict[str, Any]:
        """Flex's configuration fields setup reports on (native call recording and others)."""
        with twilio_call():
            config = self._client.flex_api.v1.configuration().fetch()
        return {
            "call_recording_enabled": getattr(config, "call_recording_enabled", None),
            "call_recording_webhook_url": getattr(config, "call_recording_webhook_url", None),
            "account_sid": getattr(config, "account_sid", None),
        }
