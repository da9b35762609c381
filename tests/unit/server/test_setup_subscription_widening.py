"""Event Streams setup adds only the TaskRouter event types an existing subscription lacks."""

from __future__ import annotations

from dataclasses import dataclass, field

from flexrec.cli.setup_twilio import EVENT_STREAMS_PREFIX, NEEDED_EVENTS, _widen_subscription


@dataclass
class FakeSubscribedEvents:
    """The gateway's subscribed-event calls over one subscription's types."""

    types: list[str]
    created: list[str] = field(default_factory=list)

    def list_subscribed_event_types(self, subscription_sid: str) -> set[str]:
        return set(self.types)

    def add_subscribed_event(self, subscription_sid: str, event_type: str) -> None:
        self.created.append(event_type)


def FakeEvents(handle: FakeSubscribedEvents) -> FakeSubscribedEvents:
    return handle


SUB = type("Sub", (), {"sid": "DF" + "1" * 32})()


def test_missing_types_are_added() -> None:
    have = [EVENT_STREAMS_PREFIX + e for e in NEEDED_EVENTS[:3]] + ["com.twilio.other.x"]
    handle = FakeSubscribedEvents(have)
    (change,) = _widen_subscription(FakeEvents(handle), SUB, dry_run=False)
    assert change.applied
    assert handle.created == [EVENT_STREAMS_PREFIX + e for e in NEEDED_EVENTS[3:]]


def test_dry_run_adds_nothing_and_complete_subscription_is_left_alone() -> None:
    handle = FakeSubscribedEvents([EVENT_STREAMS_PREFIX + NEEDED_EVENTS[0]])
    (change,) = _widen_subscription(FakeEvents(handle), SUB, dry_run=True)
    assert not change.applied
    assert handle.created == []
    full = FakeSubscribedEvents([EVENT_STREAMS_PREFIX + e for e in NEEDED_EVENTS])
    assert _widen_subscription(FakeEvents(full), SUB, dry_run=False) == []
    assert full.created == []


def test_a_type_flexrec_no_longer_uses_is_reported_not_removed() -> None:
    # A subscription an older flexrec made asks for `reservation.created` too: each such event
    # is skipped in its batch, so setup says so (an info line) and changes nothing.
    older = [EVENT_STREAMS_PREFIX + e for e in (*NEEDED_EVENTS, "reservation.created")]
    handle = FakeSubscribedEvents(older)
    (note,) = _widen_subscription(FakeEvents(handle), SUB, dry_run=False)
    assert note.info and not (note.applied or note.warning)
    assert "reservation.created" in note.what
    assert handle.created == []
