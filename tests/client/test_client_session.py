"""The I/O-free helpers both clients share: headers, reasons, Retry-After."""

from __future__ import annotations

import json

import httpx
import pytest

from tracking.client import InvalidStreamURL, UnsendableEventId
from tracking.client._session import (
    REASON_SHOWN_LIMIT,
    checked_url,
    last_event_id_header,
    reason_of,
    retry_after,
)


def response(status: int = 200, **headers: str) -> httpx.Response:
    """An answer with the given headers, sent as UTF-8 bytes as a server would."""
    raw = [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]
    return httpx.Response(status, headers=raw)


@pytest.mark.parametrize("value", ["soon", "-5", "1.5", "", "\u0665"])
def test_retry_after_ignores_junk(value: str) -> None:
    assert retry_after(response(503, Retry_After=value)) is None


def test_retry_after_in_the_past_means_no_extra_wait() -> None:
    late = response(
        503,
        Date="Wed, 21 Oct 2026 07:28:00 GMT",
        Retry_After="Wed, 21 Oct 2026 07:00:00 GMT",
    )
    assert retry_after(late) == 0.0


def test_last_event_id_header_is_raw_utf8_without_surrounding_blanks() -> None:
    assert last_event_id_header(" 0042:ord/\u2026\t") == "0042:ord/\u2026".encode()
    assert last_event_id_header("  ") == b""
    assert last_event_id_header("a b") == b"a b"


def test_last_event_id_with_a_form_feed_cannot_be_sent() -> None:
    with pytest.raises(UnsendableEventId, match="cannot be sent"):
        last_event_id_header("a\x0cb")


@pytest.mark.parametrize(
    "url", ["orders/1/events", "ftp://example.test/x", "http://", "http://[::1"]
)
def test_unusable_urls_are_refused(url: str) -> None:
    with pytest.raises(InvalidStreamURL):
        checked_url(url)


def test_ipv6_loopback_url_is_accepted() -> None:
    assert checked_url("http://[::1]:8000/orders/1/events")


def test_text_reason_is_the_first_line_cut_to_length() -> None:
    body = ("x" * (REASON_SHOWN_LIMIT + 50) + "\nmore").encode()
    reason = reason_of(response(400, Content_Type="text/plain"), body)
    assert reason == "x" * REASON_SHOWN_LIMIT + "…"


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ({"detail": "Bad id."}, "Bad id."),
        ({"error": "Nope."}, "Nope."),
        ({"detail": 5}, ""),
        (["Bad id."], ""),
    ],
)
def test_json_reason(document: object, reason: str) -> None:
    kind = response(400, Content_Type="application/problem+json")
    assert reason_of(kind, json.dumps(document).encode()) == reason


def test_broken_json_gives_no_reason() -> None:
    assert reason_of(response(400, Content_Type="application/json"), b"{") == ""
