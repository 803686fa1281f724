"""Every way a stream request can be refused, over real HTTP, on SQLite and Postgres.

Each refusal is checked for its status, a readable one-sentence reason, the absence
of any other order's data, and a server that still streams to a good client after it.
Limits, revocation, CORS and the access log follow, on a server with small limits.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from django.contrib.auth import (
    BACKEND_SESSION_KEY,
    HASH_SESSION_KEY,
    SESSION_KEY,
    get_user_model,
)
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.core import signing
from django.utils import timezone
from django.utils.crypto import get_random_string

from tests.conftest import database_url, expired_token, servers_per_backend
from tests.e2e.servers import Server
from tests.e2e.streams import Recorder, read_all, wait_until
from tracking.access import NOT_FOUND_REASON, SALT, make_token, renew_token
from tracking.recording import record_event
from tracking.revocation import revoke_links

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

SHOP = "https://shop.example"
STRANGER = "https://stranger.example"
# Another customer's data, which no refused request may ever see.
SECRET = "Flat 4, 17 Quiet Lane"
GUARDED = {
    "MAX_STREAMS_PER_TOKEN": 2,
    "MAX_STREAMS_PER_USER": 2,
    "MAX_STREAMS_PER_ADDRESS": 6,
    "CORS_ALLOWED_ORIGINS": [SHOP],
}


@pytest.fixture(scope="module")
def guarded_servers(
    django_db_setup: Any, django_db_blocker: Any
) -> Iterator[dict[str, Server]]:
    """One server per backend with small stream limits and one allowed origin."""
    yield from servers_per_backend(django_db_blocker, "guarded", GUARDED)


@pytest.fixture
def guarded(guarded_servers: dict[str, Server], backend: str) -> Server:
    return guarded_servers[backend]


@pytest.fixture
def bystander(make_order: Any) -> Any:
    """Another customer's finished order (events 1..3) holding ``SECRET``."""
    order = make_order()
    record_event(order, "note", {"address": SECRET})
    record_event(order, "delivered", status="delivered")
    return order


@pytest.fixture
def login(alias: str) -> Callable[..., tuple[Any, dict[str, str]]]:
    """Make a user and a signed-in session for it; return both, the session as the
    ``Cookie`` header a browser would send."""

    def make(**fields: Any) -> tuple[Any, dict[str, str]]:
        users = get_user_model().objects.db_manager(alias)
        user = users.create_user(username=get_random_string(12), **fields)
        return user, {"Cookie": f"sessionid={session_for(user, alias)}"}

    return make


def session_for(user: Any, alias: str) -> str:
    """Store a signed-in session of ``user`` where the server reads it."""
    data = {
        SESSION_KEY: str(user.pk),
        BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
        HASH_SESSION_KEY: user.get_session_auth_hash(),
    }
    key = get_random_string(32, "abcdefghijklmnopqrstuvwxyz0123456789")
    Session.objects.using(alias).create(
        session_key=key,
        session_data=SessionStore().encode(data),
        expire_date=timezone.now() + timedelta(hours=1),
    )
    return key


def events_path(order: Any) -> str:
    return f"/orders/{order.reference}/events"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def forged(token: str) -> str:
    """Return ``token`` with the last character of its signature changed."""
    return token[:-1] + ("B" if token.endswith("A") else "A")


def foreign_key_token(order: Any) -> str:
    """A well-formed token for ``order`` signed with a key that is not the server's."""
    payload = {"o": order.reference, "i": 0, "x": 2**40}
    return signing.dumps(payload, key="not-the-server-key", salt=SALT)


def assert_readable(response: httpx.Response) -> None:
    """The body is one plain-text sentence a person can act on."""
    assert response.headers["content-type"].startswith("text/plain")
    sentence = response.text.removesuffix("\n")
    assert "\n" not in sentence
    assert sentence.isascii() and sentence.isprintable()
    assert 15 < len(sentence) < 200
    assert sentence[0].isupper() and sentence.endswith(".")


