"""What happened to one unrecorded eligible call of a soak, told from three sources.

The simulator's truth (the talk window, every recording on the customer leg with its end and
pauses, the faults that hit it), the service's database (its task, reservations, targets,
recordings, pause events and conference participants) and the service's log (every line that
names the task, the leg, its conference or one of its recordings, and each restart), on one
clock: the real UTC time of the service's log, to which the simulated times are mapped.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# Log fields worth a line's room, in this order (the rest is noise for this purpose).
_LOG_FIELDS = (
    "event", "task_sid", "call_sid", "recording_sid", "target_id", "state", "status", "outcome",
    "source", "attempt", "action", "error", "reason", "delay_s", "targets", "links",
)  # fmt: skip
MAX_LOG_LINES = 40


@dataclass(frozen=True)
class Clocks:
    """The simulator's clock against real time: one shared moment and the simulator's speed."""

    sim_s: float
    real_s: float
    scale: float

    def real(self, sim_ms: int | float | None) -> str:
        """A simulated epoch-ms moment as the real UTC time of day the service logged."""
        if sim_ms is None:
            return "-"
        real = self.real_s + (float(sim_ms) / 1000.0 - self.sim_s) / self.scale
        return datetime.fromtimestamp(real, UTC).strftime("%H:%M:%S.%f")[:-4]


def _clock(moment: Any) -> str:
    """A database or log timestamp as a time of day."""
    if moment is None:
        return "-"
    text = str(moment).replace("T", " ")
    return text.split(" ", 1)[1][:11] if " " in text else text


def _query(db: sqlite3.Connection, sql: str, args: Sequence[Any]) -> list[dict[str, Any]]:
    db.row_factory = sqlite3.Row
    return [dict(row) for row in db.execute(sql, args)]


def _service_rows(db_path: Path, task_sids: list[str], call_sid: str, clocks: Clocks) -> list[str]:
    if not db_path.exists():
        return ["(no database)"]
    out: list[str] = []
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
        for task_sid in task_sids:
            for task in _query(db, "SELECT * FROM tasks WHERE sid = ?", [task_sid]):
                out.append(
                    f"task {task['sid']} {task['status']}"
                    f" customer_call_sid={task['customer_call_sid']}"
                    f" conference={task['conference_sid']} policy={task['policy_decision']}"
                )
            for res in _query(db, "SELECT * FROM reservations WHERE task_sid = ?", [task_sid]):
                out.append(
                    f"reservation {res['sid']} {res['status']} worker_call={res['worker_call_sid']}"
                    f" accepted {clocks.real(res['accepted_ms'])}"
                    f" ended {clocks.real(res['ended_ms'])}"
                )
        targets = _query(db, "SELECT * FROM recording_targets WHERE call_sid = ?", [call_sid])
        for t in targets:
            out.append(
                f"target #{t['id']} {t['leg']} {t['call_sid']} state={t['state']}"
                f" recording={t['recording_sid']} attempts={t['attempts']}"
                f" replacements={t['replacements']} desired={t['desired_state']}"
                f" created={_clock(t['created_at'])} updated={_clock(t['updated_at'])}"
                f" call_ended={_clock(t['call_ended_at'])} last_error={t['last_error']}"
            )
        for r in _query(db, "SELECT * FROM recordings WHERE call_sid = ?", [call_sid]):
            out.append(
                f"recording {r['sid']} {r['status']} error={r['error_code']}"
                f" channels={r['channels']} stored={_clock(r['created_at'])}"
                f" ended={_clock(r['completed_at'])} ended_while_live={r['ended_while_live']}"
            )
        for task_sid in task_sids:
            for p in _query(
                db, "SELECT * FROM pause_events WHERE task_sid = ? ORDER BY id", [task_sid]
            ):
                out.append(
                    f"pause_event {_clock(p['created_at'])} {p['action']} -> {p['result']}"
                    f" recording={p['recording_sid']} error={p['error']}"
                )
            for c in _query(
                db, "SELECT * FROM conference_participants WHERE friendly_name = ?", [task_sid]
            ):
                out.append(
                    f"participant {c['call_sid']} label={c['label']} joined={c['joined']}"
                    f" at={_clock(c['updated_at'])}"
                )
    return out or ["(no rows)"]


class ServiceLog:
    """The service's log, read once, searched per call."""

    def __init__(self, path: Path) -> None:
        self.lines = path.read_text(errors="replace").splitlines() if path.exists() else []

    def about(self, keys: Iterable[str]) -> list[str]:
        """Lines naming one of `keys`, and the restarts among them."""
        wanted = [k for k in keys if k]
        out: list[str] = []
        for line in self.lines:
            if line.startswith("flexrec ") and "listening on" in line:
                out.append("   (a service process answers: restarted)")
                continue
            if not any(k in line for k in wanted):
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if not isinstance(entry, dict) or entry.get("event") == "http_request":
                continue
            fields = " ".join(f"{k}={entry[k]}" for k in _LOG_FIELDS[1:] if k in entry)
            out.append(f"{_clock(entry.get('timestamp'))} {entry.get('event')} {fields}")
        # Only the restarts between this call's first and last line.
        first = next((i for i, s in enumerate(out) if not s.startswith("   ")), 0)
        last = max((i for i, s in enumerate(out) if not s.startswith("   ")), default=-1)
        kept = [s for i, s in enumerate(out) if first <= i <= last]
        return kept[:MAX_LOG_LINES] + (
            [f"... {len(kept) - MAX_LOG_LINES} more"] if len(kept) > MAX_LOG_LINES else []
        )


