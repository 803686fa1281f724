"""The load client's response parser, fed the way sockets deliver bytes."""

import pytest

from bench.loadclient.httpparse import ResponseError, ResponseParser

CHUNKED = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n"
    b"7\r\n: open\n\r\n"
    b"10\r\nid: 1\ndata: {}\n\n\r\n"
    b"0\r\n\r\n"
)


def feed_in_pieces(data: bytes, size: int) -> tuple[ResponseParser, bytes]:
    parser = ResponseParser()
    body = b"".join(parser.feed(data[i : i + size]) for i in range(0, len(data), size))
    return parser, body


@pytest.mark.parametrize("size", [1, 2, 3, 7, len(CHUNKED)])
def test_chunked_body_is_decoded_whatever_the_read_sizes(size: int) -> None:
    parser, body = feed_in_pieces(CHUNKED, size)

    assert parser.status == 200
    assert parser.headers["content-type"] == "text/event-stream"
    assert body == b": open\nid: 1\ndata: {}\n\n"
    assert parser.finished


def test_body_without_framing_runs_until_close() -> None:
    head = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"
    parser, body = feed_in_pieces(head + b"data: x\n\n", 5)

    assert body == b"data: x\n\n"
    assert not parser.finished


def test_error_status_is_reported() -> None:
    parser, _ = feed_in_pieces(
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", 4
    )

    assert parser.status == 404


def test_garbage_instead_of_a_status_line_is_refused() -> None:
    with pytest.raises(ResponseError):
        ResponseParser().feed(b"SSH-2.0-OpenSSH\r\n\r\n")
