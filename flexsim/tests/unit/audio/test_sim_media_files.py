"""Media files of simulated recordings: WAV/MP3 headers, RequestedChannels, refusals."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile

from flexsim.audio import render_recording
from flexsim.media import (
    MEDIA_TYPES,
    MediaRequestError,
    SampleConversation,
    make_sample_conversation,
    render_media,
)


@pytest.fixture(scope="module")
def conversation() -> SampleConversation:
    return make_sample_conversation(4, duration_s=20.0, queue_s=2.0, hold_s=4.0)


def test_dual_recording_downloads_as_8khz_16bit_two_channel_wav(
    conversation: SampleConversation,
) -> None:
    data = render_media(conversation.world, conversation.customer_recording, "wav", None)
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    info = soundfile.info(io.BytesIO(data))
    assert (info.samplerate, info.channels, info.subtype) == (8000, 2, "PCM_16")
    samples, _ = soundfile.read(io.BytesIO(data), dtype="int16")
    np.testing.assert_array_equal(
        samples, render_recording(conversation.world, conversation.customer_recording)
    )


def test_requested_channels_1_mixes_a_dual_recording_to_mono(
    conversation: SampleConversation,
) -> None:
    rec = conversation.customer_recording
    data = render_media(conversation.world, rec, "wav", 1)
    mono, _ = soundfile.read(io.BytesIO(data), dtype="int16")
    stereo = render_recording(conversation.world, rec).astype(np.int32)
    expected = np.clip(stereo[:, 0] + stereo[:, 1], -32768, 32767)
    assert mono.ndim == 1
    np.testing.assert_array_equal(mono, expected)
    assert render_media(conversation.world, rec, "wav", 2) == render_media(
        conversation.world, rec, "wav", None
    )


def test_mono_recording_cannot_be_downloaded_as_dual() -> None:
    conv = make_sample_conversation(2, duration_s=8.0, queue_s=1.0)
    world = conv.world
    leg = world.calls[conv.customer_recording.call_sid]
    # A second, mono recording of the same leg (created while the leg was up).
    mono = world.start_recording(leg, channels=1)
    mono.start_time = conv.customer_recording.start_time
    mono.end_time = conv.customer_recording.end_time
    mono.status = "completed"
    info = soundfile.info(io.BytesIO(render_media(world, mono, "wav", None)))
    assert info.channels == 1
    with pytest.raises(MediaRequestError) as caught:
        render_media(world, mono, "wav", 2)
    assert caught.value.code == 16113


def test_mp3_download_decodes_to_the_same_shape(conversation: SampleConversation) -> None:
    if "MP3" not in soundfile.available_formats():
        pytest.skip("libsndfile built without MPEG support")
    data = render_media(conversation.world, conversation.worker_recording, "mp3", None)
    assert data[:3] == b"ID3" or data[0] == 0xFF
    info = soundfile.info(io.BytesIO(data))
    assert (info.samplerate, info.channels) == (8000, 2)
    assert info.duration == pytest.approx(
        len(render_recording(conversation.world, conversation.worker_recording)) / 8000, abs=0.2
    )
    assert MEDIA_TYPES["mp3"] == "audio/mpeg"


@pytest.mark.parametrize("fmt, channels", [("ogg", None), ("wav", 3)])
def test_bad_requests_are_refused(
    conversation: SampleConversation, fmt: str, channels: int | None
) -> None:
    with pytest.raises(MediaRequestError):
        render_media(conversation.world, conversation.customer_recording, fmt, channels)
