"""gunicorn settings for serving the streams with uvicorn workers.

    gunicorn -c python:config.gunicorn config.asgi:application

Command-line options (``--bind``, ``--workers``, ``--graceful-timeout``...) override
what is set here. The worker class is the point of this file. The app ends its
streams itself on SIGTERM (``tracking.live.shutdown``), but the stock
``uvicorn_worker.UvicornWorker`` gives uvicorn no graceful shutdown timeout, so
anything else still running (a request stuck in its view) holds a stopping worker
until gunicorn kills it at ``graceful_timeout`` with SIGKILL.
"""

from typing import Any

from uvicorn_worker import UvicornWorker

bind = "127.0.0.1:8000"
worker_class = "config.gunicorn.StreamingUvicornWorker"
# How long a stopping worker may take before gunicorn kills it.
graceful_timeout = 30

# What a worker keeps for itself out of ``graceful_timeout``: uvicorn cancels the
# remaining streams this long before gunicorn would kill the worker, so it still
# closes its sockets and exits on its own.
SHUTDOWN_MARGIN_SECONDS = 3.0


def stream_grace(graceful_timeout: float) -> float:
    """Return uvicorn's graceful shutdown timeout for gunicorn's ``graceful_timeout``.

    A few seconds less, but never under one second: the streams have ended by then,
    and clients resume elsewhere with ``Last-Event-ID`` anyway.
    """
    return max(1.0, graceful_timeout - SHUTDOWN_MARGIN_SECONDS)


class StreamingUvicornWorker(UvicornWorker):
    """A uvicorn worker that stops before gunicorn's SIGKILL."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.config.timeout_graceful_shutdown = stream_grace(self.cfg.graceful_timeout)
