"""A shop's own rule (TRACKING["MAY_FOLLOW"]) lets more signed-in people follow."""

from typing import Any

import httpx
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client

from tests.conftest import database_url
from tests.e2e.servers import Server
from tests.e2e.streams import read_all

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


@pytest.fixture
def backend() -> str:
    """Postgres: the test client stores sessions in the default database."""
    return "postgres"


def session_cookie(alias: str, username: str, groups: list[str]) -> dict[str, str]:
    user = get_user_model().objects.db_manager(alias).create_user(username)
    for name in groups:
        user.groups.add(Group.objects.using(alias).get_or_create(name=name)[0])
    client = Client()
    client.force_login(user)
    return {"Cookie": f"sessionid={client.cookies['sessionid'].value}"}


@pytest.mark.parametrize(
    "rule, courier_status",
    [("tests.rules.couriers_may_follow", 200), ("tests.rules.nobody_else", 404)],
)
def test_the_shops_rule_decides_for_other_signed_in_users(
    make_order: Any, alias: str, rule: str, courier_status: int
) -> None:
    server = Server(database_url(alias), {"MAY_FOLLOW": rule}, name="rule").start()
    try:
        order = make_order()
        from tracking.recording import record_event

        record_event(order, "delivered", status="delivered")
        url = server.url(f"/orders/{order.reference}/events")
        courier = session_cookie(alias, "courier", ["couriers"])
        stranger = session_cookie(alias, "stranger", [])

        assert httpx.get(url, headers=stranger).status_code == 404
        if courier_status == 200:
            assert read_all(url, courier).ids() == [1, 2]
        else:
            assert httpx.get(url, headers=courier).status_code == 404
    finally:
        server.stop()
