"""Who may follow which order: staff, the order's customer, or a stream token.

A stream token is signed with the project's ``SECRET_KEY`` (Django's signing
framework), names one order by its public reference, and carries when it was issued
(so that revoking an order's links can refuse it) and when it expires. Every
connection and every reconnect is authorised again.
"""

import hashlib
import inspect
import time
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from django.core import signing
from django.http import HttpRequest
from django.utils.module_loading import import_string

from tracking import conf
from tracking.errors import TrackingError
from tracking.ordermodel import get_order_model
from tracking.revocation import revoked_until

SALT = "tracking.stream-token"


class AccessDenied(TrackingError):
    """The request may not follow this order; ``status`` is the HTTP answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


NOT_FOUND_REASON = "No such order, or you may not follow it."
EXPIRED_REASON = "The stream token has expired; ask for a new link."
REVOKED_REASON = "This tracking link was revoked; ask the shop for a new one."


def not_found() -> AccessDenied:
    """The one answer for a missing order, a foreign one and a forged token alike."""
    return AccessDenied(404, NOT_FOUND_REASON)


# The longest a token may live, and an expiry no token made here can reach (year
# 5138), which keeps arithmetic on forged-but-signed payloads finite.
MAX_LIFETIME_SECONDS = 366 * 24 * 3600
LATEST_EXPIRY = 10**11


@dataclass(frozen=True, slots=True)
class Grant:
    """Why a request may follow an order, and for how long.

    ``holder`` names who holds the right, as ``(kind, id)``: ``("user", pk)`` for a
    session, ``("token", digest)`` for a token; the stream limits count by it.
    ``expires_at`` is in epoch seconds and ``issued_at`` (tokens only) in epoch
    microseconds.
    """

    reason: str
    holder: tuple[str, str]
    expires_at: float | None = None
    issued_at: int | None = None


def make_token(order: Any, lifetime_seconds: float | None = None) -> str:
    """Return a token that lets its holder follow ``order`` for ``lifetime_seconds``.

    The payload is the order's reference (``o``), the issue time in epoch
    microseconds (``i``, compared with revocations) and the expiry in epoch seconds
    (``x``).
    """
    if lifetime_seconds is None:
        lifetime_seconds = conf.get("TOKEN_MAX_AGE_SECONDS")
    if not 0 < lifetime_seconds <= MAX_LIFETIME_SECONDS:
        raise ValueError(
            "A token's lifetime must be more than 0 and at most "
            f"{MAX_LIFETIME_SECONDS} seconds (366 days)."
        )
    now = time.time_ns() // 1000
    payload = {
        "o": order.reference,
        "i": now,
        "x": int(now / 1_000_000 + lifetime_seconds),
    }
    return signing.dumps(payload, salt=SALT, compress=False)


def renew_token(token: str, lifetime_seconds: float | None = None) -> str:
    """Return a fresh token for the order of ``token``, which must still be valid.

    For a client that follows an order for longer than one token lives: before its
    token expires, the shop's page asks the shop's own view for a new one, and that
    view calls this. A revoked, expired or forged token raises ``AccessDenied``, so
    revoking an order's links also ends every chain of renewals.
    """
    reference = _payload(token)["o"]
    grant = check_token(token, reference)
    order = get_order_model()._base_manager.filter(reference=reference).first()
    if order is None:
        raise not_found()
    check_not_revoked(grant, revoked_until(order.pk))
    return make_token(order, lifetime_seconds)


def token_from_request(request: HttpRequest) -> str | None:
    """Return the token sent as ``Authorization: Bearer`` or as ``?token=``."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.GET.get("token") or None


def check_token(token: str, reference: str) -> Grant:
    """Return the grant of a valid token for ``reference``; refuse any other token.

    A forged token or one for another order is answered like a missing order, so a
    token never reveals whether an order exists. An expired one gets 401.
    """
    payload = _payload(token)
    if payload["o"] != reference:
        raise not_found()
    if payload["x"] <= time.time():
        raise AccessDenied(401, EXPIRED_REASON)
    return _grant(token, payload)


def check_not_revoked(grant: Grant, revoked_at: int | None) -> None:
    """Refuse a token issued at or before the order's links were revoked.

    The answer is 401, not the 404 of a forged token: the signature proves that its
    holder was once given this very order, so it reveals nothing new to them, and a
    customer learns to ask for a new link instead of thinking the order is gone.
    """
    if revoked_at is None or grant.issued_at is None:
        return
    if grant.issued_at <= revoked_at:
        raise AccessDenied(401, REVOKED_REASON)


def _payload(token: str) -> dict[str, Any]:
    """Return a genuine token's payload; anything else is answered as not found."""
    if not isinstance(token, str):
        raise not_found()
    try:
        payload = signing.loads(token, salt=SALT)
    except signing.BadSignature:
        raise not_found() from None
    if not isinstance(payload, dict):
        raise not_found()
    reference, issued, expires = (payload.get(key) for key in ("o", "i", "x"))
    if not (
        isinstance(reference, str)
        and isinstance(issued, int)
        and isinstance(expires, int)
        and 0 < expires < LATEST_EXPIRY
    ):
        raise not_found()
    return payload


def _grant(token: str, payload: dict[str, Any]) -> Grant:
    digest = hashlib.sha256(token.encode()).hexdigest()
    return Grant(
        "token",
        ("token", digest),
        expires_at=float(payload["x"]),
        issued_at=payload["i"],
    )


async def check_user(user: Any, order: Any) -> Grant:
    """Return the grant of a signed-in staff member or of the order's customer."""
    meta = order._meta
    if user.is_staff and await user.ahas_perm(
        f"{meta.app_label}.view_{meta.model_name}"
    ):
        return Grant("staff", ("user", str(user.pk)))
    customer_field = conf.get("CUSTOMER_FIELD")
    customer_id = getattr(order, f"{customer_field}_id", None)
    if customer_id is not None and customer_id == user.pk:
        return Grant("customer", ("user", str(user.pk)))
    if await _shop_allows(user, order):
        return Grant("shop", ("user", str(user.pk)))
    raise not_found()


async def _shop_allows(user: Any, order: Any) -> bool:
    """Ask the shop's own rule, ``TRACKING["MAY_FOLLOW"]``, if it has one.

    It is the dotted path of ``may_follow(user, order) -> bool``, plain or async, for
    the people a shop lets follow an order beyond staff and the customer (a company
    account's colleagues, a courier). A plain one runs in a worker thread, so it may
    use the ORM.
    """
    path = conf.get("MAY_FOLLOW")
    if not path:
        return False
    rule = import_string(path)
    if inspect.iscoroutinefunction(rule):
        return bool(await rule(user, order))
    return bool(await sync_to_async(rule)(user, order))
