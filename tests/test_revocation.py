"""Revoking an order's links, and renewing a token for a long-following client."""

import subprocess
import sys

import pytest

from tests.conftest import database_url, expired_token
from tracking.access import (
    AccessDenied,
    check_not_revoked,
    check_token,
    make_token,
    renew_token,
)
from tracking.models import LinkRevocation
from tracking.revocation import revoke_links, revoked_until

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


def test_tokens_issued_before_a_revocation_are_refused_and_later_ones_work(
    make_order, alias
):
    order = make_order()
    earlier = check_token(make_token(order), order.reference)

    revoke_links(order)
    later = check_token(make_token(order), order.reference)
    revoked_at = revoked_until(order.pk, alias)

    with pytest.raises(AccessDenied) as refused:
        check_not_revoked(earlier, revoked_at)
    check_not_revoked(later, revoked_at)
    assert refused.value.status == 401
    assert "revoked" in refused.value.reason


def test_revoking_again_moves_the_time_on_and_touches_no_other_order(make_order, alias):
    order, other = make_order(), make_order()

    first = revoke_links(order)
    second = revoke_links(order)

    assert first < second
    assert LinkRevocation.objects.using(alias).get(order_id=order.pk).revoked_at == (
        second
    )
    assert revoked_until(other.pk, alias) is None


@pytest.mark.parametrize("backend", ["postgres"])
def test_a_valid_token_is_renewed_for_the_same_order(make_order):
    order = make_order()

    renewed = renew_token(make_token(order, 60), 3600)

    grant = check_token(renewed, order.reference)
    assert grant.expires_at is not None
    assert (
        grant.expires_at
        > check_token(make_token(order, 60), order.reference).expires_at
    )


@pytest.mark.parametrize("backend", ["postgres"])
def test_a_token_that_is_not_valid_cannot_be_renewed(make_order):
    order = make_order()
    expired = expired_token(order, 1)
    earlier = make_token(order)
    revoke_links(order)

    for token, status in ((expired, 401), (earlier, 401), ("forged:token", 404)):
        with pytest.raises(AccessDenied) as refused:
            renew_token(token)
        assert refused.value.status == status


def run_command(alias, *args):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        capture_output=True,
        text=True,
        env={"DATABASE_URL": database_url(alias), "PATH": "/usr/bin:/bin"},
        timeout=60,
    )


def test_the_revoke_links_command_revokes_each_order_it_names(make_order, alias):
    orders = [make_order(), make_order()]
    untouched = make_order()

    done = run_command(alias, "revoke_links", *(o.reference for o in orders))
    unknown = run_command(alias, "revoke_links", untouched.reference, "ord_nosuch")

    assert done.returncode == 0, done.stderr
    named = sorted(line.split(":")[0] for line in done.stdout.splitlines())
    assert named == sorted(o.reference for o in orders)
    assert all(revoked_until(o.pk, alias) is not None for o in orders)
    assert unknown.returncode != 0
    assert "ord_nosuch" in unknown.stderr
    assert revoked_until(untouched.pk, alias) is None
