"""Prometheus counters of the recording service (registered once, on the default registry)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RECORDINGS_STARTED = Counter(
    "flexrec_recordings_started_total",
    "Recordings started or adopted, by how",
    ["source"],
)
RECORDING_START_FAILURES = Counter(
    "flexrec_recording_start_failures_total",
    "Failed recording start attempts, by reason",
    ["reason"],
)
ATTRIBUTE_WRITE_CONFLICTS = Counter(
    "flexrec_attribute_write_conflicts_total",
    "Task attribute writes rejected with 412 (someone else wrote first)",
)
ATTRIBUTE_WRITES = Counter(
    "flexrec_attribute_writes_total",
    "Task attribute writes of links by how they began: known (merged into a revision already "
    "known, one request), known_conflict (that revision was stale: 412, then a GET), fetched "
    "(a GET first)",
    ["path"],
)
TASK_VERSION_AGREEMENT = Gauge(
    "flexrec_task_version_agreement",
    "Whether TaskRouter events' TaskVersion is the task's ETag, as this process saw it: 1 yes "
    "(link writes merge into an event's attributes), -1 no (they GET first), 0 not known yet",
)
WEBHOOK_TO_API_SECONDS = Histogram(
    "flexrec_webhook_to_api_seconds",
    "From the event revealing a call leg to Twilio accepting the recording create",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0),
)
START_SECONDS = Histogram(
    "flexrec_recording_start_seconds",
    "From the arrival of the webhook that started a recording to Twilio accepting the create,"
    " on this process's clock (starts run from a queue job are not timed)",
    # Fine around one and two Twilio round trips (~100-300 ms each), so quantiles interpolate.
    buckets=(
        *(n / 100 for n in range(1, 41)),
        *(0.4 + n / 40 for n in range(1, 9)),
        *(0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0),
    ),
)
BACKGROUND_WAIT_SECONDS = Histogram(
    "flexrec_background_wait_seconds",
    "How long follow-up work waited for a background thread once due, by lane (first: starts "
    "and what leads to them; after: link writes, settles, refreshes): a capacity signal",
    ["lane"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
RECORDING_REPLACEMENTS = Counter(
    "flexrec_recording_replacements_total",
    "Recordings replaced after ending absent/failed mid-call (started, held for a pause) and "
    "legs left unrecorded at the replacement cap (capped)",
    ["outcome"],
)
RECORDINGS_STOPPED_BY_OTHERS = Counter(
    "flexrec_recordings_stopped_by_others_total",
    "Recordings another API client stopped while the call went on (the rest is unrecorded)",
)
LINKS_REPAIRED = Counter(
    "flexrec_links_repaired_total",
    "VoiceRecording entries found missing from a task's attributes and queued to be written "
    "back, by where the attributes were seen",
    ["seen_in"],
)
TASKROUTER_EVENT_PATHS = Counter(
    "flexrec_taskrouter_event_paths_total",
    "TaskRouter events by how they were applied: memory (nothing new, no database), write "
    "(one short write from the task's memo), plan (a write and the planner), full (the task's "
    "rows read, merged and planned)",
    ["path"],
)
