"""When to reconnect, and when to stop trying.

The server's ``retry:`` value is the shortest wait, as the standard requires. On top of
it the wait grows exponentially while attempts keep failing, with random jitter so
that clients dropped together by a server restart do not all come back in the same
instant, and it is capped. A connection that delivers an event resets the growth.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

# A Retry-After longer than this is more likely a proxy's mistake than a plan; waiting
# longer would look like a hung client.
MAX_RETRY_AFTER_S = 3600.0

# After a failed attempt the wait grows from at least this, so that a server that
# sends ``retry: 0`` and then fails does not get hammered in a tight loop.
MIN_GROWTH_BASE_S = 0.1


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """The settings of the reconnection backoff.

    ``default_retry_ms`` is the wait before the server sends ``retry:``. Each attempt
    in a row that brings no event multiplies the wait by ``multiplier``, up to
    ``max_delay_ms`` (unless the server asked for more), and adds up to ``jitter``
    times the wait at random.

    ``max_attempts`` limits the connection attempts in a row that bring no event,
    counting the first; ``deadline`` limits, in seconds, how long the client keeps
    trying after it lost its last connection that delivered events. None means no
    limit. ``clock`` (monotonic seconds) and ``random`` (a float in [0, 1)) can be
    replaced so that tests check the waits without waiting.
    """

    default_retry_ms: int = 3000
    max_delay_ms: int = 60_000
    multiplier: float = 2.0
    jitter: float = 0.5
    max_attempts: int | None = None
    deadline: float | None = None
    clock: Callable[[], float] = field(default=time.monotonic, compare=False)
    random: Callable[[], float] = field(default=random.random, compare=False)

    def __post_init__(self) -> None:
        if self.default_retry_ms < 0 or self.max_delay_ms < 0:
            raise ValueError("Reconnection times must not be negative.")
        if self.multiplier < 1 or self.jitter < 0:
            raise ValueError(
                "The multiplier must be at least 1 and jitter not negative."
            )
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1, or None for no limit.")


class Backoff:
    """The reconnection state of one client, driven by a :class:`ReconnectPolicy`.

    The client reports each attempt it starts, each batch of events it receives, and
    each ``retry:`` value; :meth:`next_delay` then says how long to wait before the
    next attempt, or None when the policy says to give up.
    """

    def __init__(self, policy: ReconnectPolicy) -> None:
        self._policy = policy
        self._retry_ms = policy.default_retry_ms
        self._attempts = 0
        self._waits = 0
        self._outage_started: float | None = None

    @property
    def retry_ms(self) -> int:
        """The shortest wait in ms: the server's ``retry:``, or the default."""
        return self._retry_ms

    @property
    def attempts(self) -> int:
        """Connection attempts made since the last one that delivered an event."""
        return self._attempts

    def set_retry(self, retry_ms: int) -> None:
        """Use the server's ``retry:`` value as the shortest wait from now on."""
        self._retry_ms = retry_ms

    def attempt_started(self) -> None:
        """Count a connection attempt."""
        self._attempts += 1

    def events_delivered(self) -> None:
        """Reset the growth and the limits: the connection works."""
        self._attempts = 0
        self._waits = 0
        self._outage_started = None

    def next_delay(self, retry_after_s: float | None = None) -> float | None:
        """Return the seconds to wait before the next attempt, or None to give up.

        ``retry_after_s`` is the server's ``Retry-After``, which raises the shortest
        wait for this attempt only.
        """
        now = self._policy.clock()
        if self._outage_started is None:
            self._outage_started = now
        delay = self._delay(retry_after_s)
        self._waits += 1

        if self._out_of_attempts() or self._past_deadline(now + delay):
            return None
        return delay

    def _delay(self, retry_after_s: float | None) -> float:
        """The wait for the next attempt: grown, jittered and capped."""
        policy = self._policy
        shortest = self._retry_ms / 1000
        if retry_after_s is not None:
            shortest = max(shortest, min(retry_after_s, MAX_RETRY_AFTER_S))

        if self._waits:
            shortest_to_grow = max(shortest, MIN_GROWTH_BASE_S)
            grown = shortest_to_grow * self._growth_factor()
        else:
            grown = shortest
        jittered = grown * (1 + policy.jitter * policy.random())
        return min(jittered, max(policy.max_delay_ms / 1000, shortest))

    def _growth_factor(self) -> float:
        """``multiplier`` to the power of the waits so far, infinite past floats."""
        try:
            return self._policy.multiplier**self._waits
        except OverflowError:
            return math.inf

    def _out_of_attempts(self) -> bool:
        limit = self._policy.max_attempts
        return limit is not None and self._attempts >= limit

    def _past_deadline(self, when: float) -> bool:
        deadline = self._policy.deadline
        if deadline is None or self._outage_started is None:
            return False
        return when - self._outage_started > deadline
