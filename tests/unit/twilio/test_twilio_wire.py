"""One HTTP/1.1 exchange written and read by flexrec.twilio.wire: the bytes http.client would
send, answers read as it reads them, and what it refuses."""

from __future__ import annotations

import http.client
import socket
from collections.abc import Iterator

import pytest

from flexrec.twilio.wire import read_response, send_request


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    ours, theirs = socket.socketpair()
    ours.settimeout(5)
    theirs.settimeout(5)
    yield ours, theirs
    ours.close()
    theirs.close()


def answered(theirs: socket.socket, raw: bytes) -> None:
    theirs.sendall(raw)
    theirs.shutdown(socket.SHUT_WR)


def test_a_post_is_one_send_with_host_length_and_the_callers_headers(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, theirs = pair
    headers = {"Authorization": "Basic eA==", "If-Match": "7"}
    send_request(ours, "POST", "/v1/Tasks/WT1", "example.com:8080", headers, b"a=1&b=2")
    ours.shutdown(socket.SHUT_WR)
    sent = theirs.makefile("rb").read()
    assert sent == (
        b"POST /v1/Tasks/WT1 HTTP/1.1\r\nHost: example.com:8080\r\nAccept-Encoding: identity\r\n"
        b"Authorization: Basic eA==\r\nIf-Match: 7\r\nContent-Length: 7\r\n\r\na=1&b=2"
    )


def test_a_get_has_no_length(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, theirs = pair
    send_request(ours, "GET", "/x?y=1", "h", {}, None)
    ours.shutdown(socket.SHUT_WR)
    assert b"Content-Length" not in theirs.makefile("rb").read()


@pytest.mark.parametrize(
    ("target", "headers"),
    [
        ("/a b", {}),
        ("/a\r\nX-Evil: 1", {}),
        ("/a", {"If-Match": "7\r\nX-Evil: 1"}),
        ("/a", {"Bad Name:": "1"}),
        ("/a", {"X": "1\n"}),
    ],
)
def test_what_could_split_the_request_is_refused_before_sending(
    pair: tuple[socket.socket, socket.socket], target: str, headers: dict[str, str]
) -> None:
    ours, theirs = pair
    with pytest.raises((ValueError, http.client.InvalidURL)):
        send_request(ours, "POST", target, "h", headers, b"")
    ours.shutdown(socket.SHUT_WR)
    assert theirs.makefile("rb").read() == b""


def test_an_answer_by_length_with_headers_by_lower_case_name(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, theirs = pair
    answered(
        theirs,
        b'HTTP/1.1 200 OK\r\nETag: "7"\r\nContent-Type: application/json\r\nX-A: 1\r\nX-A: 2\r\n'
        b"Content-Length: 2\r\n\r\n{}",
    )
    status, headers, body, will_close = read_response(ours, "GET")
    assert (status, body, will_close) == (200, b"{}", False)
    assert headers["etag"] == '"7"' and headers["x-a"] == "1, 2"


def test_a_chunked_answer_after_a_100_continue(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, theirs = pair
    answered(
        theirs,
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: x\r\n\r\n",
    )
    assert read_response(ours, "POST") == (
        201,
        {"transfer-encoding": "chunked"},
        b"abcde",
        False,
    )


@pytest.mark.parametrize(
    ("raw", "closes"),
    [
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", True),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", True),
        (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", False),
        (b"HTTP/1.1 204 No Content\r\n\r\n", False),
        (b"HTTP/1.1 200 OK\r\n\r\nto the end", True),  # no length: the body ends the connection
    ],
)
def test_whether_the_connection_is_kept(
    pair: tuple[socket.socket, socket.socket], raw: bytes, closes: bool
) -> None:
    ours, theirs = pair
    answered(theirs, raw)
    assert read_response(ours, "GET")[3] is closes


def test_a_connection_closed_before_any_answer_is_remote_disconnected(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, theirs = pair
    answered(theirs, b"")
    with pytest.raises(http.client.RemoteDisconnected):
        read_response(ours, "GET")


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", http.client.IncompleteRead),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
            http.client.IncompleteRead,
        ),
        (b"SMTP ready\r\n\r\n", http.client.BadStatusLine),
        (b"HTTP/1.1 20x OK\r\n\r\n", http.client.BadStatusLine),
        (b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70_000 + b"\r\n\r\n", http.client.LineTooLong),
        (b"HTTP/1.1 200 OK\r\n" + b"X: 1\r\n" * 101 + b"\r\n", http.client.HTTPException),
    ],
)
def test_a_cut_or_garbled_answer_raises_http_clients_errors(
    pair: tuple[socket.socket, socket.socket], raw: bytes, error: type[Exception]
) -> None:
    ours, theirs = pair
    answered(theirs, raw)
    with pytest.raises(error):
        read_response(ours, "GET")


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"7\r\n0123456\r\n3\r\n789\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n\r\n0123456789",  # to the end of the connection
    ],
)
def test_a_streamed_200_goes_to_the_sink_in_slices_and_nothing_is_returned(
    pair: tuple[socket.socket, socket.socket], raw: bytes
) -> None:
    ours, theirs = pair
    answered(theirs, raw)
    slices: list[bytes] = []
    status, _, body, _ = read_response(ours, "GET", lambda v: slices.append(bytes(v)), 4)
    assert (status, body) == (200, b"")
    assert b"".join(slices) == b"0123456789" and max(map(len, slices)) <= 4


def test_a_streamed_body_cut_short_raises_and_another_status_is_returned_whole(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, theirs = pair
    answered(theirs, b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234")
    with pytest.raises(http.client.IncompleteRead):
        read_response(ours, "GET", lambda v: None, 4)
    one, other = socket.socketpair()
    answered(other, b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}")
    assert read_response(one, "GET", lambda v: None, 4)[2] == b"{}"
    one.close()
    other.close()
