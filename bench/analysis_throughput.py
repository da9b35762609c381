"""How fast conversation analysis runs: seconds of audio analysed per second on one core.

Renders N simulated dual-channel recordings to WAV files in a temporary folder, then times
(1) merely reading them with soundfile (the plain read), (2) reading plus VAD and metrics on
both channels, and (3) what the archive's analysis job does with each file: read it, decode it,
waveform peaks, digital-silence pauses, VAD and metrics on both channels, and the stored form
of its results. `ratio_vs_plain_read` is (3)'s speed over (1)'s (issue 18's goal: >= 0.5).
Also prints how fast the simulator renders media and how accurate the VAD is against truth.
Target: analysis >= 2,000x real time per core.

    .venv/bin/python bench/analysis_throughput.py --recordings 20 --duration-s 300
    .venv/bin/python bench/analysis_throughput.py --json     # one JSON line
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile

from flexrec.analysis import analyse_recording, detect_speech, frame_scores
from flexrec.archive.analyses import analyse_media
from flexsim import encode_audio, make_sample_conversation, render_recording, truth_segments

SR = 8000


def archive_analysis(data: bytes) -> Any:
    """The archive analysis job's work on one WAV: the function `flexrec.archive.analyses` runs."""
    return analyse_media(data, ("customer", "agent"), [])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recordings", type=int, default=20)
    parser.add_argument("--duration-s", type=float, default=300.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="one JSON line instead of the text")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="flexrec-bench-"))
    files: list[Path] = []
    scores: list[tuple[float, float]] = []
    audio_s = 0.0
    render_s = 0.0
    for i in range(args.recordings):
        seed = args.seed + i
        conv = make_sample_conversation(
            seed,
            duration_s=args.duration_s,
            hold_s=[0.0, 30.0, 60.0][i % 3],
            noise_dbfs=[-60.0, -50.0, -40.0][i % 3],
            queue_s=10.0,
            record_from_s=0.0,
        )
        rec = conv.customer_recording
        render_recording(conv.world, rec)  # first use of a voice synthesizes it; time the rest
        started = time.perf_counter()
        samples = render_recording(conv.world, rec)
        render_s += time.perf_counter() - started
        path = folder / f"{rec.sid}.wav"
        path.write_bytes(encode_audio(samples, "wav"))
        files.append(path)
        audio_s += len(samples) / SR
        truth = truth_segments(conv.world, rec)
        duration_ms = len(samples) * 1000 // SR
        for ch in (0, 1):
            found = detect_speech(samples[:, ch], SR)
            scores.append(frame_scores(found, truth[f"channel{ch + 1}"], duration_ms))

    # Warm the page cache and numpy so both timings see the same conditions.
    for path in files:
        soundfile.read(path, dtype="int16")

    started = time.perf_counter()
    for path in files:
        soundfile.read(path, dtype="int16")
    read_s = time.perf_counter() - started

    started = time.perf_counter()
    for path in files:
        data, rate = soundfile.read(path, dtype="int16")
        analyse_recording(data, rate, ("customer", "agent"))
    total_s = time.perf_counter() - started
    analyse_s = max(total_s - read_s, 1e-9)

    started = time.perf_counter()
    for path in files:
        archive_analysis(path.read_bytes())
    archive_s = time.perf_counter() - started

    precision = np.array([p for p, _ in scores])
    recall = np.array([r for _, r in scores])
    figures = {
        "bench": "analysis_throughput",
        "recordings": len(files),
        "audio_s": round(audio_s),
        "plain_read_x_real_time": round(audio_s / read_s),
        "vad_metrics_x_real_time": round(audio_s / analyse_s),
        "read_and_vad_x_real_time": round(audio_s / total_s),
        "archive_analysis_x_real_time": round(audio_s / archive_s),
        "archive_analysis_ms_per_recording": round(1000 * archive_s / len(files), 2),
        "plain_read_ms_per_recording": round(1000 * read_s / len(files), 2),
        "ratio_vs_plain_read": round(read_s / archive_s, 4),
        "vad_precision_mean": round(float(precision.mean()), 4),
        "vad_recall_mean": round(float(recall.mean()), 4),
    }
    if args.json:
        print(json.dumps(figures, sort_keys=True))
    else:
        print(f"recordings: {len(files)} dual-channel WAV, {audio_s:.0f} s of audio in {folder}")
        print(f"read only (soundfile):       {audio_s / read_s:10.0f} x real time")
        print(f"analysis only (VAD+metrics): {audio_s / analyse_s:10.0f} x real time per core")
        print(f"read + analysis:             {audio_s / total_s:10.0f} x real time per core")
        print(
            f"archive analysis job's work: {audio_s / archive_s:10.0f} x real time per core, "
            f"{figures['ratio_vs_plain_read']:.0%} of the plain read's speed "
            f"({figures['archive_analysis_ms_per_recording']} ms per recording)"
        )
        print(
            f"simulator rendering:         {audio_s / render_s:10.0f} x real time (voices cached)"
        )
        print(
            f"VAD vs truth (per channel):  precision mean {precision.mean():.3f} min "
            f"{precision.min():.3f}, recall mean {recall.mean():.3f} min {recall.min():.3f}"
        )
        verdict = "meets" if audio_s / analyse_s >= 2000 else "MISSES"
        print(f"target 2,000x real time per core: {verdict}")
    for path in files:
        path.unlink()
    folder.rmdir()


if __name__ == "__main__":
    main()
