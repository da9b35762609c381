"""RFC 3161 time-stamps for exports (optional): a trusted third party dates the signed hashes.

The request is the small DER structure of RFC 3161 §2.4.1 (SHA-256 imprint, a nonce, the TSA's
certificate asked for), POSTed as `application/timestamp-query` to the operator's TSA
(`FLEXREC_EXPORT_TSA_URL`); the reply is kept as it came (`SHA256SUMS.tsr`) once its status says
granted. Checking it is the third party's job, with standard tools:

    openssl ts -verify -data SHA256SUMS -in SHA256SUMS.tsr -CAfile tsa-ca.pem
"""

from __future__ import annotations

import hashlib
import secrets

import httpx

_SHA256_ALGORITHM = bytes.fromhex("300d06096086480165030402010500")  # sha256 OID, NULL
GRANTED = (0, 1)  # granted, grantedWithMods (RFC 3161 §2.4.2 PKIStatus)


class TimestampError(RuntimeError):
    """The TSA could not be reached or did not grant the time-stamp."""


def _der(tag: int, body: bytes) -> bytes:
    size = len(body)
    if size < 0x80:
        return bytes([tag, size]) + body
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + body


def _integer(value: int) -> bytes:
    body = value.to_bytes(value.bit_length() // 8 + 1, "big")  # room for a positive sign bit
    return _der(0x02, body)


def timestamp_query(data: bytes, nonce: int | None = None) -> tuple[bytes, int]:
    """A DER TimeStampReq for the SHA-256 of `data`, and the nonce it carries."""
    nonce = nonce if nonce is not None else secrets.randbits(63)
    imprint = _der(0x30, _SHA256_ALGORITHM + _der(0x04, hashlib.sha256(data).digest()))
    request = _der(0x30, _integer(1) + imprint + _integer(nonce) + _der(0x01, b"\xff"))
    return request, nonce


def _read(blob: bytes, offset: int) -> tuple[int, int, int]:
    """(tag, start of content, end of content) of the DER element at `offset`."""
    if offset + 2 > len(blob):
        raise TimestampError("the TSA's reply is cut short")
    tag, first = blob[offset], blob[offset + 1]
    offset += 2
    if first < 0x80:
        size = first
    else:
        count = first & 0x7F
        size = int.from_bytes(blob[offset : offset + count], "big")
        offset += count
    if offset + size > len(blob):
        raise TimestampError("the TSA's reply is cut short")
    return tag, offset, offset + size


def reply_status(reply: bytes) -> int:
    """The PKIStatus of a DER TimeStampResp."""
    tag, start, _end = _read(reply, 0)
    if tag != 0x30:
        raise TimestampError("the TSA's reply is not a TimeStampResp")
    tag, inner, _ = _read(reply, start)  # PKIStatusInfo
    tag, value_start, value_end = _read(reply, inner)
    if tag != 0x02:
        raise TimestampError("the TSA's reply has no status")
    return int.from_bytes(reply[value_start:value_end], "big", signed=True)


def request_timestamp(url: str, data: bytes, *, timeout_s: float = 15.0) -> bytes:
    """Ask the TSA at `url` to time-stamp `data`; the DER reply (granted) to keep beside it."""
    query, _nonce = timestamp_query(data)
    try:
        response = httpx.post(
            url,
            content=query,
            headers={"Content-Type": "application/timestamp-query"},
            timeout=timeout_s,
        )
    except httpx.HTTPError as exc:
        raise TimestampError(f"the time-stamp authority at {url} is unreachable: {exc}") from exc
    if response.status_code != 200:
        raise TimestampError(f"the time-stamp authority answered HTTP {response.status_code}")
    reply = response.content
    status = reply_status(reply)
    if status not in GRANTED:
        raise TimestampError(f"the time-stamp authority refused (PKIStatus {status})")
    if hashlib.sha256(data).digest() not in reply:
        raise TimestampError("the time-stamp does not carry the hash that was sent")
    return reply
