"""The player's waveform reader (console/static/waveform.js, run by node) draws what the server's
reader decodes, from a version 2 waveform and from a version 1 one stored before."""

from __future__ import annotations

import json
import shutil
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
from testkit import unavailable, version_1_waveform

from flexrec.analysis import frame_stats
from flexrec.archive.waveform import decode_waveform, encode_waveform
from flexsim import make_sample_conversation, render_recording

SCRIPT = Path(__file__).parents[3] / "flexrec" / "console" / "static" / "waveform.js"
# Reads each inflated waveform named on the command line, prints what parseWaveform gives.
READ = """
import { readFileSync } from 'node:fs'
const { parseWaveform } = await import(process.argv[1])
const out = process.argv.slice(2).map((path) => {
  const bytes = readFileSync(path)
  const end = bytes.byteOffset + bytes.length
  const parsed = parseWaveform(bytes.buffer.slice(bytes.byteOffset, end))
  const channels = parsed && parsed.channels.map((c) => Array.from(c))
  return parsed && { duration_s: parsed.duration_s, channels }
})
console.log(JSON.stringify(out))
"""


def _parse_in_node(blobs: list[bytes], tmp_path: Path) -> list[dict[str, object] | None]:
    node = shutil.which("node")
    if node is None:
        unavailable("node is not installed (make system-deps)")
    paths = []
    for i, blob in enumerate(blobs):
        path = tmp_path / f"waveform{i}.bin"
        path.write_bytes(zlib.decompress(blob))  # what the browser hands over, inflated
        paths.append(str(path))
    result = subprocess.run(
        [node, "--input-type=module", "-e", READ, SCRIPT.as_uri(), *paths],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-800:]
    parsed: list[dict[str, object] | None] = json.loads(result.stdout)
    return parsed


def test_the_player_reads_both_versions_as_the_server_does(tmp_path: Path) -> None:
    conversation = make_sample_conversation(5, duration_s=20.0)
    audio = render_recording(conversation.world, conversation.customer_recording)
    stats = frame_stats(audio, 8000)
    blobs = [encode_waveform(stats), version_1_waveform(stats)]
    parsed = _parse_in_node(blobs, tmp_path)
    for blob, drawn in zip(blobs, parsed, strict=True):
        expected = decode_waveform(blob)
        assert drawn is not None
        assert drawn["duration_s"] == expected.duration_ms / 1000
        channels = np.array(drawn["channels"], np.float64)
        assert channels.shape == (2, 2 * expected.buckets)
        assert channels == pytest.approx(expected.as_floats().astype(np.float64), abs=1e-6)
    v2, v1 = (np.array(d["channels"]) for d in parsed if d is not None)
    assert np.array_equal(v2[:, 1::2], -v2[:, 0::2])  # version 2: a mirrored envelope
    assert not np.array_equal(v1[:, 1::2], -v1[:, 0::2])  # version 1: each side as it was


def test_the_player_refuses_what_it_cannot_read(tmp_path: Path) -> None:
    good = zlib.decompress(encode_waveform(frame_stats(np.zeros((1600, 2), np.int16), 8000)))
    unknown = good[:4] + b"\x03" + good[5:]
    cut = good[:-1]
    assert _parse_in_node([zlib.compress(b) for b in (unknown, cut, b"FXWF")], tmp_path) == [
        None,
        None,
        None,
    ]
