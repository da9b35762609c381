"""The SDK's HTTP transport: pooled, rebased onto one origin, never retrying, Twilio's encoding."""

from __future__ import annotations

import base64
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from flexrec.config import TwilioSettings
from flexrec.twilio.client import POOL_SIZE, PooledHttpClient, form_encode, make_client
from flexrec.twilio.connections import STREAM_CHUNK_BYTES, Origin, Proxy, ProxyNotSupported
from flexrec.twilio.gateway import CreateRecordingRequest, GatewayError, SdkGateway

ACCOUNT = "AC" + "0" * 32
CALL = "CA" + "1" * 32


class _Recorder(BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, str, dict[str, str], bytes]]] = []
    status = 201
    body = b"{}"
    redirect: str | None = None

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        payload = self.rfile.read(length) if length else b""
        type(self).seen.append((self.command, self.path, dict(self.headers), payload))
        self.send_response(type(self).status)
        self.send_header("Content-Type", "application/json")
        self.send_header("ETag", '"7"')
        if type(self).redirect:
            self.send_header("Location", type(self).redirect)
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


def test_each_hosts_requests_reach_the_base_urls_path_with_their_own_path_and_query(
    origin: str,
) -> None:
    client = PooledHttpClient(origin + "/sim", timeout=5)
    for url in (
        "https://taskrouter.twilio.com/v1/Workspaces/WS1/Tasks/WT1",
        "https://taskrouter.twilio.com/v1/Workspaces/WS1/Tasks/WT2?a=1",
        "https://api.twilio.com/2010-04-01/Accounts/AC1.json",
        "https://api.twilio.com",
    ):
        client.request("get", url)
    assert [path for _, path, _, _ in _Recorder.seen] == [
        "/sim/v1/Workspaces/WS1/Tasks/WT1",
        "/sim/v1/Workspaces/WS1/Tasks/WT2?a=1",
        "/sim/2010-04-01/Accounts/AC1.json",
        "/sim/",
    ]
    assert len(client._pools) == 1  # one origin, whatever the host asked


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


def _gateway_to(base_url: str, *, timeout_s: float) -> SdkGateway:
    """The service's gateway, its requests rebased onto a local server."""
    settings = TwilioSettings(
        account_sid=ACCOUNT, auth_token=SecretStr("t"), base_url=base_url, timeout_s=timeout_s
    )
    return SdkGateway(make_client(settings), ACCOUNT, "WS" + "0" * 32)


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
    gateway = _gateway_to(f"http://127.0.0.1:{listener.getsockname()[1]}", timeout_s=2)
    try:
        with pytest.raises(GatewayError) as caught:
            gateway.create_recording(CreateRecordingRequest(CALL, "http://127.0.0.1:9/cb"))
    finally:
        listener.close()
    assert caught.value.retryable and caught.value.status is None
    assert accepted == [1]


