"""Stream requests' order lookups: gathered into batches, each answered correctly."""

import asyncio
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import OperationalError, connections

from tracking.live import lookups, reader
from tracking.recording import record_event

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


@pytest.fixture
def batches(settings: Any, alias: str, monkeypatch: Any) -> Iterator[list[list[str]]]:
    """Read through the backend under test, recording each batch of references."""
    settings.TRACKING = {**getattr(settings, "TRACKING", {}), "DATABASE": alias}
    reader._find_orders_query.cache_clear()
    seen: list[list[str]] = []
    real = reader.find_orders

    def find_orders(references: Sequence[str]) -> dict[str, reader.OrderState]:
        seen.append(list(references))
        return real(references)

    monkeypatch.setattr(reader, "find_orders", find_orders)
    yield seen
    reader._find_orders_query.cache_clear()


def run(main: Any, alias: str) -> Any:
    """Run ``main`` on a fresh loop, then close the reader thread's connection, so
    that the test database can be dropped."""

    async def wrapped() -> Any:
        try:
            return await main()
        finally:
            await reader.run(close_connection, alias)

    return asyncio.run(wrapped())


def close_connection(alias: str) -> None:
    connections[alias].close()


def test_lookups_asked_at_once_are_read_together(make_order, alias, batches):
    orders = [make_order() for _ in range(5)]
    record_event(orders[1], "note")
    asked = [order.reference for order in orders] * 2 + ["missing"]
    finder = lookups.OrderLookups()

    async def main() -> list[Any]:
        return await asyncio.gather(*(finder.find(reference) for reference in asked))

    states = run(main, alias)

    assert [len(batch) for batch in batches] == [6]
    assert states[-1] is None
    assert [(state.key, state.last_seq) for state in states[:5]] == [
        (str(order.pk), 2 if order is orders[1] else 1) for order in orders
    ]
    assert states[5:10] == states[:5]


def test_a_failed_read_fails_its_batch_alone(make_order, alias, batches, monkeypatch):
    order = make_order()
    reads = reader.find_orders

    def fails_for_a_batch(references: Sequence[str]) -> dict[str, reader.OrderState]:
        # The reader retries once on a new connection: fail that retry too.
        if len(batches) < 2:
            batches.append(list(references))
            raise OperationalError("the database system is starting up")
        return reads(references)

    monkeypatch.setattr(reader, "find_orders", fails_for_a_batch)
    finder = lookups.OrderLookups()

    async def main() -> tuple[list[Any], Any]:
        failed = await asyncio.gather(
            finder.find(order.reference), finder.find("other"), return_exceptions=True
        )
        return failed, await finder.find(order.reference)

    failed, state = run(main, alias)

    assert [type(outcome) for outcome in failed] == [OperationalError] * 2
    assert state.key == str(order.pk)


def test_a_request_that_went_away_leaves_the_others_their_answer(
    make_order, alias, batches
):
    first, second = make_order(), make_order()
    finder = lookups.OrderLookups()

    async def main() -> tuple[bool, Any]:
        gone = asyncio.ensure_future(finder.find(first.reference))
        staying = asyncio.ensure_future(finder.find(second.reference))
        await asyncio.sleep(0)
        gone.cancel()
        return (await asyncio.gather(gone, return_exceptions=True))[0], await staying

    gone, state = run(main, alias)

    assert isinstance(gone, asyncio.CancelledError)
    assert state.key == str(second.pk)


def test_lookups_from_event_loops_of_other_threads_all_get_their_answer(
    make_order, alias, batches, settings
):
    """Served without ASGI, Django runs each async view in an event loop of its own,
    on the request's thread: a batch of one loop answered futures of another, whose
    requests then waited for ever."""
    # No helper threads: their connections would outlive the test database.
    settings.TRACKING = {**settings.TRACKING, "READ_THREADS": 1}
    orders = [make_order() for _ in range(12)]
    finder = lookups.OrderLookups()

    def look_up(order: Any) -> Any:
        async def find() -> Any:
            return await asyncio.wait_for(finder.find(order.reference), 10)

        return asyncio.run(find())

    with ThreadPoolExecutor(max_workers=12) as pool:
        states = list(pool.map(look_up, orders))
    run(lambda: asyncio.sleep(0), alias)

    assert [state.key for state in states] == [str(order.pk) for order in orders]
