"""The end of a demo run: wait until every recording is archived and analysed, and say why it
waited; the live figures the display shows meanwhile."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from flexrec.demo.agents import AgentDriver
from flexrec.demo.display import DemoDisplay, LiveFigures
from flexrec.demo.measures import SETTLED_STAGES, STAGE_UNKNOWN, recording_stages
from flexsim import SimRunner


def show_live(sim: SimRunner, driver: AgentDriver, figures: LiveFigures) -> None:
    """Copy the simulator's and the agents' running counts into the live figures."""
    stats = sim.stats()
    figures.finished = stats.finished
    figures.active = stats.active
    figures.recordings = sum(1 for r in sim.recordings() if r.party != "worker")
    figures.webhooks_sent = stats.webhooks_sent
    figures.webhooks_failed = stats.webhooks_failed
    figures.pauses = driver.requested


@dataclass
class Settled:
    """How the wait for archive and analysis after the last call ended, and why it waited."""

    seconds: float
    stages: dict[str, str]  # recording SID -> its stage when the wait ended
    waited_for: dict[str, int]  # wait stage -> recordings seen in it while waiting
    timed_out: bool
    # Mono recordings flexrec did not make (a Studio flow's) that never reached the service:
    # their completed callback was lost (e.g. while it was killed); flexrec's own are waited for.
    unreported: list[str] = field(default_factory=list)

    def count(self, stage: str) -> int:
        """Recordings that ended the wait in `stage`."""
        return sum(1 for value in self.stages.values() if value == stage)

    def summary(self) -> str:
        """One line: how long, what it waited for, how it ended."""
        why = ", ".join(f"{n} {stage}" for stage, n in sorted(self.waited_for.items()))
        outcome = ", ".join(
            f"{self.count(key)} {label}" for key, label in SETTLED_STAGES.items() if self.count(key)
        )
        verb = "did not settle in" if self.timed_out else "settled in"
        line = f"archive and analysis {verb} {self.seconds:.1f} s after the last call"
        line += f" (waited for {why})" if why else " (nothing left to wait for)"
        pending: dict[str, list[str]] = {}
        for sid, stage in sorted(self.stages.items()):
            if stage not in SETTLED_STAGES:
                pending.setdefault(stage, []).append(sid)
        if pending:
            line += "; still " + ", ".join(
                f"{len(sids)} {stage} ({' '.join(sids[:3])}{' …' if len(sids) > 3 else ''})"
                for stage, sids in pending.items()
            )
        line += f": {outcome or 'no recordings'}"
        if self.unreported:
            line += (
                f"; {len(self.unreported)} mono recording(s) flexrec did not make never reached"
                f" the service (completed callback lost): {' '.join(self.unreported[:3])}"
            )
        return line

    @property
    def clean(self) -> bool:
        """Every recording reached a good end (analysed, or mono with what one channel gives)."""
        return not self.timed_out and all(
            stage in ("analysed", "mono") for stage in self.stages.values()
        )


# How long a mono recording the service has not heard of may still be announced by a late
# completed callback (the simulator delivers them within a second, retries within seconds).
UNREPORTED_GRACE_S = 15.0


def completed_customer_recordings(sim: SimRunner) -> tuple[set[str], set[str]]:
    """(dual, mono) completed customer-leg call recordings of the simulated account."""
    dual: set[str] = set()
    mono: set[str] = set()
    for item in sim.truth():
        for recording in item.get("recordings", []):
            if (
                recording.get("party") != "customer"
                or recording.get("status") != "completed"
                or recording.get("conference_sid")
            ):
                continue
            (dual if recording.get("channels") == 2 else mono).add(str(recording["sid"]))
    return dual, mono


def settle(
    database_url: str,
    figures: LiveFigures,
    display: DemoDisplay,
    timeout_s: float,
    sim: SimRunner,
    driver: AgentDriver,
) -> Settled:
    """Wait until every completed customer-leg recording is archived and its analysis is done,
    mono or failed; ends as soon as none is left to wait for (or time runs out).

    Every dual recording is waited for: flexrec made or adopted it, so it must find it even if
    a crash lost its callbacks. A mono one is someone else's (a Studio flow's) that flexrec
    only hears of through its completed callback: waited for once the service has noted it,
    or for `UNREPORTED_GRACE_S` while that callback may still be on its way.
    """
    started = time.monotonic()
    deadline = started + timeout_s
    waited_for: dict[str, set[str]] = {}
    while True:
        show_live(sim, driver, figures)
        dual, mono = completed_customer_recordings(sim)
        stages = recording_stages(database_url, dual | mono)
        unreported = sorted(sid for sid in mono if stages[sid] == STAGE_UNKNOWN)
        if time.monotonic() - started >= UNREPORTED_GRACE_S:
            for sid in unreported:
                del stages[sid]  # its callback is not late but lost: nothing will bring it
        waiting = {sid: stage for sid, stage in stages.items() if stage not in SETTLED_STAGES}
        for sid, stage in waiting.items():
            waited_for.setdefault(stage, set()).add(sid)
        figures.archived = len(stages) - len(waiting)
        figures.recordings = len(stages)
        display.update(figures)
        timed_out = time.monotonic() >= deadline
        if not waiting or timed_out:
            return Settled(
                seconds=time.monotonic() - started,
                stages=stages,
                waited_for={stage: len(sids) for stage, sids in waited_for.items()},
                timed_out=bool(waiting),
                unreported=unreported,
            )
        time.sleep(0.25)
