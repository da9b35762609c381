"""Reading the service's own figures for the benches: /metrics, /proc, quantiles, the database.

Shared by `service_day.py` and `webhook_throughput.py` (this folder is on sys.path when a bench
runs). Nothing here is timed: it turns what the service counted into per-call figures.
"""

from __future__ import annotations

import math
import os
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

CLK_TCK = os.sysconf("SC_CLK_TCK")


def get_text(url: str, timeout_s: float = 5.0) -> str:
    """GET a loopback URL as text."""
    with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 - loopback only
        return str(response.read().decode())


# -- /proc ---------------------------------------------------------------------------------------
def _stat(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return []


def process_tree(pid: int) -> set[int]:
    """`pid` and every live process under it."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))):
            parents[int(entry.name)] = int(fields[1])
    tree, grew = {pid}, True
    while grew:
        more = {child for child, parent in parents.items() if parent in tree} - tree
        tree |= more
        grew = bool(more)
    return tree


def cpu_seconds(pid: int, *, tree: bool = False) -> float:
    """utime + stime of a process (with `tree`: of it and every live process under it, plus
    the children it already reaped), from /proc."""
    ticks = 0
    for member in process_tree(pid) if tree else {pid}:
        fields = _stat(member)
        if fields:
            ticks += int(fields[11]) + int(fields[12])
            if tree and member == pid:
                ticks += int(fields[13]) + int(fields[14])
    return ticks / CLK_TCK


def cpu_ns(pid: int, *, tree: bool = True) -> int:
    """Nanoseconds on a CPU of every live thread of a process (with `tree`: and of every live
    process under it), from /proc/PID/task/*/schedstat: the scheduler's own count, exact where
    utime + stime come in 10 ms ticks. Threads that ended are not counted (the benches' servers
    keep their threads)."""
    total = 0
    for member in process_tree(pid) if tree else {pid}:
        for task in Path(f"/proc/{member}/task").glob("*/schedstat"):
            try:
                total += int(task.read_text().split()[0])
            except (OSError, IndexError, ValueError):
                continue  # a thread that ended meanwhile
    return total


def rss_mb(pid: int) -> tuple[float, float]:
    """(resident set now, its peak) of a process in MB, from /proc/PID/status."""
    values = {"VmRSS": 0.0, "VmHWM": 0.0}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name in values:
                values[name] = float(rest.split()[0]) / 1024
    except OSError:
        pass
    return values["VmRSS"], values["VmHWM"]


def run_queue_wait_s(pid: int) -> float:
    """Seconds the threads of `pid` (those alive now) spent ready to run while another process
    had their CPU (/proc/PID/task/*/schedstat, second field): what the machine's other tenants
    took from a pinned service."""
    total_ns = 0
    for task in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        try:
            total_ns += int(task.read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue  # a thread that ended meanwhile
    return total_ns / 1e9


def cpu_busy_s(cpu: int) -> tuple[float, float]:
    """Seconds CPU `cpu` has been busy (every process on it, from /proc/stat) and stolen by the
    hypervisor since boot."""
    for line in Path("/proc/stat").read_text().splitlines():
        fields = line.split()
        if fields[0] == f"cpu{cpu}":
            user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[1:9])
            return (user + nice + system + irq + softirq) / CLK_TCK, steal / CLK_TCK
    return 0.0, 0.0


def load_average() -> list[float]:
    """The machine's 1, 5 and 15-minute load averages (other tenants share these CPUs)."""
    return [round(x, 2) for x in os.getloadavg()]


# -- /metrics ------------------------------------------------------------------------------------
@dataclass
class Metrics:
    """One scrape of /metrics: every sample by name and labels."""

    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Metrics:
        """Parse Prometheus' text format."""
        out = cls()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                key = (sample.name, frozenset(sample.labels.items()))
                out.samples[key] = float(sample.value)
        return out

    @classmethod
    def scrape(cls, base_url: str) -> Metrics:
        """Scrape `base_url`/metrics."""
        return cls.parse(get_text(base_url + "/metrics"))

    def total(self, name: str, **labels: str) -> float:
        """The sum of `name` over the samples carrying `labels`."""
        want = set(labels.items())
        return sum(v for (n, ls), v in self.samples.items() if n == name and want <= ls)

    def by_label(self, name: str, label: str) -> dict[str, float]:
        """`name` summed per value of `label`."""
        out: dict[str, float] = {}
        for (n, labels), value in self.samples.items():
            if n == name:
                key = dict(labels).get(label, "")
                out[key] = out.get(key, 0.0) + value
        return out

    def minus(self, before: Metrics) -> Metrics:
        """What was counted between `before` and this scrape (counters, summaries, buckets)."""
        return Metrics({k: v - before.samples.get(k, 0.0) for k, v in self.samples.items()})

    def buckets(
        self, name: str, match: Callable[[dict[str, str]], bool] | None = None, **labels: str
    ) -> list[tuple[float, float]]:
        """Histogram `name`'s cumulative (bound, count) pairs, summed by bound over the label
        sets that carry `labels` and pass `match` (every webhook route, say)."""
        want = set(labels.items())
        by_bound: dict[float, float] = {}
        for (n, sample_labels), value in self.samples.items():
            if n != name + "_bucket" or not want <= sample_labels:
                continue
            if match is None or match(dict(sample_labels)):
                bound = float(dict(sample_labels)["le"])
                by_bound[bound] = by_bound.get(bound, 0.0) + value
        return sorted(by_bound.items())

    def count_over(
        self,
        name: str,
        bound: float,
        match: Callable[[dict[str, str]], bool] | None = None,
        **labels: str,
    ) -> float:
        """Observations of histogram `name` above `bound` (one of its bucket bounds)."""
        buckets = dict(self.buckets(name, match, **labels))
        return buckets.get(math.inf, 0.0) - buckets.get(bound, 0.0)

    def histogram_quantile(
        self,
        name: str,
        q: float,
        match: Callable[[dict[str, str]], bool] | None = None,
        **labels: str,
    ) -> float | None:
        """The q-quantile (0-1) of histogram `name` (over the label sets carrying `labels` and
        passing `match`), interpolated in its bucket as Prometheus does; None without
        observations."""
        buckets = self.buckets(name, match, **labels)
        if not buckets or buckets[-1][1] <= 0:
            return None
        rank = q * buckets[-1][1]
        lower_bound, lower_count = 0.0, 0.0
        for bound, count in buckets:
            if count >= rank:
                if math.isinf(bound):
                    return lower_bound
                share = (rank - lower_count) / (count - lower_count) if count > lower_count else 1
                return lower_bound + (bound - lower_bound) * share
            lower_bound, lower_count = bound, count
        return lower_bound


# -- plain figures -------------------------------------------------------------------------------
def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100, nearest rank), or None without data."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def rounded(value: float | None, digits: int = 1) -> float | None:
    """`value` rounded for a JSON line (None stays None)."""
    return None if value is None else round(value, digits)


