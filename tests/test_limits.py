"""Stream limits: the per-process count, and whose address a request comes from."""

import asyncio
import gc

import pytest
from django.test import RequestFactory, override_settings

from tracking.limits import Limiter, TooManyStreams, client_address, hold

PROXIES = {"TRUSTED_PROXIES": ["10.0.0.0/8", "2001:db8::/32"]}


def address(peer: str, forwarded: str | None = None) -> str:
    headers = {} if forwarded is None else {"HTTP_X_FORWARDED_FOR": forwarded}
    return client_address(RequestFactory().get("/", REMOTE_ADDR=peer, **headers))


@pytest.mark.parametrize(
    "peer, forwarded, expected",
    [
        ("203.0.113.5", None, "203.0.113.5"),
        ("203.0.113.5", "198.51.100.1", "203.0.113.5"),
        ("10.0.0.2", None, "10.0.0.2"),
        ("10.0.0.2", "198.51.100.1", "198.51.100.1"),
        ("10.0.0.2", "198.51.100.9, 198.51.100.1", "198.51.100.1"),
        ("10.0.0.2", "198.51.100.1, 10.0.0.7", "198.51.100.1"),
        ("10.0.0.2", "10.0.0.8, 10.0.0.7", "10.0.0.8"),
        ("10.0.0.2", "not-an-address", "10.0.0.2"),
        ("10.0.0.2", "198.51.100.1, bogus", "10.0.0.2"),
        ("10.0.0.2", "", "10.0.0.2"),
        ("::ffff:10.0.0.2", "198.51.100.1", "198.51.100.1"),
        ("2001:db8::1", "2606:4700::1, 2001:db8::5", "2606:4700::1"),
    ],
)
def test_forwarded_addresses_count_only_behind_a_trusted_proxy(
    peer, forwarded, expected
):
    with override_settings(TRACKING=PROXIES):
        assert address(peer, forwarded) == expected


def test_without_trusted_proxies_the_header_is_ignored():
    assert address("127.0.0.1", "198.51.100.1") == "127.0.0.1"


@override_settings(TRACKING={"MAX_STREAMS_PER_TOKEN": 2, "MAX_STREAMS_PER_USER": None})
def test_a_holder_gets_its_limit_and_no_more():
    limiter = Limiter()
    token, user = ("token", "t"), ("user", "1")

    leases = [limiter.acquire([token, user]) for _ in range(2)]
    with pytest.raises(TooManyStreams, match="this link: at most 2"):
        limiter.acquire([token, user])
    unlimited = [limiter.acquire([user]) for _ in range(50)]
    for lease in unlimited:
        lease.release()

    assert limiter.open == {token: 2, user: 2}
    leases[0].release()
    leases[0].release()
    assert limiter.open == {token: 1, user: 1}


@override_settings(TRACKING={"MAX_STREAMS_PER_TOKEN": 1})
def test_a_refusal_takes_no_slot():
    limiter = Limiter()
    limiter.acquire([("token", "t")])

    with pytest.raises(TooManyStreams):
        limiter.acquire([("address", "a"), ("token", "t")])

    assert limiter.open == {("token", "t"): 1}


def test_a_stream_frees_its_slots_when_it_ends_or_is_never_started():
    limiter = Limiter()

    async def body():
        yield b"retry: 3000\n\n"

    async def read_all() -> None:
        async for _ in hold(limiter.acquire([("token", "t")]), body()):
            pass

    asyncio.run(read_all())
    assert limiter.open == {}

    unread = hold(limiter.acquire([("token", "t")]), body())
    assert limiter.open == {("token", "t"): 1}
    del unread
    gc.collect()
    assert limiter.open == {}
