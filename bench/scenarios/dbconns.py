"""Database connections a server holds while many streams are open."""

from __future__ import annotations

import time

from bench.scenarios.common import Context, Figure, open_streams, stream_failures

STREAMS = 5_000
SAMPLES = 5
# Longer than our server keeps a helper reader's connection after a burst of reads
# (tracking.live.reader.HELPER_IDLE_SECONDS), so the opening burst has settled.
SETTLE_SECONDS = 4.0


def run(ctx: Context) -> list[Figure]:
    """Open the streams, then count the server's sessions in ``pg_stat_activity``:
    the most while the opening burst settles, then with the streams open and idle.

    Only servers backed by the benchmark's own Postgres database are measured. The
    figure is per server process; the peers run one process each.
    """
    count = ctx.size(STREAMS)
    label = f"DB connections per server process @{count} streams"
    database = ctx.server.database
    if database is None:
        return [Figure(label, None)]
    subs = ctx.server.subscriptions(count, "db")
    report = open_streams(ctx, subs)
    peak = 0
    for _ in range(SAMPLES):
        peak = max(peak, database.connections())
        time.sleep(0.5)
    time.sleep(SETTLE_SECONDS)
    held = database.connections()
    alive = ctx.client.status().open
    ctx.client.forget()
    time.sleep(2.0)
    after = database.connections()
    processes = max(1, ctx.proc.stat().processes)
    note = stream_failures(report)
    if alive < count:
        note = f"{alive} of {count} streams open; " + note
    return [
        Figure(
            f"DB connections per server process, just after opening {count} streams",
            peak / processes,
        ),
        Figure(label, held / processes, note=note.strip("; ")),
        Figure("DB connections 2 s after the streams closed", after / processes),
    ]
