"""Concurrent writers for the storm tests: many short transactions, some rolled back."""

import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from django.db import connections, transaction

from tracking.models import OrderEvent
from tracking.recording import record_event


class Rollback(Exception):
    """Raised on purpose to roll a writer's transaction back."""


@dataclass
class StormResult:
    """What the writers saw: errors are whatever reached them as a user."""

    committed: int = 0
    rolled_back: int = 0
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0


def storm(
    orders: list[Any], alias: str, total: int, writers: int, rollback_every: int = 5
) -> StormResult:
    """Record ``total`` events on random ``orders`` from ``writers`` threads at once.

    Every ``rollback_every``-th transaction records its event and is then rolled back.
    """
    result = StormResult()
    lock = threading.Lock()

    def write(number: int) -> None:
        pick = random.Random(number)
        try:
            for n in range(number, total, writers):
                rolled_back = _one(pick.choice(orders), alias, n % rollback_every == 0)
                with lock:
                    if rolled_back:
                        result.rolled_back += 1
                    else:
                        result.committed += 1
        except Exception as exc:
            with lock:
                result.errors.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    result.seconds = time.monotonic() - started
    return result


def _one(order: Any, alias: str, roll_back: bool) -> bool:
    """Record one event in a transaction of its own; return whether it rolled back."""
    try:
        with transaction.atomic(using=alias):
            record_event(order, "note", {"rolled_back": roll_back})
            if roll_back:
                raise Rollback
    except Rollback:
        return True
    return False


def finish(orders: list[Any]) -> None:
    """Deliver every order, which ends its streams."""
    for order in orders:
        record_event(order, "delivered", status="delivered")


def stored_seqs(orders: list[Any], alias: str) -> dict[int, list[int]]:
    """Return the stored seqs of each order (by primary key), in order."""
    seqs: dict[int, list[int]] = {order.pk: [] for order in orders}
    rows = OrderEvent.objects.using(alias).filter(order_id__in=list(seqs))
    for order_id, seq in rows.order_by("order_id", "seq").values_list("order", "seq"):
        seqs[order_id].append(seq)
    return seqs
