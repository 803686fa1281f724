"""Both clients following a loopback server: errors, resuming, liveness, backoff."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import httpx
import pytest

from tracking.client import (
    BadStreamRequest,
    EventSourceClient,
    Forbidden,
    InvalidStreamURL,
    ReconnectGaveUp,
    StreamGone,
    StreamNotFound,
    StreamRejected,
    SyncEventSourceClient,
    TooManyRedirects,
    Unauthorized,
    UnsendableEventId,
    UnsendableHeader,
    WrongContentType,
)

from .harness import FLAVOURS, Flavour, Outcome, follow
from .scripted_server import Drop, Reply, Request, Script, ScriptedServer

pytestmark = pytest.mark.parametrize("flavour", FLAVOURS)

TEXT = {"Content-Type": "text/plain; charset=utf-8"}
JSON = {"Content-Type": "application/json"}


def run(
    flavour: Flavour, script: Script, **options: Any
) -> tuple[Outcome, list[Request]]:
    """Follow a scripted server to the end; return what the client did and got."""
    with ScriptedServer(script) as server:
        outcome = follow(flavour, server, **options)
        return outcome, server.requests


def test_204_ends_iteration_without_error(flavour: Flavour) -> None:
    outcome, requests = run(flavour, [Reply(body=b"data: a\n\n"), Reply(status=204)])
    assert [e.data for e in outcome.events] == ["a"]
    assert outcome.error is None
    assert len(requests) == 2


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, BadStreamRequest),
        (401, Unauthorized),
        (403, Forbidden),
        (404, StreamNotFound),
        (410, StreamGone),
        (500, StreamRejected),
    ],
)
def test_refusals_raise_typed_errors_with_the_servers_reason(
    flavour: Flavour, status: int, error_class: type[StreamRejected]
) -> None:
    body = b"Order 7 does not exist.\nSecond line is not shown."
    outcome, requests = run(flavour, [Reply(status=status, headers=TEXT, body=body)])
    assert type(outcome.error) is error_class
    assert outcome.error.status == status
    assert outcome.error.reason == "Order 7 does not exist."
    assert f"HTTP {status}" in str(outcome.error)
    assert len(requests) == 1


def test_json_error_detail_becomes_the_reason(flavour: Flavour) -> None:
    body = json.dumps({"detail": "The token has expired."}).encode()
    outcome, _ = run(flavour, [Reply(status=401, headers=JSON, body=body)])
    assert isinstance(outcome.error, Unauthorized)
    assert outcome.error.reason == "The token has expired."


def test_error_page_gives_no_reason(flavour: Flavour) -> None:
    page = {"Content-Type": "text/html"}
    outcome, _ = run(flavour, [Reply(status=404, headers=page, body=b"<h1>No</h1>")])
    assert isinstance(outcome.error, StreamNotFound)
    assert outcome.error.reason == ""


def test_wrong_content_type_raises(flavour: Flavour) -> None:
    outcome, requests = run(flavour, [Reply(headers=TEXT, body=b"data: x\n\n")])
    assert isinstance(outcome.error, WrongContentType)
    assert outcome.error.content_type == "text/plain"
    assert outcome.events == []
    assert len(requests) == 1


def test_content_type_parameters_and_case_are_accepted(flavour: Flavour) -> None:
    headers = {"Content-Type": "Text/Event-Stream; charset=utf-8"}
    outcome, _ = run(flavour, [Reply(headers=headers, body=b"data: ok\n\n")])
    assert [e.data for e in outcome.events] == ["ok"]


def test_empty_token_sends_no_authorization(flavour: Flavour) -> None:
    _, requests = run(flavour, [Reply(status=204)], token="")
    assert requests[0].header("Authorization") is None


def test_token_and_extra_headers_are_sent(flavour: Flavour) -> None:
    _, requests = run(
        flavour,
        [Reply(status=204)],
        token="s3cret",
        headers={"X-Shop": "demo", "accept": "text/html"},
    )
    assert requests[0].header("Authorization") == b"Bearer s3cret"
    assert requests[0].header("X-Shop") == b"demo"
    assert requests[0].header("Accept") == b"text/event-stream"


def test_given_last_event_id_is_sent_on_the_first_request(flavour: Flavour) -> None:
    _, requests = run(flavour, [Reply(status=204)], last_event_id="41")
    assert requests[0].header("Last-Event-ID") == b"41"


def test_resumes_from_the_last_complete_event_after_a_cut(flavour: Flavour) -> None:
    """A block cut off mid-way must not move the resume point."""
    script: Script = [
        Reply(body=b"id: 1\ndata: a\n\nid: 2\ndata: b", end="network_error"),
        Reply(body=b"data: c\n\n"),
    ]
    outcome, requests = run(flavour, script)
    assert requests[1].header("Last-Event-ID") == b"1"
    assert [(e.id, e.data) for e in outcome.events] == [("1", "a"), ("1", "c")]
    assert outcome.reconnects[0].last_event_id == "1"
    assert outcome.last_event_id == "1"


def test_id_only_block_moves_the_resume_point(flavour: Flavour) -> None:
    script: Script = [Reply(body=b"id: 1\ndata: a\n\nid: 9\n\n"), Reply(status=204)]
    outcome, requests = run(flavour, script)
    assert requests[1].header("Last-Event-ID") == b"9"
    assert outcome.last_event_id == "9"


def test_drop_before_any_answer_is_retried(flavour: Flavour) -> None:
    outcome, requests = run(flavour, [Drop(), Reply(body=b"data: a\n\n")])
    assert [e.data for e in outcome.events] == ["a"]
    assert len(requests) == 3
    assert "connection broke" in outcome.reconnects[0].reason


def test_backoff_grows_while_attempts_fail_and_resets_after_events(
    flavour: Flavour,
) -> None:
    script: Script = [Drop(), Drop(), Drop(), Reply(body=b"data: a\n\n"), Drop()]
    outcome, _ = run(flavour, script, default_retry_ms=1000)
    assert outcome.delays == [1.0, 2.0, 4.0, 1.0, 2.0]
    assert [r.attempt for r in outcome.reconnects] == [2, 3, 4, 1, 2]


def test_server_retry_sets_every_later_wait(flavour: Flavour) -> None:
    script: Script = [Reply(body=b"retry: 250\ndata: a\n\n"), Drop(), Drop()]
    outcome, _ = run(flavour, script)
    assert outcome.delays == [0.25, 0.5, 1.0]


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_seconds_is_honoured(flavour: Flavour, status: int) -> None:
    """429 is retried like 503: the streams over the limit may be this client's own
    half-open connections, which the server drops only minutes later."""
    script: Script = [Reply(status=status, headers={"Retry-After": "30"})]
    outcome, _ = run(flavour, script, default_retry_ms=1000)
    assert outcome.delays == [30.0]


def test_retry_after_date_is_measured_from_the_answers_date(flavour: Flavour) -> None:
    headers = {
        "Date": "Wed, 21 Oct 2026 07:28:00 GMT",
        "Retry-After": "Wed, 21 Oct 2026 07:28:12 GMT",
    }
    outcome, _ = run(flavour, [Reply(status=502, headers=headers)], default_retry_ms=1)
    assert outcome.delays == [12.0]


def test_max_attempts_gives_up_with_the_last_reason(flavour: Flavour) -> None:
    outcome, requests = run(flavour, [Drop()] * 5, policy={"max_attempts": 3})
    assert isinstance(outcome.error, ReconnectGaveUp)
    assert outcome.error.attempts == 3
    assert "connection broke" in outcome.error.last_failure
    assert len(requests) == 3


def test_deadline_gives_up(flavour: Flavour) -> None:
    outcome, requests = run(
        flavour, [Drop()] * 5, default_retry_ms=1000, policy={"deadline": 5}
    )
    assert isinstance(outcome.error, ReconnectGaveUp)
    assert outcome.delays == [1.0, 2.0]
    assert len(requests) == 3


def test_heartbeats_keep_a_quiet_stream_open(flavour: Flavour) -> None:
    heartbeats = ((0.1, b": heartbeat\n"),) * 12
    script: Script = [
        Reply(later=(*heartbeats, (0.1, b"data: late\n\n")), end="release"),
    ]
    outcome, requests = run(flavour, script, read_timeout=0.6)
    assert [e.data for e in outcome.events] == ["late"]
    assert outcome.reconnects == []
    assert len(requests) == 1


def test_silent_connection_is_detected_as_dead(flavour: Flavour) -> None:
    script: Script = [
        Reply(body=b"id: 3\ndata: a\n\n", end="hold", hold_s=30),
        Reply(body=b"data: b\n\n"),
    ]
    outcome, requests = run(flavour, script, read_timeout=0.3)
    assert "no byte arrived for 0.3 s" in outcome.reconnects[0].reason
    assert requests[1].header("Last-Event-ID") == b"3"
    assert [e.data for e in outcome.events] == ["a", "b"]


def test_redirect_loop_raises(flavour: Flavour) -> None:
    loop = Reply(status=302, headers={"Location": "/orders/1/events"})
    outcome, requests = run(flavour, [loop] * 30)
    assert isinstance(outcome.error, TooManyRedirects)
    assert len(requests) == 21


def test_reconnect_goes_to_the_original_url_not_the_redirect(flavour: Flavour) -> None:
    script: Script = [
        Reply(status=307, headers={"Location": "/elsewhere"}),
        Reply(body=b"data: a\n\n"),
    ]
    _, requests = run(flavour, script)
    assert [r.target for r in requests] == [
        "/orders/1/events",
        "/elsewhere",
        "/orders/1/events",
    ]


def test_unsendable_event_id_raises_before_reconnecting(flavour: Flavour) -> None:
    outcome, requests = run(flavour, [Reply(body=b"id: a\x0bb\ndata: x\n\n")])
    assert isinstance(outcome.error, UnsendableEventId)
    assert [e.id for e in outcome.events] == ["a\x0bb"]
    assert len(requests) == 1


def test_invalid_url_is_refused_at_once(flavour: Flavour) -> None:
    client_class = SyncEventSourceClient if flavour == "sync" else EventSourceClient
    with pytest.raises(InvalidStreamURL):
        client_class("ftp://127.0.0.1/orders/1/events")


def test_last_event_id_follows_the_events_the_application_took(
    flavour: Flavour,
) -> None:
    """Stopping in the middle of a chunk must not skip the events not yet taken."""
    body = b"id: 1\ndata: a\n\nid: 2\ndata: b\n\nid: 3\ndata: c\n\n"
    with ScriptedServer([Reply(body=body, end="hold", hold_s=5)]) as server:
        if flavour == "sync":
            with SyncEventSourceClient(server.url()) as client:
                assert next(client).id == "1"
                last = client.last_event_id
        else:
            last = asyncio.run(_first_id_async(server.url()))
    assert last == "1"


async def _first_id_async(url: str) -> str:
    async with EventSourceClient(url) as client:
        assert (await anext(client)).id == "1"
        return client.last_event_id


def test_shared_http_client_is_left_open(flavour: Flavour) -> None:
    with ScriptedServer([Reply(status=204)]) as server:
        if flavour == "sync":
            with httpx.Client() as http:
                with SyncEventSourceClient(server.url(), http_client=http) as client:
                    assert list(client) == []
                assert not http.is_closed
        else:
            asyncio.run(_shared_async(server.url()))


async def _shared_async(url: str) -> None:
    async with httpx.AsyncClient() as http:
        async with EventSourceClient(url, http_client=http) as client:
            assert [event async for event in client] == []
        assert not http.is_closed


def test_closed_client_yields_nothing_more(flavour: Flavour) -> None:
    body = b"data: a\n\ndata: b\n\n"
    with ScriptedServer([Reply(body=body, end="hold", hold_s=5)]) as server:
        if flavour == "sync":
            client = SyncEventSourceClient(server.url())
            with client:
                assert next(client).data == "a"
            assert list(client) == []
        else:
            asyncio.run(_closed_async(server.url()))
        assert len(server.requests) == 1


async def _closed_async(url: str) -> None:
    client = EventSourceClient(url)
    async with client:
        assert (await anext(client)).data == "a"
    assert [event async for event in client] == []


def test_token_in_the_url_stays_out_of_errors_and_logs(
    flavour: Flavour, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tracking.client")
    script: Script = [Drop(), Reply(status=404)]
    with ScriptedServer(script) as server:
        url = server.url("/orders/1/events?token=s3cret&x=1")
        outcome = follow(flavour, server, url=url)
        assert server.requests[0].target == "/orders/1/events?token=s3cret&x=1"
    assert isinstance(outcome.error, StreamNotFound)
    assert "token=redacted&x=1" in str(outcome.error)
    assert "s3cret" not in str(outcome.error)
    assert "token=redacted" in caplog.text
    assert "s3cret" not in caplog.text


@pytest.mark.parametrize(
    "options", [{"token": "a\r\nX-Evil: 1"}, {"headers": {"X": " y"}}]
)
def test_unsendable_token_or_header_is_refused_at_once(
    flavour: Flavour, options: dict[str, Any]
) -> None:
    client_class = SyncEventSourceClient if flavour == "sync" else EventSourceClient
    with pytest.raises(UnsendableHeader, match="cannot be sent"):
        client_class("http://127.0.0.1:9/orders/1/events", **options)