def test_the_pool_is_large_and_the_proxy_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    direct = PooledHttpClient("http://127.0.0.1:9")
    (pool,) = direct._pools.values()
    assert pool.maxsize == POOL_SIZE
    assert pool._proxy is None
    monkeypatch.setenv("HTTPS_PROXY", "http://me:p%40ss@proxy.example:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    (proxied,) = PooledHttpClient()._pools.values()
    assert proxied.origin == Origin("https", "api.twilio.com", 443)
    assert proxied._proxy == Proxy(
        "proxy.example", 3128, "Basic " + base64.b64encode(b"me:p@ss").decode()
    )


def test_a_proxy_this_transport_cannot_use_fails_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "https://proxy.example:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with pytest.raises(ProxyNotSupported, match="only http:// proxies"):
        PooledHttpClient()


def test_an_http_origin_through_a_proxy_is_asked_by_absolute_url(
    origin: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", origin)  # the recorder plays the proxy
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    client = PooledHttpClient("http://twilio.invalid:8080")
    client.request("GET", "https://api.twilio.com/2010-04-01/Accounts.json", params={"A": 1})
    assert _Recorder.seen[0][1] == "http://twilio.invalid:8080/2010-04-01/Accounts.json?A=1"


class _KeepAlive:
    """A raw HTTP/1.1 server: answers keep-alive, then does to each connection's request N what
    `after` says ("close": hang up after answering it; "drop": read it, hang up unanswered;
    "stall": read it, never answer; "cut": hang up half way through the body). Counts
    connections and requests read. Every answer carries `body`."""

    body = b"{}"

    def __init__(self, after: dict[int, str]) -> None:
        self.after = after
        self.connections = 0
        self.requests: list[str] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            self._open.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        reader = conn.makefile("rb")
        n = 0
        while True:
            line = reader.readline()
            if not line:
                return
            length = 0
            while (header := reader.readline()) not in (b"\r\n", b""):
                name, _, value = header.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            reader.read(length)
            n += 1
            self.requests.append(line.decode().split()[0])
            what = self.after.get(n)
            if what == "stall":
                return  # the socket stays open, unanswered
            if what == "drop":
                conn.close()
                return
            body = type(self).body
            head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body)
            if what == "cut":
                conn.sendall(head + body[: len(body) // 2])
                conn.close()
                return
            conn.sendall(head + body)
            if what == "close":
                conn.shutdown(socket.SHUT_RDWR)
                conn.close()
                return

    def close(self) -> None:
        self._listener.close()
        for conn in self._open:
            conn.close()


@pytest.fixture
def keep_alive() -> Iterator[Callable[[dict[int, str]], _KeepAlive]]:
    made: list[_KeepAlive] = []

    def make(after: dict[int, str]) -> _KeepAlive:
        made.append(_KeepAlive(after))
        return made[-1]

    yield make
    for server in made:
        server.close()


def _quiet_until_closed(client: PooledHttpClient) -> None:
    # Wait (no sleep: a blocking read) until the server's hang-up reached the kept socket.
    (pool,) = client._pools.values()
    (conn,) = pool._idle
    assert conn.sock is not None
    conn.sock.settimeout(5)
    assert conn.sock.recv(1, socket.MSG_PEEK) == b""


def test_connections_are_kept_and_reused(
    keep_alive: Callable[[dict[int, str]], _KeepAlive],
) -> None:
    server = keep_alive({})
    client = PooledHttpClient(server.url, timeout=5)
    for _ in range(5):
        assert client.request("POST", "https://api.twilio.com/x", data={"a": 1}).status_code == 200
    assert server.connections == 1 and server.requests == ["POST"] * 5


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_kept_connection_the_server_closed_is_replaced_before_sending(
    keep_alive: Callable[[dict[int, str]], _KeepAlive], method: str
) -> None:
    server = keep_alive({1: "close"})
    client = PooledHttpClient(server.url, timeout=5)
    client.request(method, "https://api.twilio.com/x")
    _quiet_until_closed(client)
    assert client.request(method, "https://api.twilio.com/x").status_code == 200
    assert server.connections == 2 and server.requests == [method, method]


def test_a_get_the_kept_connection_lost_unanswered_is_sent_again_on_a_new_one(
    keep_alive: Callable[[dict[int, str]], _KeepAlive],
) -> None:
    server = keep_alive({2: "drop"})
    client = PooledHttpClient(server.url, timeout=5)
    client.request("GET", "https://api.twilio.com/x")
    assert client.request("GET", "https://api.twilio.com/x").status_code == 200
    assert server.connections == 2 and server.requests == ["GET", "GET", "GET"]


def test_a_post_the_kept_connection_lost_unanswered_is_not_sent_again(
    keep_alive: Callable[[dict[int, str]], _KeepAlive],
) -> None:
    # It may have reached Twilio: a second send could be a second recording.
    server = keep_alive({2: "drop"})
    gateway = _gateway_to(server.url, timeout_s=5)
    client = gateway._client.http_client
    client.request("POST", "https://api.twilio.com/x")
    with pytest.raises(GatewayError) as caught:
        gateway.create_recording(CreateRecordingRequest(CALL, "http://127.0.0.1:9/cb"))
    assert caught.value.retryable and caught.value.status is None
    assert server.requests == ["POST", "POST"] and server.connections == 1


def test_a_request_unanswered_past_its_timeout_fails_retryable_and_its_connection_goes(
    keep_alive: Callable[[dict[int, str]], _KeepAlive],
) -> None:
    server = keep_alive({2: "stall"})
    gateway = _gateway_to(server.url, timeout_s=0.3)
    client = gateway._client.http_client
    client.request("GET", "https://api.twilio.com/x")
    with pytest.raises(GatewayError) as caught:
        gateway.create_recording(CreateRecordingRequest(CALL, "http://127.0.0.1:9/cb"))
    assert caught.value.retryable and caught.value.status is None
    assert "timed out" in str(caught.value)
    (pool,) = client._pools.values()
    assert pool.idle == 0  # a late answer must never be read as the next request's
    assert client.request("GET", "https://api.twilio.com/x").status_code == 200
    assert server.connections == 2


def test_threads_share_the_pool_without_sharing_a_connection(
    keep_alive: Callable[[dict[int, str]], _KeepAlive],
) -> None:
    server = keep_alive({})
    client = PooledHttpClient(server.url, timeout=5)
    barrier = threading.Barrier(8)
    statuses: list[int] = []

    def send() -> None:
        barrier.wait()
        for _ in range(20):
            statuses.append(client.request("GET", "https://api.twilio.com/x").status_code)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 160 and len(server.requests) == 160
    (pool,) = client._pools.values()
    assert server.connections <= 8 and pool.idle == server.connections


def test_a_download_follows_redirects_and_leaves_its_credentials_at_the_origin(
    origin: str, keep_alive: Callable[[dict[int, str]], _KeepAlive]
) -> None:
    store = keep_alive({})  # the media store, on another origin
    _Recorder.status, _Recorder.redirect = 307, store.url + "/media.wav"
    try:
        status, body = PooledHttpClient(origin, timeout=5).download(
            "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1.wav",
            {"RequestedChannels": "2"},
            ("user", "secret"),
        )
    finally:
        _Recorder.status, _Recorder.redirect = 201, None
    assert (status, body) == (200, b"{}")
    assert _Recorder.seen[0][2]["Authorization"].startswith("Basic ")
    assert store.requests == ["GET"]


@settings(deadline=None)  # no timed tests: a loaded machine is not a failure
@given(
    st.dictionaries(
        st.text(),
        st.one_of(
            st.text(),
            st.integers(),
            st.booleans(),
            st.lists(st.one_of(st.text(), st.integers())),
        ),
    )
)
def test_form_bodies_are_what_urlencode_gives(fields: dict[str, object]) -> None:
    assert form_encode(fields) == urlencode(fields, doseq=True)


def test_a_streamed_download_hands_the_body_over_in_slices_after_a_redirect(
    origin: str, keep_alive: Callable[[dict[int, str]], _KeepAlive]
) -> None:
    store = keep_alive({})  # the media store, on another origin
    media = bytes(range(256)) * 4000  # 1 MB: several slices
    _Recorder.status, _Recorder.redirect = 307, store.url + "/media.wav"
    _KeepAlive.body = media
    slices: list[bytes] = []
    try:
        status, body = PooledHttpClient(origin, timeout=5).download_into(
            "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1.wav",
            {"RequestedChannels": "2"},
            ("user", "secret"),
            lambda piece: slices.append(bytes(piece)),
        )
    finally:
        _Recorder.status, _Recorder.redirect = 201, None
        _KeepAlive.body = b"{}"
    assert (status, body) == (200, b"")  # the body went to the sink, none is kept
    assert b"".join(slices) == media
    assert len(slices) >= 4 and max(map(len, slices)) <= STREAM_CHUNK_BYTES
    assert _Recorder.seen[0][2]["Authorization"].startswith("Basic ")
    assert store.requests == ["GET"]


def test_a_streamed_download_that_is_refused_returns_its_answer_and_streams_nothing(
    origin: str,
) -> None:
    _Recorder.status, _Recorder.body = 404, b'{"code": 20404}'
    slices: list[bytes] = []
    try:
        status, body = PooledHttpClient(origin, timeout=5).download_into(
            "https://api.twilio.com/x/RE1.wav", {}, ("user", "secret"), slices.append
        )
    finally:
        _Recorder.status, _Recorder.body = 201, b"{}"
    assert (status, body, slices) == (404, b'{"code": 20404}', [])


def test_a_streamed_download_cut_short_fails_as_a_retryable_gateway_error(
    keep_alive: Callable[[dict[int, str]], _KeepAlive],
) -> None:
    server = keep_alive({1: "cut"})
    _KeepAlive.body = bytes(1_000_000)
    given: list[int] = []
    try:
        with pytest.raises(GatewayError) as failed:
            _gateway_to(server.url, timeout_s=5).download_media_into(
                "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1",
                2,
                lambda piece: given.append(len(piece)),
            )
    finally:
        _KeepAlive.body = b"{}"
    assert failed.value.retryable and failed.value.status is None
    assert sum(given) < 1_000_000  # what came was handed over; the caller discards it
