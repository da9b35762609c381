"""The default engine: CMU pocketsphinx, offline, its acoustic model from its own wheel.

The language model is flexrec's (`models/contact-centre.lm.bin`, built from the wheel's by
`scripts/build_transcription_lm.py`): the wheel's 10,000 likeliest words with digit strings made
as likely as they are on a payment call. Audio is fed per speech region at 16 kHz
(`flexrec.transcription.feed`). A decoder is not thread-safe: one per thread, built once.

A channel's words depend on its audio alone. pocketsphinx's front end removes line noise
(`-remove_noise yes`, the model's feat.params) with a per-band noise estimate it keeps from one
utterance to the next, across recordings: left alone, the same channel read differently after
another call (seed 2009's customer, "find" or "thought it"). Each channel starts from a fresh
front end (`reinit_feat`) warmed on the channel's own audio (`channel_warmup`). Cepstral means
carry nothing: they are per utterance (`-cmn batch`, each region fed whole).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from flexrec.transcription.base import EngineUnavailable, Word
from flexrec.transcription.feed import Region, speech_regions, to_16k

DEFAULT_LM = Path(__file__).with_name("models") / "contact-centre.lm.bin"
FRAMES_PER_SECOND = 100
# Two passes over each speech region. Scoring frames against the acoustic model is 44% of the
# quick pass and a third of the full one (perf); the rest is the search, most of it in the full
# pass and in hypotheses far below the best. Scoring every other frame (`ds 2`) made the quick
# pass 1.24x faster and lost whole card readings. A tree pass alone, at most 1,500 HMMs and 10
# word exits a frame, beams 1e-35, runs ~3x faster (6 -> 17x real time per two-channel call) at
# a word error a few points worse, but the card detector then misses whole readings (49 of 238
# card digit words audible on the held-out calls, where the full search leaves none). So the
# quick pass reads every region, and a region where it heard a number word or a payment word is
# decoded again with pocketsphinx's full search, whose words are kept
# (bench/transcription_search.py).
QUICK_SEARCH = {
    "fwdflat": False,
    "maxhmmpf": 1500,
    "maxwpf": 10,
    "beam": 1e-35,
    "wbeam": 1e-25,
    "pbeam": 1e-35,
}
# What sends a region to the full search: two number words (one is "this one"; "oh", "to" and
# "for" are everyday words) or one payment word.
_NUMBER_WORDS = set(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty "
    "ninety hundred double triple".split()
)
_PAYMENT_WORDS = set(
    "card number expiry expire expires expiration code security cvv cvc digit digits visa "
    "mastercard amex".split()
)


def _may_hold_card_data(words: list[Word]) -> bool:
    texts = [w.text for w in words]
    return bool(_PAYMENT_WORDS.intersection(texts)) or sum(t in _NUMBER_WORDS for t in texts) >= 2


_NOT_WORDS = {"<s>", "</s>", "<sil>"}
# The warm-up. A decoder that had read another call starts a channel where that call's last
# region left its noise suppression: the noise estimate settled in the pause after the speech,
# the temporal masking still decaying from it. A fresh one starts with a noise estimate of 1/20
# of its first frame's power, rising by 0.5% a frame. Card readings said in a channel's first
# seconds hinge on that state: from a fresh front end seed 2007's reading was kept (20 of 238
# card digit words audible on seeds 2000-2007); settled on 300 ms of the channel's line noise
# alone, seed 2015's (38 of 236 on seeds 2008-2015). Warmed on the end of the channel's first
# region (its last speech and the pause after it), a channel starts in the state a region's
# end leaves, and both readings are silenced. A one-word keyphrase search reads the warm-up:
# the language model's search would cost 2-6x more and its words are not wanted.
WARM_MS = 500
_WARM_SEARCH = "front_end_warmup"


def _decoder_class() -> Any:
    try:
        import pocketsphinx
    except ImportError as exc:  # the default engine is a dependency: a broken install
        raise EngineUnavailable("pocketsphinx is not installed") from exc
    return pocketsphinx


class PocketSphinxTranscriber:
    """pocketsphinx over the VAD's speech regions; words with times from its segmentation.

    `quick_search` / `full_search`: each pass's pocketsphinx options over its defaults (the
    quick one's replace `QUICK_SEARCH`), for measuring other settings (bench/card_data.py).
    """

    name = "pocketsphinx"

    def __init__(
        self,
        lm_path: Path | None = None,
        *,
        generic_lm: bool = False,
        quick_search: dict[str, Any] | None = None,
        full_search: dict[str, Any] | None = None,
    ) -> None:
        self.lm_path = None if generic_lm else (lm_path or DEFAULT_LM)
        self.quick_search = QUICK_SEARCH if quick_search is None else quick_search
        self.full_search = full_search or {}
        self._local = threading.local()

    def _decoders(self) -> Any:
        """This thread's quick and full decoders."""
        decoders = getattr(self._local, "decoders", None)
        if decoders is None:
            options: dict[str, Any] = {"samprate": 16000, "loglevel": "FATAL"}
            if self.lm_path is not None:
                options["lm"] = str(self.lm_path)
            decoders = (
                new_decoder({**options, **self.quick_search}),
                new_decoder({**options, **self.full_search}),
            )
            self._local.decoders = decoders
        return decoders

    def transcribe(self, samples: npt.NDArray[np.int16], sample_rate_hz: int) -> list[Word]:
        """Words of one channel, decoding only where the VAD heard speech."""
        regions = speech_regions(samples, sample_rate_hz)
        if not regions:
            return []
        quick, full = self._decoders()
        warmup = channel_warmup(samples, sample_rate_hz, regions)
        for decoder in (quick, full):
            start_channel(decoder, warmup)
        words: list[Word] = []
        for region in regions:
            a = region.start_ms * sample_rate_hz // 1000
            b = region.end_ms * sample_rate_hz // 1000
            audio = to_16k(np.ascontiguousarray(samples[a:b]), sample_rate_hz).tobytes()
            heard = _decode(quick, audio, region.start_ms)
            if _may_hold_card_data(heard):
                heard = _decode(full, audio, region.start_ms)
            words += heard
        return words


