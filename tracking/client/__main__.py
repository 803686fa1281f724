"""Follow an order's event stream from a terminal.

    python -m tracking.client URL [--last-event-id N] [--token T] [--json]
                              [--max-attempts N] [--deadline SECONDS]

Each event is printed on one line as it arrives, reconnects are reported on stderr,
and the exit status says how the stream ended: 0 when the server said it is over
(204), 1 with a one-line reason on stderr when the client had to stop, 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
from collections.abc import Sequence

from ._session import Reconnect
from ._sync import SyncEventSourceClient
from .errors import TrackingClientError
from .parser import Event
from .policy import ReconnectPolicy

EXIT_OVER = 0
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130

_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit status."""
    args = _parse_args(argv)
    if isinstance(sys.stdout, io.TextIOWrapper):
        # A terminal that cannot show a character gets an escape, not a crash.
        sys.stdout.reconfigure(errors="backslashreplace")

    try:
        _follow(args)
    except TrackingClientError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (as with `| head`); say nothing more on the pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    return EXIT_OVER


def _follow(args: argparse.Namespace) -> None:
    """Print the stream's events until the server says it is over."""
    show = _as_json if args.json else _as_text
    policy = ReconnectPolicy(max_attempts=args.max_attempts, deadline=args.deadline)
    with SyncEventSourceClient(
        args.url,
        token=args.token,
        last_event_id=args.last_event_id,
        policy=policy,
        on_reconnect=_report_reconnect,
    ) as stream:
        for event in stream:
            print(show(event), flush=True)


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tracking.client",
        description="Follow an order's event stream and print each event on a line.",
    )
    parser.add_argument("url", help="the full URL of the order's event stream")
    parser.add_argument(
        "--last-event-id",
        default="",
        metavar="N",
        help="resume after this event id instead of from the start",
    )
    parser.add_argument(
        "--token", metavar="T", help="send this token as Authorization: Bearer T"
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help='print {"id", "event", "data"} as one JSON object per line',
    )
    parser.add_argument(
        "--max-attempts",
        type=_positive_int,
        metavar="N",
        help="give up after N connection attempts in a row bring no event",
    )
    parser.add_argument(
        "--deadline",
        type=_positive_float,
        metavar="SECONDS",
        help="give up when the stream has been lost for this long",
    )
    return parser.parse_args(argv)


def _positive_int(text: str) -> int:
    """An argparse type for counts: whole numbers above zero."""
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be above zero, not {text}")
    return value


def _positive_float(text: str) -> float:
    """An argparse type for durations: numbers of seconds above zero."""
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be above zero, not {text}")
    return value


def _as_text(event: Event) -> str:
    """Id, type and data separated by tabs; line breaks escaped to keep one line."""
    fields = (event.id, event.type, event.data)
    return "\t".join(field.translate(_ESCAPES) for field in fields)


def _as_json(event: Event) -> str:
    """One JSON object; ``id`` is the last event id, ``""`` when there is none."""
    return json.dumps({"id": event.id, "event": event.type, "data": event.data})


def _report_reconnect(reconnect: Reconnect) -> None:
    resume = reconnect.last_event_id or "(none)"
    print(
        f"reconnecting in {reconnect.delay:.1f} s (attempt {reconnect.attempt}) "
        f"after id {resume}: {reconnect.reason}",
        file=sys.stderr,
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
