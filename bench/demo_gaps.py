"""Where a demo run's unrecorded seconds went: start and replacement gaps, cut by cause.

Reads what `flexrec demo --workdir DIR` keeps (the simulator's truth and webhook log, the
service log, the clock) and prints, per gap kind, the simulated seconds spent waiting for the
event, on failed Twilio tries, on backoff, on scheduling, settling, the restart and the final
round trip (flexrec.demo.gaps), then the longest gaps with their timelines.

    .venv/bin/flexrec demo --calls 60 --seed 7 --faults api=0.2,dup=0.1,reorder=0.1 \\
        --restart --workdir /tmp/run1
    .venv/bin/python bench/demo_gaps.py /tmp/run1 [--top 8] [--json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from flexrec.demo.early_ends import Notices
from flexrec.demo.gaps import RunLogs, gaps_of, totals
from flexrec.demo.scoring import score_truth


def main() -> None:
    """Print the cut of every gap of the kept run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--top", type=int, default=8, help="longest gaps to show in full")
    parser.add_argument("--json", action="store_true", help="one JSON line of the totals")
    args = parser.parse_args()
    logs = RunLogs.load(args.workdir)
    gaps = gaps_of(logs)
    summary: dict[str, object] = {"scale": logs.clock.scale}
    for kind in ("start", "replacement"):
        mine = [g for g in gaps if g.kind == kind]
        summary[kind] = {
            "gaps": len(mine),
            "seconds": round(sum(g.seconds for g in mine), 1),
            "max_s": round(max((g.seconds for g in mine), default=0.0), 1),
            "by_cause_s": totals(mine),
        }
    # Issue 17's rule: the wait from flexrec learning of the early end, the agent's pauses left
    # out (flexrec.demo.early_ends); the gaps below count from the end itself.
    notices = Notices.of_run(logs.deliveries, logs.asked)
    score = score_truth(logs.truth, logs.downtime_ms, notices)
    summary["replacement_wait_after_learning_s_max"] = score.replacement_gap_s_max
    summary["replacement_gap_from_the_end_s_max"] = score.replacement_gap_s_max_raw
    if args.json:
        print(json.dumps(summary, sort_keys=True))
        return
    print(f"clock x{logs.clock.scale:g}; simulated seconds (a real second is {logs.clock.scale:g})")
    for kind in ("start", "replacement"):
        print(f"{kind} gaps: {json.dumps(summary[kind])}")
    print(
        "longest replacement wait after flexrec learnt of the early end (issue 17's 10 s, the"
        f" agent's pauses and kills left out): {score.replacement_gap_s_max} s; from the end"
        f" itself: {score.replacement_gap_s_max_raw} s"
    )
    for gap in sorted(gaps, key=lambda g: g.seconds, reverse=True)[: args.top]:
        parts = ", ".join(f"{cause} {s:.1f}" for cause, s in gap.parts.items())
        print(f"\n{gap.kind} gap {gap.seconds:.1f} s on {gap.call_sid} ({gap.scenario}): {parts}")
        for moment in gap.moments:
            print(f"    {moment}")


if __name__ == "__main__":
    main()
