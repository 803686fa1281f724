"""Who may follow which order: staff, the order's customer, or a stream token.

A stream token is signed with the project's ``SECRET_KEY`` (Django's signing
framework), names one order by its public reference, and carries its own expiry.
Every connection and every reconnect is authorised again.
"""

import time
from dataclasses import dataclass
from typing import Any

from django.core import signing
from django.http import HttpRequest

from tracking import conf
from tracking.errors import TrackingError

SALT = "tracking.stream-token"


class AccessDenied(TrackingError):
    """The request may not follow this order; ``status`` is the HTTP answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


NOT_FOUND_REASON = "No such order, or you may not follow it."


def not_found() -> AccessDenied:
    """The one answer for a missing order, a foreign one and a forged token alike."""
    return AccessDenied(404, NOT_FOUND_REASON)


@dataclass(frozen=True, slots=True)
class Grant:
    """Why a request may follow an order, and until when (epoch seconds, or None)."""

    reason: str
    expires_at: float | None = None


def make_token(order: Any, lifetime_seconds: float | None = None) -> str:
    """Return a token that lets its holder follow ``order`` for ``lifetime_seconds``."""
    if lifetime_seconds is None:
        lifetime_seconds = conf.get("TOKEN_MAX_AGE_SECONDS")
    payload = {"o": order.reference, "x": int(time.time() + lifetime_seconds)}
    return signing.dumps(payload, salt=SALT, compress=False)


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
    try:
        payload = signing.loads(token, salt=SALT)
    except signing.BadSignature:
        raise not_found() from None
    if not isinstance(payload, dict) or payload.get("o") != reference:
        raise not_found()
    expires_at = payload.get("x")
    if not isinstance(expires_at, int):
        raise not_found()
    if expires_at <= time.time():
        raise AccessDenied(401, "The stream token has expired; ask for a new link.")
    return Grant("token", float(expires_at))


async def check_user(user: Any, order: Any) -> Grant:
    """Return the grant of a signed-in staff member or of the order's customer."""
    meta = order._meta
    if user.is_staff and await user.ahas_perm(
        f"{meta.app_label}.view_{meta.model_name}"
    ):
        return Grant("staff")
    customer_field = conf.get("CUSTOMER_FIELD")
    customer_id = getattr(order, f"{customer_field}_id", None)
    if customer_id is not None and customer_id == user.pk:
        return Grant("customer")
    raise not_found()