def tell(
    verdict: str,
    item: dict[str, Any],
    clocks: Clocks,
    outages: Sequence[tuple[float, float]],
    db_path: Path,
    log: ServiceLog,
    asked: Sequence[tuple[str, float]] = (),
    in_report: tuple[str, str | None] | None = None,
) -> str:
    """One unrecorded eligible call's story: truth, the agent's requests (`asked`: action,
    simulated epoch s), the service's rows, its log."""
    customer = str(item.get("customer_call_sid") or "")
    tasks = [str(t.get("task_sid")) for t in item.get("tasks", []) if t.get("task_sid")]
    window = item.get("expected_window") or {}
    start, end = window.get("start_ms"), window.get("end_ms")
    variants = " ".join(f"{k}={v}" for k, v in sorted((item.get("variants") or {}).items()))
    length = (int(end) - int(start)) / 1000.0 if start is not None and end is not None else 0.0
    lines = [
        f"{verdict.upper()} {customer} task {','.join(tasks)} {item.get('direction')}"
        f" {item.get('scenario')} [{variants}]",
        f"  talk     {clocks.real(start)} -> {clocks.real(end)} real ({length:.1f} s simulated);"
        f" customer answered {clocks.real(item.get('customer_answered_at_ms'))},"
        f" agent connected {clocks.real(item.get('agent_connected_at_ms'))}",
    ]
    for n, (down, up) in enumerate(outages, 1):
        if start is not None and end is not None and down * 1000 <= int(end) + 30_000:
            if up * 1000 >= int(start) - 60_000:
                back = clocks.real(up * 1000)
                lines.append(f"  kill -9 #{n}: down {clocks.real(down * 1000)}, back {back}")
    recordings = [r for r in item.get("recordings", []) if r.get("call_sid") == customer]
    for r in recordings or [{}]:
        if not r:
            lines.append("  truth    no recording on the customer leg")
            continue
        pauses = ", ".join(
            f"{clocks.real(p.get('start_ms'))}-{clocks.real(p.get('end_ms'))}"
            for p in r.get("pauses") or []
        )
        lines.append(
            f"  truth    {r.get('sid')} {r.get('origin')} ch={r.get('channels')}"
            f" {r.get('status')} {clocks.real(r.get('start_time_ms'))}"
            f" -> {clocks.real(r.get('end_time_ms'))} end={r.get('end_reason')}"
            f" error={r.get('error_code')} pauses=[{pauses}]"
        )
    for fault in item.get("faults") or []:
        if fault.get("kind") == "blind_write":
            continue
        following = fault.get("next_recording") or {}
        lines.append(
            f"  fault    {fault.get('kind')} at {clocks.real(fault.get('at_ms'))}"
            f" on {fault.get('recording_sid')} ({fault.get('party')})"
            f" next={following.get('sid')} gap_ms={following.get('gap_ms')}"
        )
    if in_report is not None:
        lines.append(f"  coverage {in_report[0]}: {in_report[1]}")
    if asked:
        requests = ", ".join(f"{action} {clocks.real(when * 1000)}" for action, when in asked)
        lines.append(f"  agent    asked {requests}")
    lines += [f"  flexrec  {row}" for row in _service_rows(db_path, tasks, customer, clocks)]
    keys = [customer, *tasks, *item.get("conference_sids", []), *(r.get("sid") for r in recordings)]
    lines += [f"  log      {row}" for row in log.about(keys)]
    return "\n".join(lines)
