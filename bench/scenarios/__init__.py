"""The benchmark's scenarios, by the name used on the command line."""

from collections.abc import Callable

from bench.scenarios import dbconns, fanout, idle, spread, storm, throughput
from bench.scenarios.common import Context, Figure

SCENARIOS: dict[str, Callable[[Context], list[Figure]]] = {
    "idle": idle.run,
    "fanout": fanout.run,
    "spread": spread.run,
    "throughput": throughput.run,
    "storm": storm.run,
    "dbconns": dbconns.run,
}

__all__ = ["SCENARIOS", "Context", "Figure"]
