"""The global feed's clock: a position in the feed of every order's events.

Per order, ``seq`` is taken under the order's row lock, so it commits in order. Across
orders there is no such lock, and on Postgres rows become visible in commit order,
which is not the order of their ids: a reader that pages by ``id > last`` skips a row
whose transaction committed after a later id was already read.

So each event also stores ``feed_xid``: the Postgres transaction id (``xid8``, which
never wraps) of the transaction that wrote it, raised to at least the ``feed_xid`` of
the order's previous event. A reader hands out only rows whose ``feed_xid`` is below
the ``xmin`` of its own snapshot, the oldest transaction still running then, and pages
by ``(feed_xid, id)``:

- every transaction below ``xmin`` has ended, so the rows below it are all visible and
  no row can ever join them: a transaction that writes later has an id of at least
  that ``xmin``, and its rows sort after every position already handed out;
- raising ``feed_xid`` to the previous event's keeps each order's events in ``seq``
  order within the feed.

The price: a transaction that stays open holds the feed back (not the per-order
streams) until it ends. On SQLite, writers are serialised, so row ids are assigned in
commit order; ``feed_xid`` is always 0 there and the feed pages by id alone.
"""

import re
from typing import Any, NamedTuple

from django.db import models

from tracking.errors import BadPosition

POSITION_PATTERN = re.compile(r"(\d{1,19})-(\d{1,19})")


class FeedPosition(NamedTuple):
    """Where a client is in the feed: the last ``(feed_xid, id)`` it received."""

    xid: int
    id: int

    def __str__(self) -> str:
        return f"{self.xid}-{self.id}"

    @classmethod
    def parse(cls, text: str, where: str) -> "FeedPosition":
        """Read a position as the feed sends it in ``id:``; empty means the start."""
        if text == "":
            return START
        found = POSITION_PATTERN.fullmatch(text)
        if found is None or not text.isascii():
            raise BadPosition(
                f"{where} must be a feed event id: two whole numbers joined by a dash, "
                "such as 7419-1034."
            )
        return cls(int(found.group(1)), int(found.group(2)))


START = FeedPosition(0, 0)


class TransactionId(models.Func):
    """The id of the current transaction on Postgres (assigning one); 0 elsewhere."""

    output_field = models.BigIntegerField()
    template = "0"

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return "pg_current_xact_id()::text::bigint", []


class VisibleHorizon(models.Func):
    """The ``feed_xid`` below which every row is final in the current snapshot.

    On Postgres it is the snapshot's ``xmin``; it must be evaluated in the same
    statement that reads the rows, so that both see one snapshot. Elsewhere every
    row's ``feed_xid`` is 0 and committed rows are final, so it is 1.
    """

    output_field = models.BigIntegerField()
    template = "1"

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return "pg_snapshot_xmin(pg_current_snapshot())::text::bigint", []
