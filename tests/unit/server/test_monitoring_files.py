"""The example alert rules and Grafana dashboard name only metrics the service exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from prometheus_client import REGISTRY

import flexrec.app.factory  # noqa: F401 - registers every metric of the service
from flexrec.server.jobs_metrics import JOBS_UP

ROOT = Path(__file__).resolve().parents[3]
ALERTS = ROOT / "deploy" / "prometheus" / "flexrec-alerts.yml"
SCRAPE = ROOT / "deploy" / "prometheus" / "prometheus.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "flexrec-dashboard.json"


def _exported() -> set[str]:
    own = {family.name for family in REGISTRY.collect() if family.name.startswith("flexrec_")}
    return own | {JOBS_UP}  # added to a scrape by a service whose jobs run in a worker


def _named(text: str) -> set[str]:
    names = set(re.findall(r"\bflexrec_[a-z_]+", text))
    return {re.sub(r"_(total|bucket|sum|count)$", "", n) for n in names}


def test_alert_rules_use_exported_metrics() -> None:
    text = ALERTS.read_text()
    used = _named(text)
    assert {
        "flexrec_ready",
        "flexrec_queue_depth",
        "flexrec_archive_oldest_unarchived_seconds",
        "flexrec_coverage_unrecorded_calls",
        "flexrec_coverage_legs",
        "flexrec_recordings_stopped_by_others",
        "flexrec_recording_replacements",
    } <= used
    assert used <= _exported(), used - _exported()
    assert text.count("- alert:") >= 5


def test_dashboard_is_valid_json_on_exported_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = _named("\n".join(exprs))
    assert {"flexrec_ready", "flexrec_archive_backlog", "flexrec_webhooks"} <= used
    assert used <= _exported(), used - _exported()


def test_the_signature_signal_has_an_alert_rule() -> None:
    text = ALERTS.read_text()
    assert "flexrec_webhook_signatures_all_refused" in text


def test_the_scrape_config_loads_the_rules_and_sends_the_metrics_token() -> None:
    config = yaml.safe_load(SCRAPE.read_text())
    assert config["rule_files"] == [ALERTS.name]
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "flexrec"  # what FlexrecDown's up{job="flexrec"} names
    assert job["metrics_path"] == "/metrics"
    assert job["authorization"]["type"] == "Bearer"
    assert job["authorization"]["credentials_file"]
