"""Conversation analytics: voice activity detection, conversation metrics, scoring. Pure numpy."""

from flexrec.analysis.metrics import (
    ConversationAnalysis,
    ConversationMetrics,
    SpeakerSegment,
    analyse_recording,
    compute_metrics,
)
from flexrec.analysis.mono import MonoAnalysis, analyse_mono
from flexrec.analysis.scoring import frame_scores
from flexrec.analysis.segments import Segment
from flexrec.analysis.vad import VadConfig, detect_speech

__all__ = [
    "ConversationAnalysis",
    "ConversationMetrics",
    "MonoAnalysis",
    "Segment",
    "SpeakerSegment",
    "VadConfig",
    "analyse_mono",
    "analyse_recording",
    "compute_metrics",
    "detect_speech",
    "frame_scores",
]
