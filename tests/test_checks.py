"""System checks name the setting to fix; streaming refuses to run under WSGI."""

import pytest
from django.test import Client, override_settings

from tracking import checks


def ids(messages) -> list[str]:
    return [message.id for message in messages]


def test_the_demo_project_passes_every_check():
    assert checks.check_order_model(None) == []
    assert checks.check_serving(None) == []
    assert checks.check_settings(None) == []


@override_settings(TRACKING_ORDER_MODEL="shop.Missing")
def test_a_missing_order_model_is_explained():
    messages = checks.check_order_model(None)

    assert ids(messages) == ["tracking.E003"]
    assert "TRACKING_ORDER_MODEL" in messages[0].msg


@override_settings(TRACKING_ORDER_MODEL="auth.User")
def test_an_order_model_without_the_needed_fields_is_explained():
    messages = checks.check_order_model(None)

    assert ids(messages) == ["tracking.E004"]
    assert "reference" in messages[0].msg


def test_the_stock_gzip_middleware_is_flagged(settings):
    settings.MIDDLEWARE = [
        "django.middleware.gzip.GZipMiddleware",
        *settings.MIDDLEWARE,
    ]

    assert "tracking.W001" in ids(checks.check_serving(None))


def test_our_gzip_middleware_is_not_flagged(settings):
    settings.MIDDLEWARE = ["tracking.middleware.GZipMiddleware", *settings.MIDDLEWARE]

    assert "tracking.W001" not in ids(checks.check_serving(None))


def test_a_project_without_asgi_is_warned(settings):
    del settings.ASGI_APPLICATION

    assert "tracking.W002" in ids(checks.check_serving(None))


def test_a_pooled_database_without_a_listener_dsn_is_warned(settings):
    from django.db import connections

    database = connections["default"].settings_dict
    database["DISABLE_SERVER_SIDE_CURSORS"] = True
    try:
        assert "tracking.W003" in ids(checks.check_serving(None))
        settings.TRACKING = {**settings.TRACKING, "LISTENER_DSN": "dbname=direct"}
        assert "tracking.W003" not in ids(checks.check_serving(None))
    finally:
        database["DISABLE_SERVER_SIDE_CURSORS"] = False


def test_unknown_and_bad_tracking_settings_are_errors(settings):
    settings.TRACKING = {"HEARTBEAT_SECONDS": 0, "HEARTBEATS": 5}

    assert sorted(ids(checks.check_settings(None))) == [
        "tracking.E001",
        "tracking.E002",
    ]


@pytest.mark.django_db
def test_a_stream_requested_through_wsgi_gets_a_clear_500():
    response = Client().get("/orders/ord_anything/events")

    assert response.status_code == 500
    assert b"not running ASGI" in response.content


def test_a_shop_rule_that_cannot_be_imported_is_an_error(settings):
    settings.TRACKING = {"MAY_FOLLOW": "shop.rules.missing"}

    assert ids(checks.check_access_rule(None)) == ["tracking.E005"]
    settings.TRACKING = {"MAY_FOLLOW": "tests.rules.couriers_may_follow"}
    assert checks.check_access_rule(None) == []
