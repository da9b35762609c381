"""AES-GCM sealing of archived media: round trip, binding to the SID, tamper detection, keys."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from flexrec.archive.crypto import (
    HEADER_BYTES,
    ArchiveKey,
    DecryptionError,
    InvalidKeyError,
    generate_key_b64,
    is_sealed,
    load_archive_key,
)

SID = "RE" + "1" * 32
OTHER_SID = "RE" + "2" * 32


@pytest.fixture
def key() -> ArchiveKey:
    return ArchiveKey(bytes(range(32)))


def test_round_trip_restores_the_plaintext(key: ArchiveKey) -> None:
    data = b"RIFF" + os.urandom(5000)
    sealed = key.seal(data, SID)
    assert is_sealed(sealed)
    assert data not in sealed
    assert key.open(sealed, SID) == data


def test_each_seal_uses_a_fresh_nonce(key: ArchiveKey) -> None:
    data = b"same bytes"
    first, second = key.seal(data, SID), key.seal(data, SID)
    assert first[HEADER_BYTES - 12 : HEADER_BYTES] != second[HEADER_BYTES - 12 : HEADER_BYTES]
    assert first != second


def test_header_carries_version_and_key_id_not_the_key(key: ArchiveKey) -> None:
    sealed = key.seal(b"x", SID)
    assert sealed[:4] == b"FXRA"
    assert sealed[4] == 1
    assert sealed[5:13] == key.key_id_bytes
    assert bytes(range(32)) not in sealed
    assert len(key.key_id) == 16
    assert "ArchiveKey(key_id=" in repr(key)


def test_object_opened_for_another_recording_fails(key: ArchiveKey) -> None:
    sealed = key.seal(b"audio", SID)
    with pytest.raises(DecryptionError):
        key.open(sealed, OTHER_SID)


@pytest.mark.parametrize("position", [5, 13, HEADER_BYTES, HEADER_BYTES + 3, -1])
def test_any_flipped_byte_is_detected(key: ArchiveKey, position: int) -> None:
    sealed = bytearray(key.seal(b"audio payload " * 20, SID))
    sealed[position] ^= 0x01
    with pytest.raises(DecryptionError):
        key.open(bytes(sealed), SID)


def test_truncated_or_foreign_blobs_are_refused(key: ArchiveKey) -> None:
    sealed = key.seal(b"audio payload", SID)
    with pytest.raises(DecryptionError):
        key.open(sealed[:-1], SID)
    with pytest.raises(DecryptionError, match="not a flexrec sealed object"):
        key.open(b"RIFF....WAVEfmt ", SID)


def test_wrong_key_names_the_key_id(key: ArchiveKey) -> None:
    sealed = key.seal(b"audio", SID)
    other = ArchiveKey(b"\x07" * 32)
    with pytest.raises(DecryptionError, match=key.key_id):
        other.open(sealed, SID)


def test_unknown_version_is_refused(key: ArchiveKey) -> None:
    sealed = bytearray(key.seal(b"audio", SID))
    sealed[4] = 9
    with pytest.raises(DecryptionError, match="version 9"):
        key.open(bytes(sealed), SID)


def test_load_key_from_base64_and_from_file(tmp_path: Path) -> None:
    encoded = generate_key_b64()
    from_env = load_archive_key(encoded)
    assert from_env is not None
    key_file = tmp_path / "archive.key"
    key_file.write_text(encoded + "\n")
    from_file = load_archive_key(str(key_file))
    assert from_file is not None
    assert from_file.key_id == from_env.key_id
    assert load_archive_key("") is None
    assert load_archive_key("   ") is None


def test_bad_keys_are_rejected_clearly() -> None:
    with pytest.raises(InvalidKeyError, match="base64"):
        load_archive_key("not base64 at all!")
    with pytest.raises(InvalidKeyError, match="32 bytes"):
        load_archive_key(base64.b64encode(b"short").decode())


def test_rotated_keys_still_open_old_objects(tmp_path: Path) -> None:
    old_b64, new_b64 = generate_key_b64(), generate_key_b64()
    old = load_archive_key(old_b64)
    assert old is not None
    sealed_before = old.seal(b"old audio", SID)
    ring = load_archive_key(f"{new_b64}, {old_b64}")
    assert ring is not None
    assert ring.open(sealed_before, SID) == b"old audio"
    sealed_after = ring.seal(b"new audio", SID)
    assert sealed_after[5:13] == ring.key_id_bytes != old.key_id_bytes  # the first key seals
    with pytest.raises(DecryptionError):
        old.open(sealed_after, SID)
    tampered = bytearray(sealed_before)
    tampered[-1] ^= 1
    with pytest.raises(DecryptionError, match="authentication failed"):
        ring.open(bytes(tampered), SID)