def channel_warmup(
    samples: npt.NDArray[np.int16], sample_rate_hz: int, regions: list[Region]
) -> bytes:
    """What a fresh front end reads before a channel (16 kHz PCM): its first region's end."""
    first = regions[0]
    end = first.end_ms * sample_rate_hz // 1000
    start = max(first.start_ms * sample_rate_hz // 1000, end - WARM_MS * sample_rate_hz // 1000)
    return to_16k(np.ascontiguousarray(samples[start:end]), sample_rate_hz).tobytes()


# Front-end options the acoustic model's feat.params sets. pocketsphinx reads that file while
# it builds a decoder and lets it override the same options given to the constructor
# (`remove_noise=False` came back True), so `new_decoder` sets them again and rebuilds the front
# end from them.
FRONT_END_OPTIONS = frozenset(
    ("remove_noise", "cmn", "varnorm", "agc", "lowerf", "upperf", "nfilt", "lifter", "transform")
)


def new_decoder(options: dict[str, Any]) -> Any:
    """A pocketsphinx decoder with `options`, ready for `start_channel`."""
    decoder = _decoder_class().Decoder(**options)
    front_end = FRONT_END_OPTIONS.intersection(options)
    for name in front_end:
        decoder.config[name] = options[name]
    if front_end:
        decoder.reinit_feat()
    decoder.add_keyphrase(_WARM_SEARCH, "oh")
    return decoder


def start_channel(decoder: Any, warmup: bytes) -> None:
    """A fresh front end, its noise estimate settled on `warmup`; the search left as it was."""
    decoder.reinit_feat()
    search = decoder.current_search()
    decoder.activate_search(_WARM_SEARCH)
    decoder.start_utt()
    decoder.process_raw(warmup, full_utt=True)
    decoder.end_utt()
    decoder.activate_search(search)


def _decode(decoder: Any, audio: bytes, offset_ms: int) -> list[Word]:
    """One utterance's words (16 kHz PCM), times from `offset_ms`."""
    decoder.start_utt()
    decoder.process_raw(audio, full_utt=True)
    decoder.end_utt()
    logmath = decoder.logmath
    words: list[Word] = []
    for seg in decoder.seg() or ():  # no hypothesis: nothing within the beams
        text = seg.word.split("(", 1)[0]
        if text in _NOT_WORDS or text.startswith(("[", "+")):
            continue
        words.append(
            Word(
                text=text.lower(),
                start_ms=offset_ms + seg.start_frame * 1000 // FRAMES_PER_SECOND,
                end_ms=offset_ms + (seg.end_frame + 1) * 1000 // FRAMES_PER_SECOND,
                confidence=round(float(logmath.exp(seg.prob)), 4),
            )
        )
    return words
