"""System checks of the access settings: limits, trusted proxies and CORS."""

import pytest
from django.test import override_settings

from tracking.checks import check_access_settings

CORS_READY = {
    "CORS_ALLOW_HEADERS": ["authorization", "last-event-id"],
    "TRACKING": {"CORS_ALLOWED_ORIGINS": ["https://shop.example"]},
}


def ids(**overrides):
    with override_settings(**overrides):
        return [message.id for message in check_access_settings(None)]


def test_the_demo_settings_pass():
    assert ids() == []


@pytest.mark.parametrize(
    "tracking, expected",
    [
        ({"MAX_STREAMS_PER_USER": 0}, "tracking.E010"),
        ({"MAX_STREAMS_PER_TOKEN": "5"}, "tracking.E010"),
        ({"MAX_STREAMS_PER_ADDRESS": 2.5}, "tracking.E010"),
        ({"MAX_HEADER_BYTES": None}, "tracking.E010"),
        ({"TRUSTED_PROXIES": "10.0.0.1"}, "tracking.E011"),
        ({"TRUSTED_PROXIES": ["proxy.internal"]}, "tracking.E011"),
        ({"CORS_ALLOWED_ORIGINS": "https://shop.example"}, "tracking.E012"),
        ({"CORS_ALLOWED_ORIGINS": ["https://shop.example/"]}, "tracking.E012"),
        ({"CORS_ALLOWED_ORIGINS": ["shop.example"]}, "tracking.E012"),
    ],
)
def test_a_wrong_value_names_its_setting(tracking, expected):
    assert ids(TRACKING=tracking) == [expected]


def test_good_values_pass():
    tracking = {
        "MAX_STREAMS_PER_ADDRESS": 50,
        "MAX_STREAMS_PER_USER": None,
        "TRUSTED_PROXIES": ["127.0.0.1", "10.0.0.0/8", "::1"],
    }
    assert ids(TRACKING=tracking) == []


def test_listed_origins_with_everything_in_place_pass():
    assert ids(**CORS_READY) == []


def test_any_origin_with_credentials_is_refused():
    assert ids(CORS_ALLOW_ALL_ORIGINS=True) == ["tracking.E013"]


def test_listed_origins_need_the_cors_middleware(settings):
    middleware = [m for m in settings.MIDDLEWARE if "corsheaders" not in m]

    assert ids(MIDDLEWARE=middleware, **CORS_READY) == ["tracking.E014"]


def test_listed_origins_warn_when_resuming_would_be_blocked():
    assert ids(**{**CORS_READY, "CORS_ALLOW_HEADERS": ["authorization"]}) == [
        "tracking.W010"
    ]