def assert_no_leak(response: httpx.Response, other: Any) -> None:
    """Nothing of another order, and no event of any order, is in the answer."""
    shown = response.text + "".join(f"{k}: {v}\n" for k, v in response.headers.items())
    assert SECRET not in shown
    assert other.reference not in shown
    assert "data:" not in response.text


def assert_still_streams(server: Server, order: Any) -> None:
    """A good client of ``order`` (the bystander) still gets its whole stream."""
    good = read_all(server.url(events_path(order)), bearer(make_token(order)))
    assert good.error is None
    assert good.status == 200
    assert good.ids() == [1, 2, 3]
    assert good.events[1].json()["address"] == SECRET
    assert server.health()["database"] is True


def open_streams(url: str, headers: dict[str, str], count: int) -> list[Recorder]:
    streams = [Recorder(url, headers).start() for _ in range(count)]
    for stream in streams:
        stream.wait_for_events(1)
        assert stream.status == 200
    return streams


def close(streams: list[Recorder], server: Server) -> None:
    """Drop the streams and wait until the server has let every one go."""
    for stream in streams:
        stream.stop()
    wait_until(lambda: server.health()["streams"] == 0, 15, "every stream closed")


@dataclass(frozen=True)
class Context:
    """What a case builds its request from."""

    order: Any
    other: Any
    login: Callable[..., tuple[Any, dict[str, str]]]


@dataclass(frozen=True)
class Case:
    """One bad request and the answer it must get."""

    name: str
    status: int
    reason: str
    build: Callable[[Context], dict[str, Any]]
    header: tuple[str, str] | None = None


def get(
    path: str,
    headers: dict[str, str] | None = None,
    params: dict[str, Any] | None = None,
    method: str = "GET",
) -> dict[str, Any]:
    return {"method": method, "path": path, "headers": headers or {}, "params": params}


def at(context: Context, **kwargs: Any) -> dict[str, Any]:
    """A request for the context's order with a valid token."""
    return get(events_path(context.order), bearer(make_token(context.order)), **kwargs)


def revoked(context: Context) -> dict[str, Any]:
    token = make_token(context.order)
    revoke_links(context.order)
    return get(events_path(context.order), bearer(token))


def position(value: str) -> Callable[[Context], dict[str, Any]]:
    return lambda c: at(c, params={"lastEventId": value})


def method(name: str) -> Callable[[Context], dict[str, Any]]:
    return lambda c: at(c, method=name)


def padded(size: int) -> Callable[[Context], dict[str, Any]]:
    return lambda c: get(
        events_path(c.order), {**bearer(make_token(c.order)), "X-Padding": "a" * size}
    )


