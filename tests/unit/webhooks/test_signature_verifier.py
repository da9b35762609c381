"""SignatureVerifier against Twilio's documented vector, JSON bodies and proxy URL rebuilding."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from flexrec.webhooks.signature import SignatureVerifier, rebuild_public_url

DOC_URL = "https://example.com/myapp.php?foo=1&bar=2"
DOC_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675310",
    "Digits": "1234",
    "From": "+14158675310",
    "To": "+18005551212",
}
DOC_SIGNATURE = "L/OH5YylLD5NRKLltdqwSvS0BnU="


def sign(token: str, text: str) -> str:
    """HMAC-SHA1/base64 computed independently of the SDK."""
    return base64.b64encode(hmac.new(token.encode(), text.encode(), hashlib.sha1).digest()).decode()


@pytest.fixture
def verifier() -> SignatureVerifier:
    return SignatureVerifier("12345")


def test_documented_vector_is_accepted(verifier: SignatureVerifier) -> None:
    assert verifier.verify(DOC_URL, DOC_PARAMS, DOC_SIGNATURE)


def test_independent_hmac_matches_documented_vector() -> None:
    text = DOC_URL + "".join(k + DOC_PARAMS[k] for k in sorted(DOC_PARAMS))
    assert sign("12345", text) == DOC_SIGNATURE


@pytest.mark.parametrize(
    ("field", "value"), [("Digits", "1235"), ("To", "+18005551213"), ("Extra", "x")]
)
def test_changed_parameter_is_rejected(verifier: SignatureVerifier, field: str, value: str) -> None:
    params = {**DOC_PARAMS, field: value}
    assert not verifier.verify(DOC_URL, params, DOC_SIGNATURE)


def test_changed_url_or_token_is_rejected() -> None:
    assert not SignatureVerifier("12345").verify(
        "https://example.com/myapp.php?foo=1&bar=3", DOC_PARAMS, DOC_SIGNATURE
    )
    assert not SignatureVerifier("54321").verify(DOC_URL, DOC_PARAMS, DOC_SIGNATURE)


@pytest.mark.parametrize("signature", [None, "", "not-a-signature"])
def test_missing_or_garbage_signature_is_rejected(
    verifier: SignatureVerifier, signature: str | None
) -> None:
    assert not verifier.verify(DOC_URL, DOC_PARAMS, signature)


def test_signature_made_with_port_is_accepted_without_port(verifier: SignatureVerifier) -> None:
    with_port = "https://example.com:443/myapp.php?foo=1&bar=2"
    sig = sign("12345", with_port + "".join(k + DOC_PARAMS[k] for k in sorted(DOC_PARAMS)))
    assert verifier.verify(DOC_URL, DOC_PARAMS, sig)
    assert verifier.verify(with_port, DOC_PARAMS, DOC_SIGNATURE)


def test_repeated_parameters_contribute_every_value(verifier: SignatureVerifier) -> None:
    url = "https://example.com/hook"
    params = {"A": ["2", "1"], "B": "x"}
    sig = sign("12345", url + "A1A2Bx")
    assert verifier.verify(url, params, sig)
    assert not verifier.verify(url, {"A": "1", "B": "x"}, sig)


def json_request(body: bytes) -> tuple[str, str]:
    digest = hashlib.sha256(body).hexdigest()
    url = "https://example.com/webhooks/event-streams?bodySHA256=" + digest
    return url, sign("12345", url)


def test_json_body_with_matching_hash_and_signature(verifier: SignatureVerifier) -> None:
    body = b'[{"type":"com.twilio.taskrouter.task.created","data":{}}]'
    url, sig = json_request(body)
    assert verifier.verify(url, None, sig, body=body)


def test_json_body_tampered_is_rejected_even_with_valid_url_signature(
    verifier: SignatureVerifier,
) -> None:
    body = b'[{"type":"com.twilio.taskrouter.task.created"}]'
    url, sig = json_request(body)
    assert not verifier.verify(url, None, sig, body=body + b" ")


def test_json_body_with_forged_signature_is_rejected(verifier: SignatureVerifier) -> None:
    body = b"[]"
    url, _ = json_request(body)
    assert not verifier.verify(url, None, sign("wrong-token", url), body=body)


def test_json_body_without_hash_parameter_is_rejected(verifier: SignatureVerifier) -> None:
    url = "https://example.com/webhooks/event-streams"
    assert not verifier.verify(url, None, sign("12345", url), body=b"[]")


def test_json_body_not_utf8_is_checked_by_its_bytes(verifier: SignatureVerifier) -> None:
    # Signed and hashed as sent: it is Twilio's (the parser then refuses it with a 400), and
    # a changed byte still fails the hash.
    body = b"\xff\xfe"
    url, sig = json_request(body)
    assert verifier.verify(url, None, sig, body=body)
    assert not verifier.verify(url, None, sig, body=b"\xff\xff")


def test_public_url_rebuild_behind_proxy(verifier: SignatureVerifier) -> None:
    # The proxy forwards to http://10.0.0.5:8080/webhooks/call-status; Twilio signed the public URL.
    public = rebuild_public_url("https://rec.example.com/", "/webhooks/call-status", "x=1")
    assert public == "https://rec.example.com/webhooks/call-status?x=1"
    params = {"CallSid": "CA1", "CallStatus": "completed"}
    sig = sign("12345", public + "CallSidCA1CallStatuscompleted")
    assert verifier.verify(public, params, sig)
    internal = "http://10.0.0.5:8080/webhooks/call-status?x=1"
    assert not verifier.verify(internal, params, sig)


def test_public_url_keeps_path_prefix_and_omits_empty_query() -> None:
    assert (
        rebuild_public_url("https://h.example/flexrec", "/webhooks/taskrouter", "")
        == "https://h.example/flexrec/webhooks/taskrouter"
    )
