"""Caps on the streams one holder keeps open at once: per user, token and address.

Each server process counts its own streams, in memory: with four processes behind a
balancer a holder may have up to four times the limit open. That bounds what one
holder can take from a process without shared state to keep or to clean up after a
crash.

The client address is the connection's peer, unless that peer is one of
``TRUSTED_PROXIES``: only then is ``X-Forwarded-For`` read, from the right, skipping
the trusted proxies, so no client can choose its own address by sending the header.
"""

import ipaddress
import logging
import weakref
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from functools import lru_cache

from django.http import HttpRequest

from tracking import conf
from tracking.errors import TrackingError

logger = logging.getLogger(__name__)

Key = tuple[str, str]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

SETTINGS = {
    "user": "MAX_STREAMS_PER_USER",
    "token": "MAX_STREAMS_PER_TOKEN",
    "address": "MAX_STREAMS_PER_ADDRESS",
}
HOLDERS = {
    "user": "your account",
    "token": "this link",
    "address": "your network address",
}


class TooManyStreams(TrackingError):
    """The holder already has as many streams open as its limit allows."""

    @property
    def retry_after(self) -> int:
        """Seconds the client should wait before it tries again."""
        return int(conf.get("LIMIT_RETRY_AFTER_SECONDS"))


class Lease:
    """The slots one open stream holds; releasing twice is harmless."""

    def __init__(self, limiter: "Limiter", keys: list[Key]) -> None:
        self._limiter = limiter
        self._keys = keys

    def release(self) -> None:
        """Give the slots back; later calls do nothing."""
        keys, self._keys = self._keys, []
        self._limiter.release(keys)


class Limiter:
    """This process's count of open streams per holder."""

    def __init__(self) -> None:
        self.open: Counter[Key] = Counter()

    def acquire(self, keys: Iterable[Key]) -> Lease:
        """Take one slot for each key, or none at all and raise ``TooManyStreams``.

        Nothing awaits between the check and the count, so on the event loop two
        requests cannot both take the last slot.
        """
        keys = list(keys)
        for key in keys:
            limit = conf.get(SETTINGS[key[0]])
            if limit is not None and self.open[key] >= limit:
                logger.info("Refused a stream: the %s limit of %s.", key[0], limit)
                raise TooManyStreams(
                    f"Too many streams are open for {HOLDERS[key[0]]}: at most "
                    f"{limit} at once. Close one, or try again in "
                    f"{conf.get('LIMIT_RETRY_AFTER_SECONDS')} seconds."
                )
        self.open.update(keys)
        return Lease(self, keys)

    def release(self, keys: Iterable[Key]) -> None:
        """Free one slot for each key."""
        for key in keys:
            self.open[key] -= 1
            if self.open[key] <= 0:
                del self.open[key]


limiter = Limiter()


def hold(lease: Lease, stream: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Return ``stream`` wrapped so that its end, however it comes, frees ``lease``.

    The server may drop a response before it reads its first byte; the wrapper is
    then never started and its ``finally`` never runs, so the lease is also freed
    when the wrapper is garbage-collected.
    """
    held = _held(lease, stream)
    weakref.finalize(held, lease.release)
    return held


async def _held(lease: Lease, stream: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    try:
        async for chunk in stream:
            yield chunk
    finally:
        lease.release()


def client_address(request: HttpRequest) -> str:
    """Return the address of the client, as far as a trusted party vouches for it.

    Each trusted proxy appends the address it saw to ``X-Forwarded-For``, so the
    header is read from its end: the first address that is not a trusted proxy is
    the client. Anything left of that was written by the client and is ignored.
    """
    peer = request.META.get("REMOTE_ADDR", "")
    trusted = _trusted_networks(tuple(conf.get("TRUSTED_PROXIES")))
    if not _within(peer, trusted):
        return peer
    address = peer
    forwarded = request.headers.get("X-Forwarded-For", "").split(",")
    for hop in reversed(forwarded):
        parsed = _parse(hop.strip())
        if parsed is None:
            break
        address = str(parsed)
        if not _within(address, trusted):
            break
    return address


@lru_cache(maxsize=8)
def _trusted_networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def _within(address: str, networks: tuple[Network, ...]) -> bool:
    if not networks:
        return False
    parsed = _parse(address)
    return parsed is not None and any(parsed in network for network in networks)


def _parse(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    # An IPv4 peer seen through an IPv6 socket is compared as the IPv4 address it is.
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address
