"""What a person sees while the demo runs: a live progress panel, then one table of results."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.console import Console, Group
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from flexrec.demo.scoring import DemoScore, ScenarioRow


@dataclass
class LiveFigures:
    """Counters refreshed from the simulator and the service while the demo runs."""

    total_calls: int
    finished: int = 0
    active: int = 0
    recordings: int = 0
    webhooks_sent: int = 0
    webhooks_failed: int = 0
    pauses: int = 0
    archived: int = 0
    restarts: int = 0
    phase: str = "starting"
    notes: list[str] = field(default_factory=list)


class DemoDisplay:
    """Owns the progress bars; `update()` redraws them from `LiveFigures`."""

    def __init__(self, console: Console, total_calls: int) -> None:
        self.console = console
        self.progress = Progress(
            TextColumn("[bold]{task.description:<18}"),
            BarColumn(bar_width=36),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
            disable=not console.is_terminal,
        )
        self._calls = self.progress.add_task("Calls finished", total=total_calls, detail="")
        self._archive = self.progress.add_task("Recordings archived", total=None, detail="")

    def __enter__(self) -> DemoDisplay:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def update(self, figures: LiveFigures) -> None:
        """Redraw from the latest counters."""
        self.progress.update(
            self._calls,
            completed=figures.finished,
            detail=(
                f"[cyan]{figures.active} live[/]  {figures.recordings} recording(s)  "
                f"{figures.webhooks_sent} webhooks"
                + (
                    f" [red]{figures.webhooks_failed} refused/failed[/]"
                    if figures.webhooks_failed
                    else ""
                )
                + (f"  [magenta]{figures.pauses} pause(s)[/]" if figures.pauses else "")
                + (f"  [yellow]{figures.restarts} restart(s)[/]" if figures.restarts else "")
            ),
        )
        self.progress.update(
            self._archive,
            completed=figures.archived,
            total=max(figures.recordings, figures.archived) or None,
            detail=f"[dim]{figures.phase}[/]",
        )

    def say(self, message: str) -> None:
        """A line above the progress bars (a phase change, a restart)."""
        self.progress.console.print(message)


def _mark(good: bool) -> Text:
    return Text("✔", style="bold green") if good else Text("✘", style="bold red")


def results_table(score: DemoScore, rows: list[ScenarioRow]) -> Group:
    """The table a reader takes in at a glance, with the headline verdict above it."""
    table = Table(title="Calls by scenario", title_justify="left", header_style="bold")
    table.add_column("scenario")
    for name in ("calls", "eligible", "recorded", "dupes", "agent legs", "linked", "lost writes"):
        table.add_column(name, justify="right")
    for row in rows:
        full = row.recorded + row.while_down == row.eligible
        table.add_row(
            row.scenario,
            str(row.calls),
            str(row.eligible),
            Text(str(row.recorded), style="green" if full else "bold red"),
            Text(str(row.duplicates), style="bold red" if row.duplicates else ""),
            Text(str(row.agent_legs), style="bold red" if row.agent_legs else ""),
            Text(str(row.media_ok), style="green" if row.media_ok == row.recorded else "bold red"),
            Text(str(row.lost_writes), style="bold red" if row.lost_writes else ""),
        )
    table.add_section()
    table.add_row(
        Text("all", style="bold"),
        str(score.calls),
        str(score.eligible),
        str(score.recorded),
        str(score.duplicates),
        str(score.agent_leg_recordings),
        str(score.media_linked),
        str(score.lost_attribute_writes),
    )

    figures = Table.grid(padding=(0, 2))
    figures.add_column(justify="left")
    figures.add_column(justify="right")
    figures.add_column(justify="left")

    def fmt(value: float | None, unit: str = "", digits: int = 0) -> str:
        return "n/a" if value is None else f"{value:,.{digits}f}{unit}"

    checks = [
        (
            "eligible calls recorded",
            f"{score.recorded}/{score.eligible}"
            + (
                f" (+{score.unrecordable_while_down} whole talk inside the kill)"
                if score.unrecordable_while_down
                else ""
            ),
            score.recorded + score.unrecordable_while_down == score.eligible,
        ),
        ("duplicate recordings", str(score.duplicates), score.duplicates == 0),
        ("agent-leg recordings", str(score.agent_leg_recordings), score.agent_leg_recordings == 0),
        (
            "lost attribute writes",
            str(score.lost_attribute_writes),
            score.lost_attribute_writes == 0,
        ),
        (
            "linked in Flex Insights",
            f"{score.media_linked}/{score.recorded}",
            score.media_linked == score.recorded,
        ),
    ]
    if score.replacements or score.replacement_gap_s_max is not None:
        # Judged as issue 17 asks, from flexrec learning of the early end (the callback's first
        # try, or the service back from a kill), the agent's pause left out; the gap from the
        # end itself, what a listener hears missing, is shown beside it.
        checks.append(
            (
                "replaced mid-call / longest wait after learning of it",
                f"{score.replacements} / {fmt(score.replacement_gap_s_max, ' s', 1)}"
                f" ({fmt(score.replacement_gap_s_max_raw, ' s', 1)} from the end itself)",
                score.replacement_gap_s_max is None or score.replacement_gap_s_max <= 10.0,
            )
        )
    if score.deliberate_stops:
        checks.append(
            (
                "stopped by another client / undone",
                f"{score.deliberate_stops} / {score.stops_undone}",
                score.stops_undone == 0,
            )
        )
    if score.coverage_agrees is not None:
        checks.append(
            (
                "coverage report agrees with truth",
                f"{score.coverage_legs_checked - len(score.coverage_mismatches)}"
                f"/{score.coverage_legs_checked} legs",
                score.coverage_agrees,
            )
        )
    for label, value, good in checks:
        figures.add_row(label, value, _mark(good))
    figures.add_row("eligible talk time recorded", fmt(score.talk_time_recorded_pct, " %", 2), "")
    figures.add_row(
        "start gap p50 / max (call time)",
        f"{fmt(score.start_gap_ms_p50, ' ms')} / {fmt(score.start_gap_ms_max, ' ms')}",
        "",
    )
    figures.add_row(
        "webhook → Recording API p50 / p99",
        f"{fmt(score.webhook_to_api_ms_p50, ' ms', 1)} / "
        f"{fmt(score.webhook_to_api_ms_p99, ' ms', 1)}",
        "",
    )
    figures.add_row(
        "pauses requested / applied",
        f"{score.pauses_requested} / {score.pauses_applied}",
        ", ".join(f"{n} answered {code}" for code, n in score.pause_answers.items()),
    )
    settled_well = score.settled and not (score.analysis_failed or score.archive_failed)
    figures.add_row(
        "archived / analysed / mono",
        f"{score.archived} / {score.analysed} / {score.analysis_mono}"
        + (f", {score.analysis_failed} analysis failed" if score.analysis_failed else "")
        + (f", {score.archive_failed} archive failed" if score.archive_failed else ""),
        "" if settled_well else _mark(False),
    )
    figures.add_row(
        "settled after the last call",
        fmt(score.settle_s, " s", 1) + ("" if score.settled else " (timed out)"),
        "" if score.settled else _mark(False),
    )
    figures.add_row(
        "VAD precision / recall",
        f"{fmt(score.vad_precision, '', 3)} / {fmt(score.vad_recall, '', 3)}",
        "",
    )
    if score.card_data is not None:
        card = score.card_data
        figures.add_row(
            "card numbers spoken / silenced",
            f"{card['card_numbers_spoken']} / {card['card_numbers_silenced']}",
            _mark(card["card_numbers_spoken"] == card["card_numbers_silenced"]),
        )
        figures.add_row(
            "card digits audible in kept audio",
            f"{card['card_digits_audible']} of {card['card_digit_words']}",
            _mark(card["card_digits_audible"] == 0),
        )
        figures.add_row(
            "distractors silenced / non-card s per card call",
            f"{card['distractors_silenced_share']:.1%} / "
            f"{card['non_card_silenced_s_per_card_call']} s",
            _mark(
                card["distractors_silenced_share"] <= 0.02
                and card["non_card_silenced_s_per_card_call"] <= 2
            ),
        )
    if score.faults or score.restarts:
        figures.add_row("faults / restarts", f"{score.faults or 'none'} / {score.restarts}", "")
    for axis, counts in sorted(score.variants.items()):
        # the account variants the simulator drew (flexsim.variants): calls of each
        spread = ", ".join(f"{value} {n}" for value, n in sorted(counts.items()))
        figures.add_row(f"variant {axis.replace('_', ' ')}", spread, "")

    down = score.unrecordable_while_down
    verdict = (
        Text(
            " PASS: every eligible call recorded once, on the customer leg, linked "
            + (f"(but {down} whose talk fell inside the kill -9) " if down else ""),
            style="bold white on green",
        )
        if score.ok
        else Text(" FAIL: see the red figures ", style="bold white on red")
    )
    return Group(verdict, Text(""), table, Text(""), Panel(figures, title="Scores", expand=False))
