"""Combining rounds: the median of times and rates, the worst of counts."""

from bench.rounds import combine
from bench.scenarios import Figure


def test_times_take_the_median_round_and_keep_every_round() -> None:
    played = [[Figure("storm: back", value, "s")] for value in (9.0, 6.0, 7.0)]

    (figure,) = combine(played)

    assert figure.value == 7.0
    assert sorted(figure.rounds) == [6.0, 7.0, 9.0]


def test_counts_take_the_worst_round_whichever_way_is_better() -> None:
    played = [
        [
            Figure("missed", missed, "events"),
            Figure("clients back", back, lower_is_better=False),
        ]
        for missed, back in ((0, 5000), (3, 4990), (0, 5000))
    ]

    missed, back = combine(played)

    assert (missed.value, back.value) == (3, 4990)
    assert missed.rounds == back.rounds == ()


def test_a_figure_of_one_round_stays_and_failed_rounds_do_not_count() -> None:
    played = [
        [Figure("idle: KB", 24.0, "KB"), Figure("p99", None, "ms", note="failed")],
        [Figure("p99", 40.0, "ms"), Figure("back", float("nan"), "s")],
        [Figure("p99", 50.0, "ms", note="failed"), Figure("back", float("nan"), "s")],
    ]

    kb, p99, back = combine(played)

    assert kb == Figure("idle: KB", 24.0, "KB")
    assert (p99.value, p99.rounds, p99.note) == (45.0, (40.0, 50.0), "failed")
    assert (back.value, back.rounds) == (None, ())
