"""Keeping stream tokens out of logs.

Browsers' EventSource can only send a token in the URL (``?token=``), and servers'
access logs print URLs. ``RedactTokens`` masks the value of every ``token`` query
parameter in a log record; the app adds it to the access loggers of uvicorn (also used
by gunicorn's uvicorn worker) and of ``runserver`` when it starts. Add it to any other
logger that prints request URLs.
"""

import logging
import re
from collections.abc import Mapping
from urllib.parse import unquote_plus

MASK = "[redacted]"
ACCESS_LOGGERS = ("uvicorn.access", "django.server")

# A name=value pair of a query string: what follows "?" or "&" up to the next
# separator, space or quote (access log lines quote the request line).
QUERY_PAIR = re.compile(r"(?<=[?&;])([^=&;#\s\"']*)=([^&;#\s\"']*)")


def redact(text: str) -> str:
    """Return ``text`` with the value of every ``token`` query parameter masked.

    The name is compared after percent-decoding, as Django reads it, so an encoded
    ``t%6Fken=`` is masked too.
    """
    return QUERY_PAIR.sub(_mask, text)


def _mask(match: re.Match[str]) -> str:
    name = match.group(1)
    if unquote_plus(name).strip().lower() != "token":
        return match.group(0)
    return f"{name}={MASK}"


class RedactTokens(logging.Filter):
    """A logging filter that masks tokens in a record's message and arguments.

    It changes the record rather than dropping it, and must sit on the logger (not
    on one handler) to cover every handler the record reaches.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, Mapping):
            record.args = {key: _redacted(value) for key, value in record.args.items()}
        elif isinstance(record.args, tuple):
            record.args = tuple(_redacted(value) for value in record.args)
        return True


def _redacted(value: object) -> object:
    return redact(value) if isinstance(value, str) else value


def install() -> None:
    """Add ``RedactTokens`` to the access loggers that lack it."""
    for name in ACCESS_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())
