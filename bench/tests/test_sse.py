"""The load client's event-stream decoder: marks, ids and line endings."""

from bench.loadclient.sse import SseDecoder


def test_marked_events_are_returned_and_ids_followed() -> None:
    decoder = SseDecoder()

    marks = decoder.feed(b'id: 7\nevent: x\ndata: {"b":12,"at":"t"}\n\n')

    assert marks == [12]
    assert decoder.last_id == "7"


def test_events_split_across_reads_are_joined() -> None:
    decoder = SseDecoder()
    stream = b'id: order-1:3\r\ndata: {"b": 5}\r\n\r\n'

    marks = [m for i in range(len(stream)) for m in decoder.feed(stream[i : i + 1])]

    assert marks == [5]
    assert decoder.last_id == "order-1:3"


def test_comments_and_unmarked_events_are_only_counted() -> None:
    decoder = SseDecoder()

    marks = decoder.feed(b": keep-alive\n\nevent: stream-open\ndata:\n\ndata: {}\n\n")

    assert marks == []
    assert decoder.unmarked == 2
    assert decoder.last_id is None


def test_id_persists_across_events_without_one() -> None:
    decoder = SseDecoder()

    decoder.feed(b'id: 3\ndata: {"b":1}\n\ndata: {"b":2}\n\n')

    assert decoder.last_id == "3"
