"""The reconnection backoff, checked with an injected clock and random source."""

from __future__ import annotations

from typing import Any

import pytest

from tracking.client import ReconnectPolicy
from tracking.client.policy import MAX_RETRY_AFTER_S, Backoff


class FakeClock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def backoff(
    random: float = 0.0, clock: FakeClock | None = None, **settings: Any
) -> Backoff:
    policy = ReconnectPolicy(
        clock=clock or FakeClock(), random=lambda: random, **settings
    )
    return Backoff(policy)


def failing_waits(state: Backoff, count: int) -> list[float | None]:
    """The waits of ``count`` attempts in a row that bring no event."""
    waits = []
    for _ in range(count):
        state.attempt_started()
        waits.append(state.next_delay())
    return waits


def test_first_wait_is_the_default_reconnection_time() -> None:
    assert failing_waits(backoff(default_retry_ms=3000), 1) == [3.0]


def test_server_retry_replaces_the_default() -> None:
    state = backoff(default_retry_ms=3000)
    state.set_retry(1500)
    assert failing_waits(state, 1) == [1.5]


def test_wait_doubles_per_failed_attempt_up_to_the_cap() -> None:
    state = backoff(default_retry_ms=1000, max_delay_ms=10_000)
    assert failing_waits(state, 6) == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_events_reset_the_growth() -> None:
    state = backoff(default_retry_ms=1000)
    failing_waits(state, 3)
    state.attempt_started()
    state.events_delivered()
    assert failing_waits(state, 2) == [1.0, 2.0]


def test_jitter_adds_up_to_its_share_and_never_goes_below_retry() -> None:
    low = backoff(random=0.0, default_retry_ms=2000, jitter=0.5)
    high = backoff(random=0.999, default_retry_ms=2000, jitter=0.5)
    assert failing_waits(low, 2) == [2.0, 4.0]
    assert failing_waits(high, 2) == pytest.approx([2.999, 5.998])


def test_cap_also_bounds_the_jitter() -> None:
    state = backoff(random=0.999, default_retry_ms=1000, max_delay_ms=1200)
    assert failing_waits(state, 2) == [1.2, 1.2]


def test_server_retry_above_the_cap_is_still_honoured() -> None:
    state = backoff(default_retry_ms=1000, max_delay_ms=5000)
    state.set_retry(90_000)
    assert failing_waits(state, 2) == [90.0, 90.0]


def test_retry_after_raises_the_shortest_wait_for_that_attempt() -> None:
    state = backoff(default_retry_ms=1000, max_delay_ms=60_000)
    state.attempt_started()
    assert state.next_delay(retry_after_s=20) == 20.0
    state.attempt_started()
    assert state.next_delay() == 2.0


def test_retry_after_above_the_cap_is_honoured() -> None:
    state = backoff(default_retry_ms=1000, max_delay_ms=5000)
    state.attempt_started()
    assert state.next_delay(retry_after_s=120) == 120.0


def test_absurd_retry_after_is_bounded() -> None:
    state = backoff()
    state.attempt_started()
    assert state.next_delay(retry_after_s=10**9) == MAX_RETRY_AFTER_S


def test_retry_zero_reconnects_at_once_then_backs_off() -> None:
    state = backoff(default_retry_ms=1000)
    state.set_retry(0)
    assert failing_waits(state, 3) == [0.0, 0.2, 0.4]


def test_growth_survives_a_very_long_outage() -> None:
    state = backoff(default_retry_ms=1000, max_delay_ms=30_000)
    assert failing_waits(state, 2000)[-1] == 30.0


def test_max_attempts_counts_attempts_in_a_row_without_events() -> None:
    state = backoff(max_attempts=3)
    assert failing_waits(state, 3) == [3.0, 6.0, None]


def test_max_attempts_starts_again_after_events() -> None:
    state = backoff(max_attempts=2)
    failing_waits(state, 1)
    state.attempt_started()
    state.events_delivered()
    assert state.next_delay() == 3.0
    assert failing_waits(state, 2) == [6.0, None]


def test_deadline_stops_a_wait_that_would_end_past_it() -> None:
    clock = FakeClock()
    state = backoff(clock=clock, default_retry_ms=1000, deadline=10)
    state.attempt_started()
    assert state.next_delay() == 1.0
    clock.now += 1
    state.attempt_started()
    assert state.next_delay() == 2.0
    clock.now += 2
    state.attempt_started()
    assert state.next_delay() == 4.0
    clock.now += 4
    state.attempt_started()
    assert state.next_delay() is None


def test_deadline_counts_from_the_loss_of_a_working_connection() -> None:
    clock = FakeClock()
    state = backoff(clock=clock, default_retry_ms=1000, deadline=5)
    state.attempt_started()
    state.events_delivered()
    clock.now += 3600
    assert state.next_delay() == 1.0


@pytest.mark.parametrize(
    "settings",
    [
        {"default_retry_ms": -1},
        {"max_delay_ms": -1},
        {"multiplier": 0.5},
        {"jitter": -0.1},
        {"max_attempts": 0},
    ],
)
def test_invalid_settings_are_refused(settings: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        ReconnectPolicy(**settings)
