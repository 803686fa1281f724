"""The shared connect cases, run with both clients against a real loopback server.

Each case's scripted responses are replayed by :class:`ScriptedServer`; the checks
are the case's own. The one departure from browsers is checked where it applies:
502, 503 and 504 are retried with backoff instead of ending the client.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tracking.client import StreamRejected, WrongContentType

from .cases import b64, load_cases
from .harness import FLAVOURS, Flavour, Outcome, follow
from .scripted_server import Drop, Reply, Request, Script, ScriptedServer

RETRIED_STATUSES = {502, 503, 504}


def expand(cases: list[dict[str, Any]]) -> list[tuple[dict[str, Any], int | None]]:
    """One run per case, or per status of a case that lists status variants."""
    runs: list[tuple[dict[str, Any], int | None]] = []
    for case in cases:
        variants = case["given"].get("status_variants") or [None]
        runs.extend((case, status) for status in variants)
    return runs


CONNECT_RUNS = expand(load_cases("connect"))
AS_BROWSERS = [run for run in CONNECT_RUNS if run[1] not in RETRIED_STATUSES]


def run_id(run: tuple[dict[str, Any], int | None]) -> str:
    case, status = run
    return case["id"] if status is None else f"{case['id']}-{status}"


def script_of(case: dict[str, Any], status: int | None) -> Script:
    """Turn a case's responses into replies; a case ending in "hold" ends open."""
    script: Script = []
    for response in case["given"]["responses"]:
        if response.get("network_error"):
            script.append(Drop())
            continue
        code = response["status"]
        if code == "$STATUS":
            assert status is not None, "A $STATUS case needs a status variant."
            code = status
        end = response["end"]
        script.append(
            Reply(
                status=code,
                headers=response.get("headers", {}),
                body=b64(response.get("body_b64", "")),
                end="release" if end == "hold" else end,
            )
        )
    return script


def run_case(
    flavour: Flavour, case: dict[str, Any], status: int | None, random: float = 0.0
) -> tuple[Outcome, list[Request]]:
    with ScriptedServer(script_of(case, status)) as server:
        outcome = follow(
            flavour,
            server,
            default_retry_ms=case["given"]["default_retry_ms"],
            random=random,
        )
        return outcome, server.requests


def check_requests(checks: dict[str, Any], requests: list[Request]) -> None:
    for index, expected in enumerate(checks.get("requests", [])):
        request = requests[index]
        for name, value in expected.get("headers", {}).items():
            assert request.header(name) == value.encode("utf-8"), (index, name)
        for name in expected.get("headers_absent", []):
            assert request.header(name) is None, (index, name)
        for name, raw in expected.get("header_bytes_b64", {}).items():
            assert request.header(name) == base64.b64decode(raw), (index, name)


def check_outcome(checks: dict[str, Any], outcome: Outcome) -> None:
    if "events" in checks:
        assert outcome.event_dicts() == checks["events"]
    if "error_events" in checks:
        assert outcome.error_events == checks["error_events"]
    if "final_state" in checks:
        assert outcome.final_state == checks["final_state"]
    if "last_event_id" in checks:
        assert outcome.last_event_id == checks["last_event_id"]
    if "reconnect_delays_ms" in checks:
        minimums = checks["reconnect_delays_ms"]
        assert len(outcome.delays) == len(minimums)
        for delay, minimum in zip(outcome.delays, minimums, strict=True):
            assert delay * 1000 >= minimum


def opened(requests: list[Request], script: Script) -> int:
    """The open events a browser would fire: answers that started a stream."""
    return sum(
        1
        for step in script[: len(requests)]
        if isinstance(step, Reply)
        and step.status == 200
        and step.headers.get("Content-Type") == "text/event-stream"
    )


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("run", AS_BROWSERS, ids=run_id)
def test_connect_case(flavour: Flavour, run: tuple[dict[str, Any], int | None]) -> None:
    """Every case and status variant, except the statuses retried on purpose."""
    case, status = run
    checks = case["checks"]
    outcome, requests = run_case(flavour, case, status)

    assert len(requests) == checks["request_count"]
    check_requests(checks, requests)
    check_outcome(checks, outcome)
    if "open_events" in checks:
        assert opened(requests, script_of(case, status)) == checks["open_events"]
    if checks.get("final_state") == "CLOSED" and checks.get("events") == []:
        assert isinstance(outcome.error, StreamRejected | WrongContentType) or (
            status is None and outcome.error is None
        )


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize(
    "run",
    [run for run in CONNECT_RUNS if run[0]["checks"].get("reconnect_delays_ms")],
    ids=run_id,
)
def test_jitter_only_adds_to_the_case_delays(
    flavour: Flavour, run: tuple[dict[str, Any], int | None]
) -> None:
    case, status = run
    outcome, _ = run_case(flavour, case, status, random=0.999)
    check_outcome(case["checks"], outcome)


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("status", sorted(RETRIED_STATUSES))
def test_retried_status_departs_from_c007(flavour: Flavour, status: int) -> None:
    """A proxy's 502/503/504 is waited out; the retry in its body is never read."""
    error_body = b"retry: 10\ndata: x\n\n"
    script: Script = [
        Reply(status=status, body=error_body),
        Reply(body=b"data: x\n\n", end="release"),
    ]
    with ScriptedServer(script) as server:
        outcome = follow(flavour, server, default_retry_ms=3000)
        requests = server.requests

    assert len(requests) == 2
    assert outcome.event_dicts() == [{"type": "message", "data": "x", "id": ""}]
    assert outcome.delays == [3.0]
    assert outcome.reconnects[0].reason == f"the server answered {status}"
    assert outcome.final_state == "OPEN"
