"""Finding a task's call legs from what Twilio always has: its conference, participants, calls.

Task attributes name the legs only on some accounts (Flex's outbound dialpad writes no
`conference` on many: flex-project-template `dualChannelHelper.ts`, "Outbound calls initiated
from Flex ... do not include call_sid and conference metadata in task attributes"), and
conference participant labels are whatever their creator set (Flex documents none). What every
Flex voice task has is the conference Flex creates for it, named after the task SID
(flex-project-template `conference-participant.private.js` `fetchByTask`: conferences listed by
`friendlyName: taskSid`), whose participants are call legs:

- the agent's leg is the one Flex dials to the worker's `client:` contact URI (the dialpad
  add-on's conference callback: `call.to.includes('client')` is the agent);
- the customer's leg is the other party of the task: its number is the task's `outbound_to` /
  `to` (outbound) or `from` / `caller` (inbound), or it is the leg `call_sid` names (inbound);
- any other leg (a third party added by the agent) is neither, and never recorded as the
  customer. An internal (agent-to-agent, `client_call`) task has no customer at all.

A leg's numbers are the only thing a participant lacks, and often flexrec already has the
answer (`KnownLegs`): a label, an attribute or a reservation names the leg, a call status
callback or an earlier attempt gave its numbers, a conference callback listed the
participants. `find_legs` asks Twilio only for what those facts leave open.

`classify_legs` is pure (tested on documented payloads); `find_legs` makes the REST calls.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from flexrec.recording.policy import lookup

CLIENT_PREFIX = "client:"


class ParticipantLike(Protocol):
    """A conference participant as the gateway reports it."""

    @property
    def call_sid(self) -> str: ...

    @property
    def label(self) -> str | None: ...


class CallLike(Protocol):
    """A call leg's numbers as the gateway reports them (fetch) or a status callback did."""

    @property
    def sid(self) -> str: ...

    @property
    def to(self) -> str | None: ...

    @property
    def from_(self) -> str | None: ...


class LegLookup(Protocol):
    """The REST calls that find a task's legs (flexrec.twilio.gateway's LookupGateway)."""

    def list_conferences(self, friendly_name: str, status: str | None = None) -> Sequence[Any]:
        """Conferences with this FriendlyName, optionally in one status."""
        ...

    def list_participants(self, conference_sid: str) -> Sequence[Any]:
        """The legs still in a conference."""
        ...

    def fetch_call(self, call_sid: str) -> Any:
        """One call leg."""
        ...


class CallMemory(Protocol):
    """Legs whose numbers this process has seen (flexrec.recording.seen_calls.SeenCalls)."""

    def get(self, sid: str) -> CallLike | None:
        """The leg's numbers, if seen."""
        ...

    def note(self, sid: str, to: str | None, from_: str | None) -> None:
        """Remember a leg's numbers."""
        ...


class _NoMemory:
    def get(self, sid: str) -> CallLike | None:
        return None

    def note(self, sid: str, to: str | None, from_: str | None) -> None:
        return None


@dataclass(frozen=True)
class KnownLegs:
    """What flexrec already knows of a task's legs, so a search asks Twilio only for the rest."""

    conference_sid: str | None = None  # the task's conference, as a callback or attribute named it
    # Legs in it as conference callbacks reported them (joined, not yet left), labels included.
    participants: tuple[ParticipantLike, ...] = ()
    agents: frozenset[str] = frozenset()  # legs a reservation holds as its agent's
    calls: CallMemory = field(default_factory=_NoMemory)


@dataclass(frozen=True)
class TaskLegs:
    """What a task's conference says about its legs."""

    conference_sid: str | None = None
    customer_call_sid: str | None = None
    worker_call_sids: tuple[str, ...] = ()
    others: tuple[str, ...] = ()  # neither agent nor customer (third parties)


def is_agent_leg(call: CallLike) -> bool:
    """A Flex agent's leg: dialled to (or, for an agent's own outgoing client, from) a Twilio
    Client identity."""
    to = (call.to or "").strip().lower()
    from_ = (call.from_ or "").strip().lower()
    return to.startswith(CLIENT_PREFIX) or (from_.startswith(CLIENT_PREFIX) and not to)


def _digits(number: Any) -> str:
    """A phone number reduced to its digits, for comparing `+1 555…` with `+1555…`."""
    return "".join(ch for ch in str(number) if ch.isdigit()) if number else ""


def _same_number(number: str | None, numbers: set[str]) -> bool:
    """`number` is one of `numbers` (digits only; a national form matches its E.164 form)."""
    digits = _digits(number)
    if len(digits) < 7:  # not a phone number (a SIP user, an empty field)
        return False
    return any(
        digits == other or (len(other) >= 7 and (digits.endswith(other) or other.endswith(digits)))
        for other in numbers
    )


def _customer_numbers(attributes: Mapping[str, Any]) -> tuple[set[str], set[str]]:
    """The customer's number as the task states it: (numbers it was called at, numbers it
    called from)."""
    direction = attributes.get("direction")
    called = {_digits(attributes.get(k)) for k in ("outbound_to",)}
    calling: set[str] = set()
    if direction == "outbound":
        called.add(_digits(attributes.get("to")))
    else:
        calling |= {_digits(attributes.get(k)) for k in ("from", "caller")}
    called.discard("")
    calling.discard("")
    return called, calling


def _named(attributes: Mapping[str, Any], call_sid: str) -> bool:
    named = attributes.get("call_sid") if attributes.get("direction") != "outbound" else None
    return call_sid in (named, lookup(attributes, "conference.participants.customer"))


