"""``python -m tracking.client`` run as a real process against a loopback server."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from .scripted_server import Reply, Script, ScriptedServer

RUN_TIMEOUT_S = 20.0
TEXT = {"Content-Type": "text/plain"}
# A tiny retry so that reconnects in these runs cost no noticeable time.
QUICK = b"retry: 1\n"


def cli_env() -> dict[str, str]:
    """The environment of the CLI: as ours, but never through a proxy."""
    return {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1"}


def run_cli(
    repo_root: Path, script: Script, *args: str
) -> tuple[subprocess.CompletedProcess[str], ScriptedServer]:
    with ScriptedServer(script) as server:
        result = subprocess.run(
            [sys.executable, "-m", "tracking.client", server.url(), *args],
            cwd=repo_root,
            env=cli_env(),
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
            check=False,
        )
    return result, server


def test_prints_one_line_per_event_and_exits_0_on_204(repo_root: Path) -> None:
    body = QUICK + b"id: 1\nevent: order.status\ndata: a\ndata: b\n\ndata: \tc\\\n\n"
    result, server = run_cli(repo_root, [Reply(body=body)])
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "1\torder.status\ta\\nb",
        "1\tmessage\t\\tc\\\\",
    ]
    assert len(server.requests) == 2


def test_json_lines_have_id_event_and_raw_data(repo_root: Path) -> None:
    body = QUICK + 'data: {"x": 1}\n\nid: 7\nevent: e\ndata: caf\u00e9\n\n'.encode()
    result, _ = run_cli(repo_root, [Reply(body=body)], "--json")
    assert result.returncode == 0, result.stderr
    assert [json.loads(line) for line in result.stdout.splitlines()] == [
        {"id": "", "event": "message", "data": '{"x": 1}'},
        {"id": "7", "event": "e", "data": "caf\u00e9"},
    ]


def test_reconnects_are_reported_on_stderr_and_resume(repo_root: Path) -> None:
    script: Script = [
        Reply(body=QUICK + b"id: 5\ndata: a\n\n"),
        Reply(body=b"id: 6\ndata: b\n\n"),
    ]
    result, server = run_cli(repo_root, script, "--last-event-id", "4")
    assert result.returncode == 0, result.stderr
    assert [r.header("Last-Event-ID") for r in server.requests] == [b"4", b"5", b"6"]
    assert result.stdout.splitlines() == ["5\tmessage\ta", "6\tmessage\tb"]
    reports = result.stderr.splitlines()
    assert len(reports) == 2
    assert reports[0].startswith("reconnecting in ")
    assert reports[0].endswith(" after id 5: the server ended the stream")


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_refusal_exits_1_with_a_one_line_reason(repo_root: Path, status: int) -> None:
    script: Script = [Reply(status=status, headers=TEXT, body=b"Order 9 is unknown.")]
    result, server = run_cli(repo_root, script, "--token", "t0k")
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert f"HTTP {status}" in lines[0]
    assert "Order 9 is unknown." in lines[0]
    assert server.requests[0].header("Authorization") == b"Bearer t0k"


def test_404_message_says_what_to_check(repo_root: Path) -> None:
    result, _ = run_cli(repo_root, [Reply(status=404)])
    assert result.returncode == 1
    assert result.stderr.startswith("error: The server refused the event stream at ")
    assert "Check the order in the URL" in result.stderr


def test_wrong_content_type_exits_1(repo_root: Path) -> None:
    result, _ = run_cli(repo_root, [Reply(headers=TEXT, body=b"data: x\n\n")])
    assert result.returncode == 1
    assert result.stdout == ""
    assert "text/plain instead of text/event-stream" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_gave_up_exits_1(repo_root: Path) -> None:
    script: Script = [Reply(body=QUICK, end="network_error")] * 2
    result, _ = run_cli(repo_root, script, "--max-attempts", "2")
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1].startswith("error: Gave up reconnecting")


def test_bad_arguments_exit_2(repo_root: Path) -> None:
    result, _ = run_cli(repo_root, [], "--max-attempts", "0")
    assert result.returncode == 2
    assert "must be above zero" in result.stderr


def _interruptible() -> None:
    """Let the child see Ctrl-C even when this run ignores it (``make test &``).

    A process started in the background inherits SIGINT as ignored, and Python then
    never installs its KeyboardInterrupt handler.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_exits_130_quietly(repo_root: Path) -> None:
    """Regression: under ``make test &`` the child inherited an ignored SIGINT, hung,
    and its unclosed pipes then failed an unrelated test."""
    script: Script = [Reply(body=b"data: first\n\n", end="hold", hold_s=RUN_TIMEOUT_S)]
    with ScriptedServer(script) as server:
        process = subprocess.Popen(
            [sys.executable, "-m", "tracking.client", server.url()],
            cwd=repo_root,
            env=cli_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=_interruptible,
        )
        try:
            assert process.stdout is not None
            assert _line_within(process, RUN_TIMEOUT_S) == "\tmessage\tfirst\n"
            process.send_signal(signal.SIGINT)
            _, stderr = process.communicate(timeout=RUN_TIMEOUT_S)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate(timeout=RUN_TIMEOUT_S)
    assert process.returncode == 130
    assert stderr == ""


def _line_within(process: subprocess.Popen[str], timeout: float) -> str:
    """The next line the process prints, failing rather than hanging."""
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            pytest.fail(f"The client printed nothing within {timeout} s.")
    return process.stdout.readline()
