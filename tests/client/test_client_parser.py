"""The event-stream parser against the shared cases and under any split of its input."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracking.client import Event, EventDataNotJSON, EventStreamParser

from .cases import b64, load_cases

PARSE_CASES = load_cases("parse")


def run(chunks: list[bytes], last_event_id: str = "") -> dict[str, Any]:
    """Feed the chunks to a fresh parser, end the body, and report what it saw."""
    parser = EventStreamParser(last_event_id)
    events: list[Event] = []
    for chunk in chunks:
        events.extend(parser.feed(chunk))
    events.extend(parser.close())
    return {
        "events": [{"type": e.type, "data": e.data, "id": e.id} for e in events],
        "last_event_id": parser.last_event_id,
        "retry_ms": parser.retry_ms,
    }


def case_ids(case: dict[str, Any]) -> str:
    return f"{case['id']} {case['title']}"


@pytest.mark.parametrize("case", PARSE_CASES, ids=case_ids)
def test_case_fed_whole(case: dict[str, Any]) -> None:
    assert run([b64(case["input_b64"])]) == case["expect"]


@pytest.mark.parametrize("case", PARSE_CASES, ids=case_ids)
def test_case_fed_in_given_chunks(case: dict[str, Any]) -> None:
    chunks = [b64(c) for c in case.get("chunks_b64", [case["input_b64"]])]
    assert b"".join(chunks) == b64(case["input_b64"])
    assert run(chunks) == case["expect"]


@pytest.mark.parametrize("case", PARSE_CASES, ids=case_ids)
def test_case_fed_one_byte_at_a_time(case: dict[str, Any]) -> None:
    body = b64(case["input_b64"])
    assert run([body[i : i + 1] for i in range(len(body))]) == case["expect"]


# Bytes that exercise every rule: line ends of each kind, a BOM, field names, NUL,
# digits, multi-byte and invalid UTF-8.
STREAM_BYTES = st.lists(
    st.sampled_from(
        [
            b"\r",
            b"\n",
            b"\r\n",
            b":",
            b" ",
            b"\xef\xbb\xbf",
            b"data",
            b"id",
            b"event",
            b"retry",
            b"\x00",
            b"12",
            b"x",
            b"\xc3\xa9",
            b"\xe2\x80\xa6",
            b"\xf0\x9f\x93\xa6",
            b"\xff",
            b"\xc3",
        ]
    ),
    max_size=60,
).map(b"".join)


# Derandomized so that every run checks the same examples: the suite must be
# deterministic. No deadline, so a loaded machine cannot fail it.
PROPERTY = settings(derandomize=True, deadline=None, max_examples=300)


@PROPERTY
@given(body=STREAM_BYTES, cuts=st.lists(st.integers(min_value=0), max_size=12))
def test_any_split_of_the_same_bytes_gives_the_same_result(
    body: bytes, cuts: list[int]
) -> None:
    offsets = sorted({cut % (len(body) + 1) for cut in cuts})
    pieces = [
        body[a:b] for a, b in zip([0, *offsets], [*offsets, len(body)], strict=True)
    ]
    assert run(pieces) == run([body])


@PROPERTY
@given(body=STREAM_BYTES)
def test_one_byte_at_a_time_matches_whole(body: bytes) -> None:
    assert run([body[i : i + 1] for i in range(len(body))]) == run([body])


def test_bom_is_dropped_only_at_the_very_start() -> None:
    bom = b"\xef\xbb\xbf"
    result = run([bom + b"data: a\n\n" + bom + b"data: b\n\n"])
    assert [e["data"] for e in result["events"]] == ["a"]


def test_bom_split_across_reads_is_dropped() -> None:
    result = run([b"\xef", b"\xbb", b"\xbfdata: a\n\n"])
    assert result["events"] == [{"type": "message", "data": "a", "id": ""}]


def test_second_bom_makes_an_unknown_field_name() -> None:
    result = run([b"\xef\xbb\xbf\xef\xbb\xbfdata: a\n\ndata: b\n\n"])
    assert [e["data"] for e in result["events"]] == ["b"]


def test_lone_cr_blank_line_dispatches_without_waiting_for_more() -> None:
    parser = EventStreamParser()
    assert parser.feed(b"data: a\r") == []
    assert parser.feed(b"\r") == [Event(id="", type="message", data="a")]


def test_lf_after_a_split_crlf_is_not_a_second_blank_line() -> None:
    parser = EventStreamParser()
    assert parser.feed(b"data: a\r\n\r") == [Event(id="", type="message", data="a")]
    assert parser.feed(b"\n") == []
    assert parser.feed(b"\ndata: b\n\n") == [Event(id="", type="message", data="b")]


def test_only_one_leading_space_is_removed() -> None:
    result = run([b"data:  two\nevent:\ttab\n\n"])
    assert result["events"] == [{"type": "\ttab", "data": " two", "id": ""}]


def test_value_keeps_colons_after_the_first() -> None:
    result = run([b"data: a:b: c\n\n"])
    assert result["events"][0]["data"] == "a:b: c"


def test_empty_retry_is_ignored() -> None:
    assert run([b"retry: 10\nretry:\nretry\n\n"])["retry_ms"] == 10


def test_retry_with_non_ascii_digits_is_ignored() -> None:
    assert run(["retry: 1\u0663\n\n".encode()])["retry_ms"] is None


def test_retry_too_long_for_a_64_bit_integer_is_ignored() -> None:
    body = (
        b"retry: 5\nretry: " + b"9" * 5000 + b"\nretry: 0000000000000000000000007\n\n"
    )
    assert run([body])["retry_ms"] == 7


def test_last_event_id_given_at_start_carries_over_events_without_id() -> None:
    result = run([b"data: a\n\n"], last_event_id="41")
    assert result["events"] == [{"type": "message", "data": "a", "id": "41"}]
    assert result["last_event_id"] == "41"


def test_id_in_an_unfinished_block_is_not_committed_by_close() -> None:
    parser = EventStreamParser("1")
    parser.feed(b"id: 2\ndata: b\n")
    parser.close()
    assert parser.last_event_id == "1"


def test_comments_and_bytes_are_counted_for_liveness() -> None:
    parser = EventStreamParser()
    parser.feed(b": heartbeat\n\n:\n")
    parser.feed(b": hb")
    assert (parser.comments_seen, parser.bytes_seen) == (2, 19)
    parser.feed(b"\n")
    assert parser.comments_seen == 3


def test_event_json_decodes_the_data() -> None:
    event = Event(id="7", type="order.status", data='{"status": "paid"}')
    assert event.json() == {"status": "paid"}


def test_event_json_raises_the_client_error_on_bad_json() -> None:
    event = Event(id="7", type="order.status", data="not json")
    with pytest.raises(EventDataNotJSON, match="not valid JSON") as info:
        event.json()
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value.__cause__, json.JSONDecodeError)


def test_event_is_immutable() -> None:
    event = Event(id="1", type="message", data="x")
    with pytest.raises(AttributeError):
        event.data = "y"  # type: ignore[misc]


def test_many_events_in_one_chunk() -> None:
    body = b"".join(b'id: %d\ndata: {"n": %d}\n\n' % (n, n) for n in range(2000))
    result = run([body])
    assert len(result["events"]) == 2000
    assert result["last_event_id"] == "1999"
