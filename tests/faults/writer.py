"""Recording from a process of its own: ``python -m tests.faults.writer ...``.

The fault tests record from here when the writer must be another process than the
servers and the test (as the admin or a shop's worker would be), or when the
database is one the test process has no Django connection to. It uses the settings
of the test servers, so ``DATABASE_URL`` says which database.

``create N`` makes N orders and prints their references as JSON.
``record REF... --events K`` records K notes spread over the orders and, with
``--deliver``, then delivers each; an event that fails because the database is
unreachable (or locked) is retried until ``--patience`` runs out, as a careful caller
of ``record_event`` would. It prints what it did as JSON.
"""

import argparse
import json
import os
import time
from typing import Any

import django

# The servers' settings, whatever the parent process used: DATABASE_URL decides.
os.environ["DJANGO_SETTINGS_MODULE"] = "tests.server_settings"
django.setup()

from django.db import InterfaceError, OperationalError, connections  # noqa: E402

from orders.models import Order  # noqa: E402
from tracking.errors import OrderFinished  # noqa: E402
from tracking.recording import record_event  # noqa: E402


def create(count: int) -> list[str]:
    return [Order.objects.create().reference for _ in range(count)]


def record(
    references: list[str], events: int, interval: float, patience: float, deliver: bool
) -> dict[str, Any]:
    orders = [Order.objects.get(reference=reference) for reference in references]
    done = {"recorded": 0, "retries": 0}
    for number in range(events):
        order = orders[number % len(orders)]
        done["retries"] += _patiently(patience, order, "note", {"n": number})
        done["recorded"] += 1
        time.sleep(interval)
    if deliver:
        for order in orders:
            done["retries"] += _patiently(patience, order, "delivered", {}, "delivered")
    return done


def _patiently(
    patience: float, order: Any, kind: str, data: dict[str, Any], status: Any = None
) -> int:
    """Record one event, retrying while the database is unreachable; return how many
    retries it took.

    A commit whose answer was lost may have happened: the retry then records one
    more note (the tests compare with what is stored), or finds a delivered order
    already finished.
    """
    deadline = time.monotonic() + patience
    retries = 0
    while True:
        try:
            record_event(order, kind, data, status=status)
            return retries
        except OrderFinished:
            if status is None or retries == 0:
                raise
            return retries
        except (OperationalError, InterfaceError):
            if time.monotonic() > deadline:
                raise
            connections.close_all()
            retries += 1
            time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.faults.writer")
    commands = parser.add_subparsers(dest="command", required=True)
    creating = commands.add_parser("create")
    creating.add_argument("count", type=int)
    recording = commands.add_parser("record")
    recording.add_argument("references", nargs="+")
    recording.add_argument("--events", type=int, required=True)
    recording.add_argument("--interval", type=float, default=0.0)
    recording.add_argument("--patience", type=float, default=30.0)
    recording.add_argument("--deliver", action="store_true")
    args = parser.parse_args()
    if args.command == "create":
        print(json.dumps(create(args.count)))
    else:
        found = record(
            args.references, args.events, args.interval, args.patience, args.deliver
        )
        print(json.dumps(found))


if __name__ == "__main__":
    main()
