"""The SDK's HTTP transport: pooled, rebased onto one origin, never retrying, Twilio's encoding."""

from __future__ import annotations

import base64
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest
import urllib3
from pydantic import SecretStr

from flexrec.config import TwilioSettings
from flexrec.twilio.client import POOL_SIZE, PooledHttpClient, make_client
from flexrec.twilio.gateway import CreateRecordingRequest, GatewayError, SdkGateway

ACCOUNT = "AC" + "0" * 32
CALL = "CA" + "1" * 32


class _Recorder(BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, str, dict[str, str], bytes]]] = []
    status = 201
    body = b"{}"

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        payload = self.rfile.read(length) if length else b""
        type(self).seen.append((self.command, self.path, dict(self.headers), payload))
        self.send_response(type(self).status)
        self.send_header("Content-Type", "application/json")
        self.send_header("ETag", '"7"')
        self.send_header("Content-Length", str(len(type(self).body)))
        self.end_headers()
        self.wfile.write(type(self).body)

    do_GET = do_POST = _answer

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def origin() -> Iterator[str]:
    _Recorder.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_requests_are_rebased_encoded_and_authenticated(origin: str) -> None:
    client = PooledHttpClient(origin, timeout=5)
    response = client.request(
        "post",
        "https://api.twilio.com/2010-04-01/Accounts/AC1/Calls/CA1/Recordings.json",
        params={"PageSize": 5},
        data={"RecordingStatusCallbackEvent": ["in-progress", "completed"], "Skip": None},
        auth=("user", "secret"),
    )
    assert response.status_code == 201
    assert response.headers["etag"] == '"7"'  # case-insensitive, as the gateway reads it
    method, path, headers, payload = _Recorder.seen[0]
    assert method == "POST"
    assert urlsplit(path).path == "/2010-04-01/Accounts/AC1/Calls/CA1/Recordings.json"
    assert parse_qs(urlsplit(path).query) == {"PageSize": ["5"]}
    form = parse_qs(payload.decode())
    assert form == {"RecordingStatusCallbackEvent": ["in-progress", "completed"]}
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"user:secret").decode()
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"


def test_urls_elsewhere_are_not_rebased() -> None:
    client = PooledHttpClient("http://127.0.0.1:9")
    assert client.rebase("https://example.com/x") == "https://example.com/x"
    assert client.rebase("https://flex-api.twilio.com/v1/Configuration?a=1") == (
        "http://127.0.0.1:9/v1/Configuration?a=1"
    )
    assert PooledHttpClient().rebase("https://api.twilio.com/x") == "https://api.twilio.com/x"


def test_json_bodies_are_sent_as_json(origin: str) -> None:
    client = PooledHttpClient(origin)
    client.request(
        "POST",
        "https://events.twilio.com/v1/Sinks",
        data={"a": [1, 2]},
        headers={"Content-Type": "application/json"},
    )
    assert _Recorder.seen[0][3] == b'{"a": [1, 2]}'


def test_a_create_is_sent_once_even_when_the_connection_drops() -> None:
    # The server hangs up without answering: a retry would be a second recording.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted: list[int] = []

    def hang_up() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(1)
            conn.recv(65536)
            conn.close()

    threading.Thread(target=hang_up, daemon=True).start()
    settings = TwilioSettings(
        account_sid=ACCOUNT,
        auth_token=SecretStr("t"),
        base_url=f"http://127.0.0.1:{listener.getsockname()[1]}",
        timeout_s=2,
    )
    gateway = SdkGateway(make_client(settings), ACCOUNT, "WS" + "0" * 32)
    try:
        with pytest.raises(GatewayError) as caught:
            gateway.create_recording(CreateRecordingRequest(CALL, "http://127.0.0.1:9/cb"))
    finally:
        listener.close()
    assert caught.value.retryable and caught.value.status is None
    assert accepted == [1]


def test_the_pool_is_large_retries_are_off_and_the_proxy_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    direct = PooledHttpClient("http://127.0.0.1:9")
    pool = direct._pool.connection_from_url("http://127.0.0.1:9/")
    assert pool.pool.maxsize == POOL_SIZE
    assert direct._pool.connection_pool_kw["retries"].total is False
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    proxied = PooledHttpClient()
    assert isinstance(proxied._pool, urllib3.ProxyManager)
    assert proxied._pool.proxy is not None and proxied._pool.proxy.host == "proxy.example"
