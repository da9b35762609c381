"""Turning `flexrec.analysis` results into `recording_analyses` columns."""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from flexrec.analysis.metrics import ConversationAnalysis
from flexrec.archive.errors import ArchiveError

DEFAULT_CHANNEL_LABELS = ("customer", "agent")


def analysis_entry_point(name: str = "analyse_recording") -> Callable[..., Any]:
    """`flexrec.analysis.<name>`, imported late so the archive works without it."""
    module = importlib.import_module("flexrec.analysis")
    entry = getattr(module, name, None)
    if entry is None:
        raise ArchiveError(f"flexrec.analysis.{name} is not available")
    return cast(Callable[..., Any], entry)


def analysis_labels(channel_labels: Sequence[str] | None) -> tuple[str, ...]:
    """Analysis speaks of "customer" and "agent"; Insights labels call the agent "others"."""
    labels = tuple(channel_labels or DEFAULT_CHANNEL_LABELS)
    if len(labels) != 2:
        return DEFAULT_CHANNEL_LABELS
    mapped = tuple("agent" if label == "others" else label for label in labels)
    return mapped if set(mapped) == {"customer", "agent"} else DEFAULT_CHANNEL_LABELS


# Column name in recording_analyses -> names the analysis result may use for it.
_METRIC_COLUMNS: dict[str, tuple[str, ...]] = {
    "duration_ms": ("duration_ms",),
    "customer_talk_ms": ("customer_talk_ms", "talk_ms_customer"),
    "agent_talk_ms": ("agent_talk_ms", "talk_ms_agent"),
    "silence_ms": ("silence_ms",),
    "cross_talk_ms": ("cross_talk_ms", "crosstalk_ms", "overlap_ms"),
    "interruptions_by_agent": ("interruptions_by_agent", "agent_interruptions"),
    "interruptions_by_customer": ("interruptions_by_customer", "customer_interruptions"),
    "longest_agent_monologue_ms": ("longest_agent_monologue_ms", "longest_monologue_agent_ms"),
    "longest_customer_monologue_ms": (
        "longest_customer_monologue_ms",
        "longest_monologue_customer_ms",
    ),
    "talk_to_listen_ratio": ("talk_to_listen_ratio", "talk_listen_ratio"),
    "time_to_first_agent_words_ms": (
        "time_to_first_agent_words_ms",
        "agent_first_words_ms",
        "time_to_agent_first_words_ms",
    ),
}


def _plain(value: Any) -> Any:
    """Dataclasses, mappings, tuples and numpy scalars turned into JSON-ready values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, tuple) and hasattr(value, "_asdict"):  # NamedTuple, e.g. Segment
        return {str(k): _plain(v) for k, v in value._asdict().items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return value


def analysis_values(result: Any) -> dict[str, Any]:
    """Map an analysis result (metrics + segments + vad version) onto table columns."""
    plain = _row_parts(result) if isinstance(result, ConversationAnalysis) else _plain(result)
    if not isinstance(plain, dict):
        raise ArchiveError("analysis returned an unexpected result")
    metrics = plain.get("metrics", plain)
    if not isinstance(metrics, dict):
        metrics = {}
    # Segments are stored once, in their own column.
    metrics = {k: v for k, v in metrics.items() if k != "segments"}
    values: dict[str, Any] = {"metrics": metrics}
    for column, names in _METRIC_COLUMNS.items():
        for name in names:
            if metrics.get(name) is not None:
                values[column] = metrics[name]
                break
    segments = plain.get("segments", [])
    values["segments"] = segments if isinstance(segments, list) else []
    version = plain.get("vad_config_version") or metrics.get("vad_config_version")
    values["vad_config_version"] = str(version) if version is not None else None
    return values


def _row_parts(result: ConversationAnalysis) -> dict[str, Any]:
    """What `_plain` gives of the parts of a conversation analysis the row keeps, built
    directly: walking every segment field by field, and the per-side lists the row never
    stores, took 1 ms of a five-minute call's analysis."""
    found = result.metrics
    metrics = {
        f.name: _plain(getattr(found, f.name))
        for f in dataclasses.fields(found)
        if f.name != "segments"
    }
    segments = [
        {"speaker": s.speaker, "start_ms": int(s.start_ms), "end_ms": int(s.end_ms)}
        for s in result.segments
    ]
    return {
        "metrics": metrics,
        "segments": segments,
        "vad_config_version": result.vad_config_version,
    }


def mono_values(result: Any) -> dict[str, Any]:
    """Columns of a mono recording's analysis (`flexrec.analysis.MonoAnalysis`): talk and
    silence of either side; nothing per side, which one channel cannot tell."""
    return {
        "duration_ms": result.duration_ms,
        "silence_ms": result.silence_ms,
        "metrics": {
            "channels": 1,
            "talk_ms": result.talk_ms,
            "silence_ms": result.silence_ms,
            "paused_ms": result.paused_ms,
            "longest_speech_ms": result.longest_speech_ms,
            "first_words_ms": result.first_words_ms,
        },
        "segments": [
            {"speaker": "mixed", "start_ms": int(s.start_ms), "end_ms": int(s.end_ms)}
            for s in result.segments
        ],
        "vad_config_version": result.vad_config_version,
    }
