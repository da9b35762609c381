"""The jobs worker's metrics in the service's `/metrics`, and whether the worker answers.

`flexrec serve` runs the queue's jobs (archive, analysis, retention, reconciliation) in a
`flexrec worker` of its own (flexrec.cli.jobs_process), which serves its registry on a socket
only this host reaches. A scrape of the service fetches it (at most once a second, so a flood
of scrapes is one fetch a second) and answers one exposition: the service's own families, then
the worker's samples of its own work labelled `process="jobs"` beside the service's samples of
the same family (summing gives both processes' work). Left out of the worker's: its gauges
(each reads the database the service reads, or describes a web process's state the worker
has no part in: the worker never runs `/readyz`, so its `flexrec_ready` is 0) and the coverage
counters, read from the database; the process collector's (`process_*`: its memory, CPU, start
time) are kept. `flexrec_jobs_process_up` says whether the last fetch answered.
"""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from prometheus_client import REGISTRY, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families

from flexrec.coverage.metrics import COVERAGE_COUNTERS
from flexrec.logs import get_logger

log = get_logger(__name__)

JOBS_UP = "flexrec_jobs_process_up"
PROCESS_LABEL = ("process", "jobs")
FETCH_TIMEOUT_S = 1.0  # a worker restarting leaves the scrape waiting this long at most
FRESH_S = 1.0  # scrapes within this long of a fetch reuse it
_FROM_DATABASE = frozenset(family.name for family in COVERAGE_COUNTERS.collect())


def fetch_text(url: str, timeout_s: float = FETCH_TIMEOUT_S) -> str:
    """GET `url` (the worker's metrics, on 127.0.0.1) as text."""
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError(f"not the local jobs worker: {url!r}")
    with urllib.request.urlopen(url, timeout=timeout_s) as answer:  # noqa: S310 - checked above
        return bytes(answer.read()).decode()


@dataclass(frozen=True)
class Fetched:
    """One fetch of the worker's metrics: when, and its text (None: it did not answer)."""

    at: float
    text: str | None
    error: str = ""


class JobsWorkerMetrics:
    """The jobs worker's metrics as a scrape of the service sees them (fetched, cached 1 s)."""

    def __init__(
        self,
        url: str,
        *,
        fetch: Callable[[str], str] = fetch_text,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._fetch = fetch
        self._clock = clock
        self._lock = threading.Lock()
        self._last: Fetched | None = None
        self._answered_at: float | None = None

    def latest(self) -> Fetched:
        """The worker's metrics, fetched now unless fetched within the last second."""
        with self._lock:
            now = self._clock()
            if self._last is not None and now - self._last.at < FRESH_S:
                return self._last
            try:
                self._last = Fetched(now, self._fetch(self.url))
                self._answered_at = now
            except (OSError, ValueError) as exc:
                self._last = Fetched(now, None, type(exc).__name__)
                log.warning("jobs_process_metrics_unanswered", error=self._last.error)
            return self._last

    def exposition(self) -> bytes:
        """The service's metrics with the worker's merged in, in the Prometheus text format."""
        fetched = self.latest()
        worker = text_string_to_metric_families(fetched.text) if fetched.text else ()
        families = merge_families(REGISTRY.collect(), worker)
        up = GaugeMetricFamily(JOBS_UP, "1 when the jobs worker answered the last scrape, else 0")
        up.add_metric([], 1.0 if fetched.text is not None else 0.0)
        return generate_latest(_Families([*families, up]))

    def status(self) -> tuple[bool, str]:
        """Whether the worker answers, and a line for `/readyz` saying so (or since when not)."""
        fetched = self.latest()
        if fetched.text is not None:
            started = _sample(fetched.text, "process_start_time_seconds")
            up = f", up {time.time() - started:.0f} s" if started else ""
            return True, f"the jobs worker answers{up}"
        since = (
            f"for {self._clock() - self._answered_at:.0f} s"
            if self._answered_at is not None
            else "since the service started"
        )
        return False, (
            f"the jobs worker has not answered {since} ({fetched.error}): archive, analysis, "
            "retention and reconciliation wait in the queue; the service restarts it (log "
            "lines jobs_process_exited)"
        )


def merge_families(own: Iterable[Metric], worker: Iterable[Metric]) -> list[Metric]:
    """`own` families, the worker's samples of its own work added under `process="jobs"`."""
    merged = {family.name: family for family in own}
    for family in worker:
        if family.name in _FROM_DATABASE or (
            family.type == "gauge" and not family.name.startswith("process_")
        ):
            continue
        samples = [
            s._replace(labels={**s.labels, PROCESS_LABEL[0]: PROCESS_LABEL[1]})
            for s in family.samples
        ]
        mine = merged.get(family.name)
        if mine is None:
            family.samples = samples
            merged[family.name] = family
        elif mine.type == family.type:
            mine.samples = [*mine.samples, *samples]
    return list(merged.values())


def _sample(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + " "):
            try:
                return float(line.split()[1])
            except (IndexError, ValueError):
                return None
    return None


class _Families:
    """Ready families as the collector `generate_latest` reads."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        """The families, as given."""
        return iter(self._families)