BEARER = ("www-authenticate", "Bearer")
ALLOW = ("allow", "GET, HEAD")
CASES = [
    Case("no credentials", 401, "Sign in", lambda c: get(events_path(c.order)), BEARER),
    Case(
        "an unknown authorization scheme",
        401,
        "Sign in",
        lambda c: get(events_path(c.order), {"Authorization": "Basic ZGVtbzpkZW1v"}),
        BEARER,
    ),
    Case(
        "an expired token",
        401,
        "expired",
        lambda c: get(events_path(c.order), bearer(expired_token(c.order))),
        BEARER,
    ),
    Case(
        "an expired token in the query",
        401,
        "expired",
        lambda c: get(events_path(c.order), params={"token": expired_token(c.order)}),
        BEARER,
    ),
    Case("a revoked token", 401, "revoked", revoked, BEARER),
    Case(
        "a forged token",
        404,
        NOT_FOUND_REASON,
        lambda c: get(events_path(c.order), bearer(forged(make_token(c.order)))),
    ),
    Case(
        "a token signed with another key",
        404,
        NOT_FOUND_REASON,
        lambda c: get(events_path(c.order), bearer(foreign_key_token(c.order))),
    ),
    Case(
        "a token that is not one",
        404,
        NOT_FOUND_REASON,
        lambda c: get(events_path(c.order), bearer("not-a-token")),
    ),
    Case(
        "a 20,000-character token",
        404,
        NOT_FOUND_REASON,
        lambda c: get(events_path(c.order), bearer("A" * 20_000)),
    ),
    Case(
        "another order's token",
        404,
        NOT_FOUND_REASON,
        lambda c: get(events_path(c.order), bearer(make_token(c.other))),
    ),
    Case(
        "a missing order",
        404,
        NOT_FOUND_REASON,
        lambda c: get("/orders/ord_doesnotexist00/events", bearer(make_token(c.order))),
    ),
    Case(
        "an absurdly long reference",
        404,
        NOT_FOUND_REASON,
        lambda c: get(f"/orders/{'a' * 20_000}/events", bearer(make_token(c.order))),
    ),
    Case(
        "a non-ASCII reference",
        404,
        NOT_FOUND_REASON,
        lambda c: get("/orders/ord_é١٢/events", bearer(make_token(c.order))),
    ),
    Case(
        "another customer's session",
        404,
        NOT_FOUND_REASON,
        lambda c: get(events_path(c.order), c.login()[1]),
    ),
    Case(
        "staff without the view permission",
        404,
        NOT_FOUND_REASON,
        lambda c: get(events_path(c.order), c.login(is_staff=True)[1]),
    ),
    Case("a negative position", 400, "event id", position("-1")),
    Case("a position in exponent form", 400, "event id", position("1e3")),
    Case("a position that is a word", 400, "event id", position("abc")),
    Case("a position in non-ASCII digits", 400, "event id", position("١٢")),
    Case("a position of 5,000 digits", 400, "event id", position("1" * 5000)),
    Case(
        "a Last-Event-ID header of 5,000 digits",
        400,
        "event id",
        lambda c: get(
            events_path(c.order),
            {**bearer(make_token(c.order)), "Last-Event-ID": "9" * 5000},
        ),
    ),
    Case(
        "repeated positions that disagree",
        400,
        "twice",
        lambda c: at(c, params={"lastEventId": ["1", "2"]}),
    ),
    Case("POST", 405, "Only GET and HEAD", method("POST"), ALLOW),
    Case("PUT", 405, "Only GET and HEAD", method("PUT"), ALLOW),
    Case("DELETE", 405, "Only GET and HEAD", method("DELETE"), ALLOW),
    Case(
        "OPTIONS, not a preflight", 405, "Only GET and HEAD", method("OPTIONS"), ALLOW
    ),
    Case("a 64 KiB header", 431, "too large", padded(64 * 1024)),
    Case("a 1 MiB header", 431, "too large", padded(1024 * 1024)),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_a_bad_request_gets_its_answer_and_harms_nothing(
    guarded, make_order, bystander, login, case
):
    context = Context(make_order(), bystander, login)
    request = case.build(context)

    response = httpx.request(
        request["method"],
        guarded.url(request["path"]),
        headers=request["headers"],
        params=request["params"],
        timeout=10,
    )

    assert response.status_code == case.status
    assert case.reason in response.text
    assert_readable(response)
    if case.header is not None:
        name, start = case.header
        assert response.headers[name].startswith(start)
    assert_no_leak(response, bystander)
    assert_still_streams(guarded, bystander)


def test_streams_beyond_the_token_limit_get_429(guarded, make_order, bystander):
    order = make_order()
    url, headers = guarded.url(events_path(order)), bearer(make_token(order))
    streams = open_streams(url, headers, 2)

    refused = httpx.get(url, headers=headers, timeout=10)
    head = httpx.head(url, headers=headers, timeout=10)
    streams[0].stop()
    wait_until(lambda: guarded.health()["streams"] == 1, 15, "one stream closed")
    head_with_room = httpx.head(url, headers=headers, timeout=10)
    again = open_streams(url, headers, 1)
    close([*streams, *again], guarded)

    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "30"
    assert "this link" in refused.text
    # HEAD answers as GET would, and holds no slot: the GET after it got in.
    assert (head.status_code, head_with_room.status_code) == (429, 200)
    assert_readable(refused)
    assert_no_leak(refused, bystander)
    assert_still_streams(guarded, bystander)


def test_streams_beyond_the_user_limit_get_429(guarded, make_order, bystander, login):
    customer, cookie = login()
    order = make_order(customer=customer)
    url = guarded.url(events_path(order))
    streams = open_streams(url, cookie, 2)

    refused = httpx.get(url, headers=cookie, timeout=10)
    close(streams, guarded)

    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "30"
    assert "your account" in refused.text
    assert_readable(refused)
    assert_no_leak(refused, bystander)
    assert_still_streams(guarded, bystander)


def test_streams_beyond_the_address_limit_get_429_whatever_the_headers_say(
    guarded, make_order, bystander
):
    orders = [make_order() for _ in range(3)]
    streams = [
        stream
        for order in orders
        for stream in open_streams(
            guarded.url(events_path(order)), bearer(make_token(order)), 2
        )
    ]
    late = make_order()
    url, headers = guarded.url(events_path(late)), bearer(make_token(late))

    refused = httpx.get(url, headers=headers, timeout=10)
    spoofed = httpx.get(
        url, headers={**headers, "X-Forwarded-For": "203.0.113.7"}, timeout=10
    )
    close(streams, guarded)

    for response in (refused, spoofed):
        assert response.status_code == 429
        assert "network address" in response.text
        assert_readable(response)
        assert_no_leak(response, bystander)
    assert_still_streams(guarded, bystander)


@pytest.mark.parametrize("backend", ["sqlite"])
def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit(
    make_order, alias
):
    overrides = {"TRUSTED_PROXIES": ["127.0.0.1", "::1"], "MAX_STREAMS_PER_ADDRESS": 1}
    server = Server(database_url(alias), overrides, name="proxied").start()
    try:
        order = make_order()
        url = server.url(events_path(order))

        def via(chain: str) -> dict[str, str]:
            return {**bearer(make_token(order)), "X-Forwarded-For": chain}

        first = open_streams(url, via("198.51.100.1"), 1)
        same = httpx.get(url, headers=via("198.51.100.1"), timeout=10)
        # The client wrote the first entry itself; the proxy appended the second.
        disguised = httpx.get(url, headers=via("198.51.100.9, 198.51.100.1"))
        other = open_streams(url, via("198.51.100.2"), 1)
        close([*first, *other], server)
    finally:
        server.stop()

    assert same.status_code == 429
    assert disguised.status_code == 429


def test_revoking_refuses_earlier_links_only(guarded, make_order, bystander):
    order = make_order()
    url = guarded.url(events_path(order))
    earlier = [make_token(order), make_token(order, 60)]

    revoke_links(order)
    later = make_token(order)
    refused = [httpx.get(url, headers=bearer(token)) for token in earlier]
    refused.append(httpx.get(url, params={"token": earlier[0]}))
    streams = open_streams(url, bearer(later), 1)
    close(streams, guarded)

    for response in refused:
        assert response.status_code == 401
        assert "revoked" in response.text
        assert_readable(response)
    assert_still_streams(guarded, bystander)


def test_a_stream_ends_cleanly_when_its_token_expires_and_stays_shut(
    guarded, make_order
):
    order = make_order()
    url, headers = guarded.url(events_path(order)), bearer(make_token(order, 2))

    stream = read_all(url, headers)
    again = httpx.get(url, headers={**headers, "Last-Event-ID": "1"}, timeout=10)

    assert stream.error is None
    assert stream.status == 200
    assert stream.ids() == [1]
    assert again.status_code == 401
    assert "expired" in again.text


@pytest.mark.parametrize("backend", ["postgres"])
def test_a_renewed_token_keeps_a_long_following_client_going(guarded, make_order):
    """``renew_token`` reads the default database, which is the Postgres one here."""
    order = make_order()
    url = guarded.url(events_path(order))
    short = make_token(order, 30)

    renewed = renew_token(short, 3600)
    streams = open_streams(url, bearer(renewed), 1)
    close(streams, guarded)

    assert renewed != short


def test_a_preflight_from_the_shop_is_allowed_with_credentials(guarded, make_order):
    order = make_order()

    response = httpx.options(
        guarded.url(events_path(order)),
        headers={
            "Origin": SHOP,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization, last-event-id",
        },
    )

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == SHOP
    assert response.headers["access-control-allow-credentials"] == "true"
    allowed = response.headers["access-control-allow-headers"]
    assert "last-event-id" in allowed
    assert "authorization" in allowed


def test_a_preflight_from_another_origin_gets_no_cors_headers(guarded, make_order):
    order = make_order()

    response = httpx.options(
        guarded.url(events_path(order)),
        headers={"Origin": STRANGER, "Access-Control-Request-Method": "GET"},
    )

    assert not [name for name in response.headers if name.startswith("access-control")]


def test_the_shop_follows_live_across_origins(guarded, make_order):
    """django-cors-headers adds its headers without buffering the stream."""
    order = make_order()
    headers = {**bearer(make_token(order)), "Origin": SHOP}
    stream = Recorder(guarded.url(events_path(order)), headers).start()
    stream.wait_for_events(1)

    record_event(order, "note", {"message": "live"})
    stream.wait_for_events(2)
    record_event(order, "delivered", status="delivered")
    stream.wait_ended()

    assert stream.error is None
    assert stream.ids() == [1, 2, 3]
    assert stream.events[1].json()["message"] == "live"
    sent = stream.response_headers
    assert sent is not None
    assert sent["access-control-allow-origin"] == SHOP
    assert sent["access-control-allow-credentials"] == "true"
    assert "origin" in sent["vary"].lower()
    assert sent["content-type"] == "text/event-stream"
    assert "content-length" not in sent


def test_another_origin_gets_no_cors_headers(guarded, make_order, bystander):
    """The browser then keeps the answer from the other site's page."""
    stream = read_all(
        guarded.url(events_path(bystander)),
        {**bearer(make_token(bystander)), "Origin": STRANGER},
    )

    assert stream.status == 200
    assert stream.response_headers is not None
    assert "access-control-allow-origin" not in stream.response_headers
    assert "access-control-allow-credentials" not in stream.response_headers


def test_refusals_are_readable_by_the_shop_page(guarded, make_order):
    order = make_order()

    response = httpx.get(guarded.url(events_path(order)), headers={"Origin": SHOP})

    assert response.status_code == 401
    assert response.headers["access-control-allow-origin"] == SHOP


def test_only_streams_are_opened_to_other_origins(guarded):
    response = httpx.get(guarded.url("/tracking/health"), headers={"Origin": SHOP})

    assert "access-control-allow-origin" not in response.headers


def test_tokens_never_reach_the_server_log(guarded, make_order, bystander):
    valid = make_token(bystander)
    tokens = [valid, expired_token(bystander), forged(make_token(bystander))]
    url = guarded.url(events_path(bystander))
    before = guarded.log().count("=[redacted]")

    for token in tokens:
        httpx.get(url, params={"token": token}, timeout=10)
    httpx.get(url, headers=bearer(valid), timeout=10)
    httpx.get(f"{url}?t%6Fken={valid}", timeout=10)
    httpx.get(f"{url}?lastEventId=-1&token={valid}", timeout=10)
    wait_until(
        lambda: guarded.log().count("=[redacted]") >= before + len(tokens) + 2,
        10,
        "the access log lines",
    )

    log = guarded.log()
    for token in tokens:
        assert token not in log
        assert token.rpartition(":")[2] not in log  # not even the signature
    assert "t%6Fken=[redacted]" in log
