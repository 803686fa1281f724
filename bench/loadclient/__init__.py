"""A load client that holds thousands of SSE streams on a few processes.

Each worker process runs one asyncio loop over raw transports and parses only what a
benchmark needs: the status line, chunked framing, and the ``id:`` and ``data:``
fields. Heavier HTTP libraries would saturate the client before the server.
"""

from bench.loadclient.pool import LoadClient, StreamSpec, WorkerReport

__all__ = ["LoadClient", "StreamSpec", "WorkerReport"]
