"""pocketsphinx search settings against speed, word error and card digits heard.

Decodes the simulator's two-channel card calls (never paused, 110 s) region by region as the
default engine does, once per setting, and prints per setting: real time per core for the
decode of a two-channel call, the share of channel time decoded, the word error rate against
the truth's words, and the card digit words (card, expiry, code) a digit word was heard at.
Settings are JSON objects of pocketsphinx options over its defaults (`{}`: the engine's full
pass); with none, the full pass and the engine's quick pass (`QUICK_SEARCH`). The engine runs
both (the full one only where the quick one heard a number or payment word): its own speed is
`bench/card_data.py`'s.

    .venv/bin/python bench/transcription_search.py [--seeds 2000,2001] [SETTING ...]
"""

from __future__ import annotations

import argparse
import io
import json
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import soundfile
from card_data import word_edits  # this folder is on sys.path when run

from flexrec.pci.digits import tokenize
from flexrec.transcription.base import Word
from flexrec.transcription.feed import Region, speech_regions, to_16k
from flexrec.transcription.pocketsphinx_engine import (
    DEFAULT_LM,
    QUICK_SEARCH,
    channel_warmup,
    new_decoder,
    start_channel,
)
from flexsim import encode_audio, make_sample_conversation, render_recording, word_truth

RATE = 8000


@dataclass
class Channel:
    """One channel's speech regions at 16 kHz, what was said, and its card digits' spans."""

    regions: list[tuple[Region, npt.NDArray[np.int16]]]
    warmup: bytes  # what the engine's front end reads before the channel
    said: list[str]
    card_digits: list[tuple[int, int]]


def load(seeds: list[int]) -> tuple[float, list[Channel]]:
    """The calls' channels, ready to decode, and their total length in seconds."""
    audio_s = 0.0
    channels: list[Channel] = []
    for seed in seeds:
        sample = make_sample_conversation(seed, duration_s=110.0, card_pause="never")
        recording = sample.customer_recording
        wav = encode_audio(render_recording(sample.world, recording), "wav")
        truth = word_truth(sample.world, recording.sid)
        assert truth is not None
        samples, _ = soundfile.read(io.BytesIO(wav), dtype="int16", always_2d=True)
        audio_s += len(samples) / RATE
        for index in range(samples.shape[1]):
            name = f"channel{index + 1}"
            pcm = np.ascontiguousarray(samples[:, index])
            regions = [
                (r, to_16k(np.ascontiguousarray(pcm[r.start_ms * 8 : r.end_ms * 8]), RATE))
                for r in speech_regions(pcm, RATE)
            ]
            said = [w["word"] for w in truth["channels"][name] if w["audible"]]
            digits = [
                (d["start_ms"], d["end_ms"])
                for n in truth["numbers"]
                if n["card_data"] and n["channel"] == name
                for d in n["digits"]
            ]
            warmup = channel_warmup(pcm, RATE, [r for r, _ in regions]) if regions else b""
            channels.append(Channel(regions, warmup, said, digits))
    return audio_s, channels


def _decode(decoder: Any, channel: Channel) -> list[Word]:
    words: list[Word] = []
    for region, audio in channel.regions:
        decoder.start_utt()
        decoder.process_raw(audio.tobytes(), full_utt=True)
        decoder.end_utt()
        for seg in decoder.seg() or ():
            text = seg.word.split("(", 1)[0]
            if text in ("<s>", "</s>", "<sil>") or text.startswith(("[", "+")):
                continue
            start = region.start_ms + seg.start_frame * 10
            words.append(Word(text.lower(), start, region.start_ms + (seg.end_frame + 1) * 10))
    return words


def measure(setting: dict[str, Any], audio_s: float, channels: list[Channel]) -> dict[str, Any]:
    """Decode every channel with `setting`; the figures."""
    options = {"samprate": 16000, "loglevel": "FATAL", "lm": str(DEFAULT_LM), **setting}
    decoder = new_decoder(options)
    cpu_s = decoded_s = 0.0
    edits = said = heard = digits = 0
    for channel in channels:
        started = time.process_time()
        start_channel(decoder, channel.warmup)
        words = _decode(decoder, channel)
        cpu_s += time.process_time() - started
        decoded_s += sum(len(audio) for _, audio in channel.regions) / 16000
        edits += word_edits(channel.said, [w.text for w in words])
        said += len(channel.said)
        found = [t.word for t in tokenize(words) if t.is_digit]
        for start, end in channel.card_digits:
            digits += 1
            heard += any(w.start_ms < end + 200 and w.end_ms > start - 200 for w in found)
    return {
        "setting": setting,
        "decode_x_real_time_per_core": round(audio_s / cpu_s, 1),
        "decoded_share_of_channel_time": round(decoded_s / (audio_s * 2), 2),
        "wer": round(edits / max(said, 1), 3),
        "card_digit_words_heard": f"{heard}/{digits}",
    }


def main() -> None:
    """Run and print."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", default="2000,2001")
    parser.add_argument("settings", nargs="*", help="JSON pocketsphinx options")
    args = parser.parse_args()
    settings = [json.loads(s) for s in args.settings] or [{}, QUICK_SEARCH]
    audio_s, channels = load([int(s) for s in args.seeds.split(",")])
    for setting in settings:
        print(json.dumps(measure(setting, audio_s, channels)), flush=True)


if __name__ == "__main__":
    main()
