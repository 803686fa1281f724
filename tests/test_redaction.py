"""Tokens are masked in log lines, whatever the logger and however the URL spells it."""

import logging

import pytest

from tracking.redaction import RedactTokens, redact


@pytest.mark.parametrize(
    "text, expected",
    [
        ("/orders/o/events?token=abc:def", "/orders/o/events?token=[redacted]"),
        (
            "/orders/o/events?lastEventId=3&token=abc:def&x=1",
            "/orders/o/events?lastEventId=3&token=[redacted]&x=1",
        ),
        ("/e?TOKEN=abc", "/e?TOKEN=[redacted]"),
        ("/e?t%6Fken=abc", "/e?t%6Fken=[redacted]"),
        ("/e?token=abc&token=def", "/e?token=[redacted]&token=[redacted]"),
        ('"GET /e?token=abc HTTP/1.1" 200', '"GET /e?token=[redacted] HTTP/1.1" 200'),
        ("/e?tokens=abc&mytoken=def", "/e?tokens=abc&mytoken=def"),
        ("/e?token=", "/e?token=[redacted]"),
        ("no query here", "no query here"),
    ],
)
def test_every_token_value_is_masked_and_nothing_else(text, expected):
    assert redact(text) == expected


def test_the_filter_masks_uvicorn_style_arguments(caplog):
    logger = logging.getLogger("tests.redaction")
    logger.addFilter(RedactTokens())
    args = ("127.0.0.1:5000", "GET", "/orders/o/events?token=abc:def", "1.1", 200)

    with caplog.at_level(logging.INFO, logger="tests.redaction"):
        logger.info('%s - "%s %s HTTP/%s" %d', *args)
        logger.info("Asked for %(url)s", {"url": "/e?token=abc:def"})
        logger.info("Raw /e?token=abc:def")

    assert "abc:def" not in caplog.text
    assert caplog.records[0].args[4] == 200
    assert caplog.text.count("token=[redacted]") == 3


def test_the_access_loggers_have_the_filter():
    for name in ("uvicorn.access", "django.server"):
        filters = logging.getLogger(name).filters
        assert [f for f in filters if isinstance(f, RedactTokens)], name
