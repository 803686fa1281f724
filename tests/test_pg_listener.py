"""The listener's reading of hints, which any role that may connect can send."""

import asyncio
import logging

from tracking.live.hub import Hub
from tracking.live.pg_listener import PgListener
from tracking.live.reader import StoredEvent


async def _nothing(key: str, after: int, limit: int) -> list[StoredEvent]:
    return []


async def _nothing_new(
    positions: list[tuple[str, int]], limit: int
) -> list[list[StoredEvent]]:
    return [[] for _ in positions]


def test_malformed_hints_are_ignored_with_one_warning_for_a_flood(caplog):
    forged = ["7:²", "7:" + "9" * 4301, "7:-5", "7: 5", "7:", "no colon", "7:1e3"]

    async def dispatch() -> list[int]:
        hub = Hub(_nothing, _nothing_new, 10)
        listener = PgListener(hub, "")
        with hub.subscribe("7"):
            for payload in forged * 1000:
                listener._dispatch(payload)
            listener._dispatch("7:12")
            return [hub.topics["7"].newest]

    with caplog.at_level(logging.WARNING, logger="tracking.live.pg_listener"):
        assert asyncio.run(dispatch()) == [12]

    assert len(caplog.records) == 1
    assert "'7:²'" in caplog.records[0].getMessage()
