"""The jobs worker's metrics in the service's /metrics, and whether it answers in /readyz."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Gauge, Summary, generate_latest
from prometheus_client import Counter as PromCounter
from prometheus_client.parser import text_string_to_metric_families
from server_harness import ADMIN_TOKEN, Harness

from flexrec.server.jobs_metrics import JOBS_UP, JobsWorkerMetrics


def _worker_text() -> str:
    """What a `flexrec worker` serves after one archive job: its own registry's exposition."""
    registry = CollectorRegistry()
    cpu = Summary("flexrec_job_cpu_seconds", "job CPU", ["job"], registry=registry)
    cpu.labels("archive_recording").observe(0.02)
    statements = PromCounter("flexrec_db_statements", "statements", registry=registry)
    statements.inc(40)
    # Gauges it has too, but never sets (it runs no /readyz) or reads from the database.
    Gauge("flexrec_ready", "ready", registry=registry).set(0)
    Gauge("flexrec_queue_depth", "depth", registry=registry).set(3)
    Gauge("process_resident_memory_bytes", "rss", registry=registry).set(123e6)
    legs = PromCounter("flexrec_coverage_legs", "legs", ["outcome"], registry=registry)
    legs.labels("recorded").inc(9)
    return generate_latest(registry).decode()


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


JOBS = ("process", "jobs")


def test_the_workers_own_work_is_merged_under_its_label_and_its_gauges_are_not() -> None:
    jobs = JobsWorkerMetrics("http://127.0.0.1:1/metrics", fetch=lambda _url: _worker_text())
    text = jobs.exposition().decode()
    samples = _samples(text)
    archive = frozenset({("job", "archive_recording"), JOBS})
    assert samples[("flexrec_job_cpu_seconds_count", archive)] == 1.0
    assert samples[("flexrec_db_statements_total", frozenset({JOBS}))] == 40.0
    assert samples[("process_resident_memory_bytes", frozenset({JOBS}))] == 123e6
    assert samples[(JOBS_UP, frozenset())] == 1.0
    # The worker's 0 would fire FlexrecNotReady; depth and coverage are the database's.
    for name in ("flexrec_ready", "flexrec_queue_depth", "flexrec_coverage_legs_total"):
        assert not [k for k in samples if k[0] == name and JOBS in k[1]], name
    # One family per name (Prometheus refuses a second TYPE line for a name).
    types = Counter(line.split()[2] for line in text.splitlines() if line.startswith("# TYPE"))
    assert [name for name, n in types.items() if n > 1] == []


def test_a_worker_that_does_not_answer_is_down_and_said_so() -> None:
    now = [100.0]
    calls: list[str] = []

    def refused(url: str) -> str:
        calls.append(url)
        raise ConnectionRefusedError(url)

    jobs = JobsWorkerMetrics("http://127.0.0.1:1/metrics", fetch=refused, clock=lambda: now[0])
    assert _samples(jobs.exposition().decode())[(JOBS_UP, frozenset())] == 0.0
    ok, detail = jobs.status()
    assert not ok and "has not answered" in detail and "restarts it" in detail
    assert len(calls) == 1  # a scrape and a /readyz within a second: one fetch
    now[0] += 1.5
    jobs.status()
    assert len(calls) == 2


def test_a_scrape_and_readyz_show_the_worker(harness_factory: Callable[..., Harness]) -> None:
    harness = harness_factory()
    answers = [_worker_text()]

    def fetch(_url: str) -> str:
        if not answers:
            raise TimeoutError
        return answers[0]

    now = [0.0]
    harness.services.jobs_worker = JobsWorkerMetrics(
        "http://127.0.0.1:1/metrics", fetch=fetch, clock=lambda: now[0]
    )
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    text = harness.client.get("/metrics").text
    assert 'flexrec_job_cpu_seconds_count{job="archive_recording",process="jobs"} 1.0' in text
    ready = harness.client.get("/readyz", headers=admin)
    assert ready.status_code == 200
    assert ready.json()["reports"]["jobs"].startswith("the jobs worker answers")
    answers.clear()  # killed; its service restarts it
    now[0] += 5.0
    ready = harness.client.get("/readyz", headers=admin)
    # Webhooks are still answered and recordings started: never out of the load balancer.
    assert ready.status_code == 200
    assert "has not answered for 5 s" in ready.json()["reports"]["jobs"]
    assert f"{JOBS_UP} 0.0" in harness.client.get("/metrics").text


def test_without_a_jobs_worker_there_is_no_up_gauge_to_alert_on(harness: Harness) -> None:
    assert JOBS_UP not in harness.client.get("/metrics").text