def per(amount: float, count: float, scale: float = 1.0, digits: int = 2) -> float | None:
    """`amount` / `count` * `scale`, rounded; None when nothing was counted."""
    return round(scale * amount / count, digits) if count else None


def median_latency_ms(spec: str) -> float:
    """The median of the simulator's REST latency setting `LOW-HIGH` (a log-normal whose 5th and
    95th percentiles are LOW and HIGH: the geometric mean) or `X` (X ms)."""
    low, _, high = spec.partition("-")
    low_ms = float(low)
    high_ms = float(high) if high else low_ms
    return math.sqrt(max(low_ms, 1.0) * high_ms) if high_ms > 0 else 0.0


def answer_times(deliveries: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """From the simulator's delivery log: answer time p50/p99/max per kind and over all, and
    the attempts that passed Twilio's limit."""
    by_kind: dict[str, list[float]] = {}
    timeouts: dict[str, int] = {}
    for entry in deliveries:
        elapsed = entry.get("elapsed_ms")
        if elapsed is None:
            continue
        kind = str(entry.get("kind"))
        by_kind.setdefault(kind, []).append(float(elapsed))
        if "no answer within" in str(entry.get("error") or ""):
            timeouts[kind] = timeouts.get(kind, 0) + 1
    every = [v for values in by_kind.values() for v in values]
    return {
        "p50": rounded(percentile(every, 50)),
        "p99": rounded(percentile(every, 99)),
        "by_kind": {
            kind: {
                "n": len(values),
                "p50": rounded(percentile(values, 50)),
                "p99": rounded(percentile(values, 99)),
                "max": rounded(max(values)),
                "timed_out": timeouts.get(kind, 0),
            }
            for kind, values in sorted(by_kind.items())
        },
    }
