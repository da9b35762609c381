"""The transitions module is the one writer of recording targets, and the design notes draw
exactly its diagram."""

from __future__ import annotations

from pathlib import Path

from recording_harness import Harness, inbound_attrs
from sim_twilio import fake_sid
from sqlalchemy import bindparam, update
from target_writers import PACKAGE, watch_target_writers

from flexrec.db.models import RecordingTarget
from flexrec.db.prepared import Prepared
from flexrec.recording import transitions
from flexrec.recording.states import ENDED_STATES, RECORDING_OUTCOMES, TARGET_STATES
from flexrec.recording.store import write_session
from flexrec.recording.transitions import table

DESIGN = PACKAGE.parent / "docs" / "design.md"
TASK = fake_sid("WT", 1)
CUSTOMER = fake_sid("CA", 1)
RES = fake_sid("WR", 1)
AGENT = fake_sid("WK", 1)


def test_design_notes_hold_the_generated_diagram() -> None:
    text = DESIGN.read_text()
    begin, end = "<!-- transitions:begin -->\n", "<!-- transitions:end -->"
    assert begin in text and end in text, "docs/design.md lost its transitions block"
    block = text.split(begin, 1)[1].split(end, 1)[0]
    assert block == transitions.diagram(), (
        "docs/design.md's state diagram differs from flexrec.recording.transitions: paste "
        "`python -c 'from flexrec.recording.transitions import diagram; print(diagram())'`"
    )


def test_every_transition_names_real_states_and_every_state_is_reachable() -> None:
    names = [t.name for t in transitions.TRANSITIONS]
    assert len(names) == len(set(names))
    reached = {"pending"}
    for t in transitions.TRANSITIONS:
        assert set(t.sources) <= TARGET_STATES
        assert t.dest is None or t.dest in TARGET_STATES
        if t.dest is not None:
            reached.add(t.dest)
    assert reached == TARGET_STATES
    # An ended target is left only by the controller's moves, which need the call to be live
    # (their SQL condition includes it): once the call is over, an ended target is final.
    for t in transitions.TRANSITIONS:
        if t.dest is not None and set(t.sources) & set(ENDED_STATES):
            assert t.live_call, t.name
            assert "call_ended_at IS NULL" in str(table.leaving(t)), t.name
    assert {t.dest for t in table.REPORTED.values()} == set(RECORDING_OUTCOMES.values())


def _target(h: Harness) -> RecordingTarget:
    return h.target(CUSTOMER)


def test_a_move_the_table_does_not_allow_changes_nothing(h: Harness) -> None:
    h.twilio.add_call(CUSTOMER)
    h.twilio.add_task(TASK, inbound_attrs(CUSTOMER))
    attrs = inbound_attrs(CUSTOMER)
    h.tr("reservation.accepted", TASK, attrs, status="assigned", reservation=RES, worker=AGENT)
    target = _target(h)
    assert target.state == "recording"
    recording_sid = target.recording_sid
    assert recording_sid is not None
    h.call_status(CUSTOMER, "completed")
    h.recording_status(recording_sid, CUSTOMER, "completed")
    assert _target(h).state == "completed"
    # Nothing moves a final target: a late in-progress, a pause's answer, a claim, a reap.
    h.recording_status(recording_sid, CUSTOMER, "in-progress")
    now = h.clock()
    with write_session(h.sessions) as session:
        transitions.pause_result(session, target.id, "paused", now)
        transitions.pause_result(session, target.id, "ended", now)
        assert not transitions.claim(session, target.id, "t", now, h.service.ctx.visibility)
        assert not transitions.wish_pause(
            session, target.id, paused=True, actor="a", worker_sid=None, now=now
        )
        transitions.call_over(session, CUSTOMER, "completed", now)
    assert _target(h).state == "completed"


def test_a_write_from_another_module_is_caught() -> None:
    # The guard every recording test runs under: code of flexrec's own that is not
    # the transitions package writing a target is named.
    fake_module = str(PACKAGE / "recording" / "pause.py")
    code = compile("target.state = 'paused'", fake_module, "exec")
    with watch_target_writers() as offenders:
        exec(code, {"target": RecordingTarget(state="recording")})  # noqa: S102
    assert offenders == ["RecordingTarget.state = from flexrec/recording/pause.py"]


test_a_write_from_another_module_is_caught.writes_targets_on_purpose = True  # type: ignore[attr-defined]


def test_a_prepared_write_from_another_module_is_caught(h: Harness) -> None:
    # A prepared statement runs on the driver's cursor, unseen by SQLAlchemy's events: the
    # guard watches those too, and blames the room that ran it, not flexrec.db.
    statement = Prepared(
        update(RecordingTarget).where(RecordingTarget.id == bindparam("i")).values(state="paused")
    )
    code = compile(
        "statement.execute(connection, {'i': 1})", str(PACKAGE / "recording" / "pause.py"), "exec"
    )
    with watch_target_writers() as offenders, h.engine.connect() as connection:
        exec(code, {"statement": statement, "connection": connection})  # noqa: S102
    assert offenders == ["UPDATE from flexrec/recording/pause.py"]


test_a_prepared_write_from_another_module_is_caught.writes_targets_on_purpose = True  # type: ignore[attr-defined]


def test_only_transitions_writes_targets_in_the_source() -> None:
    # A static backstop for paths the tests do not walk: no other module builds a write.
    pattern = ("update(RecordingTarget", "insert(RecordingTarget", "delete(RecordingTarget",
               "RecordingTarget.__table__")  # fmt: skip
    found = []
    for path in PACKAGE.rglob("*.py"):
        if path.is_relative_to(PACKAGE / "recording" / "transitions") or "migrations" in path.parts:
            continue
        text = path.read_text()
        found += [f"{path.relative_to(PACKAGE.parent)}: {p}" for p in pattern if p in text]
    assert found == []


def test_transitions_module_holds_no_unused_transition() -> None:
    # Declared and listed in table.py, imported and used by the module that writes it.
    source = "".join(p.read_text() for p in Path(transitions.__file__).parent.glob("*.py"))
    for t in transitions.TRANSITIONS:
        constant = next(k for k, v in vars(table).items() if v is t and k.isupper())
        assert source.count(constant) >= 3, f"{t.name} is declared but never used"
