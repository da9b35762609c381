"""AES-256-GCM encryption of archived media, bound to the recording SID.

Sealed object layout (all integers big-endian):

    magic   b"FXRA"         4 bytes
    version 1               1 byte
    key id                  8 bytes  (fingerprint of the key, so a wrong key fails clearly)
    nonce                  12 bytes  (random per object)
    ciphertext || GCM tag  rest

The associated data is the 25-byte header plus the recording SID, so an object copied under
another recording's key, or a header edited in place, fails authentication.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"FXRA"
FORMAT_VERSION = 1
KEY_ID_BYTES = 8
NONCE_BYTES = 12
HEADER_BYTES = len(MAGIC) + 1 + KEY_ID_BYTES + NONCE_BYTES
TAG_BYTES = 16
OVERHEAD_BYTES = HEADER_BYTES + TAG_BYTES
"""How much longer a sealed object is than its plaintext."""


class ArchiveCryptoError(Exception):
    """Base error of archive encryption."""


class InvalidKeyError(ArchiveCryptoError):
    """The configured key is not a base64-encoded 32-byte value."""


class DecryptionError(ArchiveCryptoError):
    """A sealed object could not be opened: wrong key, wrong SID, or tampered bytes."""


class ArchiveKey:
    """One AES-256 key; only its fingerprint (`key_id`) is ever stored or shown."""

    __slots__ = ("_aead", "key_id_bytes", "previous")

    def __init__(self, raw: bytes, previous: tuple[ArchiveKey, ...] = ()) -> None:
        # Retired keys still open what they sealed (key rotation); only this key seals.
        self.previous = previous
        if len(raw) != 32:
            raise InvalidKeyError("the archive key must be exactly 32 bytes (AES-256)")
        self._aead = AESGCM(raw)
        # Domain-separated hash: the fingerprint reveals nothing usable about the key.
        self.key_id_bytes = hashlib.sha256(b"flexrec-archive-key-id\x00" + raw).digest()[
            :KEY_ID_BYTES
        ]

    @property
    def key_id(self) -> str:
        """Hex fingerprint of the key (safe to store and log)."""
        return self.key_id_bytes.hex()

    def __repr__(self) -> str:
        return f"ArchiveKey(key_id={self.key_id!r})"

    def seal(self, plaintext: bytes, recording_sid: str) -> bytes:
        """Encrypt `plaintext` for `recording_sid` under a fresh random nonce."""
        nonce = os.urandom(NONCE_BYTES)
        header = MAGIC + bytes([FORMAT_VERSION]) + self.key_id_bytes + nonce
        sealed = self._aead.encrypt(nonce, plaintext, header + recording_sid.encode("ascii"))
        return header + sealed

    def open(self, blob: bytes, recording_sid: str) -> bytes:
        """Decrypt and authenticate an object sealed for `recording_sid`."""
        if len(blob) < OVERHEAD_BYTES or not blob.startswith(MAGIC):
            raise DecryptionError("not a flexrec sealed object")
        version = blob[len(MAGIC)]
        if version != FORMAT_VERSION:
            raise DecryptionError(f"unsupported sealed object version {version}")
        key_id = blob[len(MAGIC) + 1 : len(MAGIC) + 1 + KEY_ID_BYTES]
        key = next((k for k in (self, *self.previous) if k.key_id_bytes == key_id), None)
        if key is None:
            raise DecryptionError(f"object was sealed with another key (key id {key_id.hex()})")
        header = blob[:HEADER_BYTES]
        nonce = header[-NONCE_BYTES:]
        try:
            return key._aead.decrypt(
                nonce, blob[HEADER_BYTES:], header + recording_sid.encode("ascii")
            )
        except InvalidTag as exc:
            raise DecryptionError("authentication failed: tampered object or wrong SID") from exc


def is_sealed(blob: bytes) -> bool:
    """True when `blob` starts like a sealed object (a WAV starts with RIFF)."""
    return blob.startswith(MAGIC)


def load_archive_key(value: str) -> ArchiveKey | None:
    """Parse `FLEXREC_ARCHIVE_KEY`: base64 of 32 bytes, or a path to a file holding it.

    Empty means encryption is off. A value that names an existing file is read from that file,
    so the key can live in a mounted secret rather than the environment. Several keys separated
    by commas rotate keys: the first seals new objects, the others only open old ones.
    """
    value = value.strip()
    if not value:
        return None
    text = value
    if "/" in value or value.startswith("."):
        path = Path(value).expanduser()
        if path.is_file():
            text = path.read_text(encoding="ascii").strip()
    raws = []
    for part in text.split(","):
        try:
            raws.append(base64.b64decode(part.strip(), validate=True))
        except (binascii.Error, ValueError) as exc:
            raise InvalidKeyError("FLEXREC_ARCHIVE_KEY is not valid base64") from exc
    retired = tuple(ArchiveKey(raw) for raw in raws[1:])
    return ArchiveKey(raws[0], previous=retired)


def generate_key_b64() -> str:
    """A new random key, base64-encoded, for `FLEXREC_ARCHIVE_KEY`."""
    return base64.b64encode(os.urandom(32)).decode("ascii")
