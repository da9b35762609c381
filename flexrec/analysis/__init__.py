"""Conversation analytics: voice activity detection, conversation metrics, scoring. Pure numpy."""

from flexrec.analysis.frames import FrameStats, digital_silence, frame_power, frame_stats
from flexrec.analysis.metrics import (
    ConversationAnalysis,
    ConversationMetrics,
    SpeakerSegment,
    analyse_frame_power,
    analyse_recording,
    compute_metrics,
)
from flexrec.analysis.mono import MonoAnalysis, analyse_mono, analyse_mono_power
from flexrec.analysis.scoring import frame_scores
from flexrec.analysis.segments import Segment
from flexrec.analysis.vad import VadConfig, detect_speech, detect_speech_from_power

__all__ = [
    "ConversationAnalysis",
    "ConversationMetrics",
    "FrameStats",
    "MonoAnalysis",
    "Segment",
    "SpeakerSegment",
    "VadConfig",
    "analyse_frame_power",
    "analyse_mono",
    "analyse_mono_power",
    "analyse_recording",
    "compute_metrics",
    "detect_speech",
    "detect_speech_from_power",
    "digital_silence",
    "frame_power",
    "frame_scores",
    "frame_stats",
]