def names_customer(attributes: Mapping[str, Any], call: CallLike) -> bool:
    """Whether a task's attributes make `call` its customer's leg: by SID (inbound `call_sid`,
    `conference.participants.customer`) or by number (the module docstring's rule)."""
    if attributes.get("client_call") is True or is_agent_leg(call):
        return False
    called, calling = _customer_numbers(attributes)
    return (
        _named(attributes, call.sid)
        or _same_number(call.to, called)
        or _same_number(call.from_, calling)
    )


def classify_legs(
    attributes: Mapping[str, Any],
    participants: Sequence[ParticipantLike],
    calls: Mapping[str, CallLike],
    conference_sid: str | None = None,
    agents: frozenset[str] = frozenset(),
) -> TaskLegs:
    """Which participant is the agent, the customer, or neither (see the module docstring).

    `calls` holds the call of each participant whose numbers are known (one without is judged
    by its label and the attributes' SIDs alone); `agents`: legs known to be agents'.
    """
    if attributes.get("client_call") is True:
        return TaskLegs(conference_sid, None, tuple(p.call_sid for p in participants))
    named = attributes.get("call_sid") if attributes.get("direction") != "outbound" else None
    called, calling = _customer_numbers(attributes)
    customer: str | None = None
    workers: list[str] = []
    others: list[str] = []
    unknown: list[str] = []
    for participant in participants:
        sid = participant.call_sid
        call = calls.get(sid)
        if sid in agents or (call is not None and is_agent_leg(call)):
            workers.append(sid)
            continue
        if call is None and participant.label == "worker":
            workers.append(sid)
            continue
        is_customer = participant.label == "customer" or (
            names_customer(attributes, call) if call is not None else _named(attributes, sid)
        )
        if is_customer and customer is None:
            customer = sid
        elif call is None:
            unknown.append(sid)
        else:
            others.append(sid)
    if customer is None and not (called or calling or named) and len(others) == 1:
        # A task that names no number at all: the only non-agent leg is the customer's.
        customer = others.pop()
    return TaskLegs(conference_sid, customer, tuple(workers), tuple(others + unknown))


def find_legs(
    lookup_gateway: LegLookup,
    task_sid: str,
    attributes: Mapping[str, Any],
    known: KnownLegs | None = None,
    *,
    want_workers: bool = False,
    lists: bool = True,
) -> TaskLegs:
    """The task's live legs classified, asking Twilio only what `known` leaves open.

    The participants conference callbacks reported come first: when they answer (the customer
    found, or a new agent under `want_workers`) Twilio is not asked for the list. Otherwise the
    participants of the known conference are listed (of the one named after the task when none
    is known or it is empty). A participant's call is fetched only when no label, attribute,
    reservation or earlier report says whose leg it is. `lists` False: only the reported
    participants are looked at (a look beside a polling search). Raises the gateway's error
    when Twilio fails (the caller retries later).
    """
    known = known or KnownLegs()
    legs = TaskLegs(known.conference_sid)
    if known.participants:
        legs = _classify(
            lookup_gateway,
            attributes,
            known.participants,
            known,
            known.conference_sid,
            want_workers,
        )
        new_agents = set(legs.worker_call_sids) - known.agents
        if new_agents if want_workers else legs.customer_call_sid:
            return legs
    if not lists:
        return legs  # a look at what callbacks reported: the polling search lists
    participants: list[Any] = []
    conference_sid = known.conference_sid
    if conference_sid is not None:
        participants = list(lookup_gateway.list_participants(conference_sid))
    if not participants:
        # No conference known, or the known one is empty (over, or not the live one): the
        # task's live conference is the one named after it.
        conferences = lookup_gateway.list_conferences(task_sid, "in-progress")
        if not conferences or conferences[0].sid == conference_sid:
            return TaskLegs(conference_sid)
        conference_sid = conferences[0].sid
        participants = list(lookup_gateway.list_participants(conference_sid))
    return _classify(lookup_gateway, attributes, participants, known, conference_sid, want_workers)


def _classify(
    lookup_gateway: LegLookup,
    attributes: Mapping[str, Any],
    participants: Sequence[ParticipantLike],
    known: KnownLegs,
    conference_sid: str | None,
    want_workers: bool = False,
) -> TaskLegs:
    """`classify_legs` with each participant's numbers from what is known, fetched otherwise.

    Looking for the customer only, the legs are fetched newest first and the fetching stops at
    a leg the task's numbers name: the customer joins after the agent on an outbound call, and
    the agent's leg, once the customer is known, would change nothing. A task that names no
    number needs every leg (its customer is the only leg that is not an agent's)."""
    calls: dict[str, CallLike] = {}
    internal = attributes.get("client_call") is True  # every leg an agent's: no numbers needed
    called, calling = _customer_numbers(attributes)
    stop_at_customer = not want_workers and bool(called or calling)
    for participant in () if internal else _newest_first(participants, stop_at_customer):
        sid = participant.call_sid
        if participant.label in ("customer", "worker") or sid in known.agents:
            continue  # whose leg it is is known: its numbers would change nothing
        if _named(attributes, sid):
            continue
        call = known.calls.get(sid)
        if call is None:
            call = lookup_gateway.fetch_call(sid)
            known.calls.note(sid, call.to, call.from_)
        calls[sid] = call
        if stop_at_customer and names_customer(attributes, call):
            break
    return classify_legs(attributes, participants, calls, conference_sid, known.agents)


def _newest_first(
    participants: Sequence[ParticipantLike], newest_first: bool
) -> Sequence[ParticipantLike]:
    return participants[::-1] if newest_first else participants
