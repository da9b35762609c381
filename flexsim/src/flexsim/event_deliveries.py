"""Which webhooks a world event makes, and where Twilio would send them.

A call's, conference's or recording's callbacks go to the URL its creator gave (with the method
and the events it asked for); TaskRouter events go to the workspace's event callback URL (less
what its EventsFilter leaves out) and to every Event Streams webhook sink subscribed to their
type. Each delivery gets its idempotency token and its shard key here; sending is
`flexsim.webhooks`.
"""

from __future__ import annotations

import itertools
from typing import Any

from flexsim import callbacks
from flexsim.delivery import Delivery
from flexsim.world import TERMINAL_CALL_STATUSES, SidFactory, World, WorldEvent


class DeliveryBuilder:
    """Turns one world event into the deliveries it makes (called with the world lock held)."""

    def __init__(
        self,
        world: World,
        *,
        seed: int = 0,
        call_status_events: frozenset[str] = TERMINAL_CALL_STATUSES,
    ) -> None:
        self.world = world
        # Twilio's default without StatusCallbackEvent: only the call's end is reported.
        self.call_status_events = call_status_events
        # Event Streams events built since the dispatcher last took them: (sink URL, event).
        self.stream_events: list[tuple[str, dict[str, Any]]] = []
        self._sids = SidFactory(seed ^ 0x5EB, world.sid_salt)
        self._call_seq: dict[str, int] = {}
        self._ids = itertools.count(1)

    def token(self, suffix: str) -> str:
        """The next I-Twilio-Idempotency-Token, numbered in the order deliveries were made."""
        return f"{next(self._ids):08d}-{suffix}"

    def build(self, event: WorldEvent) -> list[Delivery]:
        """The deliveries `event` makes now (Event Streams events go to `stream_events`)."""
        world = self.world
        data = event.data
        if event.kind == "taskrouter":
            return self._taskrouter(event)
        if event.kind == "conference":
            conference = data["conference"]
            conference.sequence += 1
            if not conference.status_callback:
                return []
            form = callbacks.conference_form(world, event.name, event.at, data, conference.sequence)
            return [
                self._delivery(
                    "conference", event.name, conference.status_callback, form, conference.sid
                )
            ]
        if event.kind == "call-status":
            call = data["call"]
            wanted = call.status_callback_statuses or self.call_status_events
            if not call.status_callback or call.status not in wanted:
                return []
            seq = self._call_seq.get(call.sid, -1) + 1
            self._call_seq[call.sid] = seq
            if call.status in ("completed", "busy", "no-answer", "failed", "canceled"):
                self._call_seq.pop(call.sid, None)
            form = callbacks.call_status_form(world, call, event.at, seq)
            delivery = self._delivery(
                "call-status", event.name, call.status_callback, form, call.sid
            )
            delivery.method = call.status_callback_method.upper()
            return [delivery]
        if event.kind == "recording-status":
            recording = data["recording"]
            if not recording.status_callback:
                return []
            if recording.status not in recording.status_callback_events:
                return []
            form = callbacks.recording_status_form(world, recording, data["call"])
            delivery = self._delivery(
                "recording-status", event.name, recording.status_callback, form, recording.call_sid
            )
            delivery.method = recording.status_callback_method.upper()
            delivery.subject_sid = recording.sid
            return [delivery]
        return []

    def _taskrouter(self, event: WorldEvent) -> list[Delivery]:
        world = self.world
        event_sid = self._sids.new("EV")
        form = callbacks.taskrouter_form(world, event.name, event.at, event.data, event_sid)
        task = event.data.get("task")
        key = task.sid if task is not None else form["ResourceSid"]
        out: list[Delivery] = []
        events_filter = getattr(world, "events_filter", None)
        wanted = not events_filter or event.name in {
            name.strip() for name in str(events_filter).split(",")
        }
        if world.event_callback_url and wanted:
            out.append(
                self._delivery("taskrouter", event.name, world.event_callback_url, form, key)
            )
        sinks = getattr(world, "event_stream_sinks", None) or []
        if sinks:
            cloud_event = callbacks.event_streams_cloudevent(world, form, event.at)
            for sink in sinks:
                if self._sink_wants(sink, cloud_event["type"]):
                    self.stream_events.append((self._sink_url(sink), cloud_event))
        return out

    def _sink_url(self, sink: Any) -> str:
        destination = sink.get("destination") if isinstance(sink, dict) else None
        if destination is None and isinstance(sink, dict):
            destination = (sink.get("sink_configuration") or {}).get("destination")
        return str(destination or "")

    def _sink_wants(self, sink: Any, event_type: str) -> bool:
        """Whether a webhook sink has a subscription covering `event_type` (as Event Streams)."""
        if not isinstance(sink, dict) or not self._sink_url(sink):
            return False
        if sink.get("sink_type", "webhook") != "webhook":
            return False
        for sub in getattr(self.world, "event_subscriptions", None) or []:
            if not isinstance(sub, dict) or sub.get("sink_sid") != sink.get("sid"):
                continue
            for entry in sub.get("types") or []:
                name = entry.get("type") if isinstance(entry, dict) else entry
                if name == event_type:
                    return True
        return False

    def _delivery(self, kind: str, name: str, url: str, form: dict[str, str], key: str) -> Delivery:
        token = self.token(f"{kind}-{key}")
        return Delivery(
            id=token, kind=kind, name=name, url=url, form=form, shard_key=key, resource_sid=key
        )
