"""Run the benchmark: every selected server through every selected scenario.

Each scenario gets a freshly started server and load client, so no scenario inherits
another's memory or streams. Scenarios run in rounds (``bench.rounds``): in each,
every server runs the scenario in turn before the next scenario starts. The table
goes to stdout, raw figures to ``bench/results/``, and, unless ``--no-write``, the
report to ``BENCHMARKS.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import shlex
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bench import report, rounds
from bench.loadclient import LoadClient
from bench.scenarios import SCENARIOS, Context, Figure
from bench.scenarios.common import as_dict, warm_up
from bench.servers import tracking
from bench.servers.base import BENCH_DIR, Server, ServerProcess
from bench.servers.peers import BareDjango, EventStream, RawServer

logger = logging.getLogger("bench")

SERVERS = (
    "tracking-pg",
    "tracking-sqlite",
    "bare",
    "eventstream-sqlite",
    "eventstream-pg",
    "raw",
)
RESULTS_DIR = BENCH_DIR / "results"
# Scenarios run in the first round only: memory, threads and connections are counts
# that the machine's other work does not move.
ONCE = frozenset({"idle", "dbconns"})


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """The command line; every default is the full benchmark."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--servers",
        default=",".join(SERVERS),
        help=f"comma-separated, from: {', '.join(SERVERS)}",
    )
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help=f"comma-separated, from: {', '.join(SCENARIOS)}",
    )
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="multiply every stream and event count (0.1 is quick)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="rounds of the timed scenarios; tables show the median round",
    )
    parser.add_argument(
        "--client-workers", type=int, default=4, help="load-client processes"
    )
    parser.add_argument(
        "--storm-concurrency",
        type=int,
        default=1000,
        help="connects in flight per client worker during a storm",
    )
    parser.add_argument(
        "--pg-connection-limit",
        type=int,
        default=60,
        help="CONNECTION LIMIT of each benchmark database",
    )
    parser.add_argument(
        "--tracking-source",
        choices=("HEAD", "worktree"),
        default="HEAD",
        help="run our server from the last commit (default) or the working tree",
    )
    parser.add_argument(
        "--output", type=Path, default=BENCH_DIR.parent / "BENCHMARKS.md"
    )
    parser.add_argument(
        "--no-write",
        action="store_true",
        help="print the table but leave BENCHMARKS.md alone",
    )
    args = parser.parse_args(argv)
    args.servers = _choices(args.servers, SERVERS, parser)
    args.scenarios = _choices(args.scenarios, tuple(SCENARIOS), parser)
    return args


def _choices(
    text: str, allowed: Sequence[str], parser: argparse.ArgumentParser
) -> list[str]:
    chosen = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in allowed]
    if unknown:
        parser.error(f"unknown: {', '.join(unknown)}; choose from {', '.join(allowed)}")
    return chosen


def make_server(name: str, args: argparse.Namespace) -> Server:
    """Instantiate the server variant called ``name``."""
    pg_limit = args.pg_connection_limit
    if name == "raw":
        return RawServer()
    if name == "bare":
        return BareDjango()
    kind, _, backend = name.partition("-")
    if kind == "eventstream":
        return EventStream(backend, pg_limit)
    return tracking.TrackingServer(backend, pg_limit, args.tracking_source)


def main(argv: Sequence[str] | None = None) -> int:
    """Run, print the table, and write the results."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args = parse_args(sys.argv[1:] if argv is None else argv)
    _raise_file_limit()
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    # Every server is made first: our server's source is fixed once for the run.
    servers = {name: make_server(name, args) for name in args.servers}
    results = run_rounds(servers, args, stamp)

    names = list(servers)
    print(report.table(results, names))
    print(f"\nEach round:\n{report.rounds_table(results, names)}")
    print("\n".join(report.notes(results, names)))
    logger.info("Raw figures and server logs in %s.", RESULTS_DIR)
    if not args.no_write:
        report.write(
            args.output,
            results,
            names,
            {n: s.description for n, s in servers.items()},
            _versions(servers),
            _command(argv),
        )
        logger.info("Wrote %s.", args.output)
    return 0


def run_rounds(
    servers: dict[str, Server], args: argparse.Namespace, stamp: str
) -> dict[str, list[Figure]]:
    """Prepare every server, run the rounds, clean up; return combined figures.

    Each round's figures are saved after every scenario, so a long run that is
    interrupted still leaves them in ``bench/results/``.
    """
    ready: dict[str, Server] = {}
    failed: dict[str, list[Figure]] = {}
    played: dict[str, list[list[Figure]]] = {name: [] for name in servers}
    try:
        for name, server in servers.items():
            problem = prepare(server)
            if problem:
                failed[name] = problem
            else:
                ready[name] = server
        for number in range(max(1, args.rounds)):
            for name in ready:
                played[name].append([])
            for scenario in args.scenarios:
                if number and scenario in ONCE:
                    continue
                for name, server in ready.items():
                    played[name][-1] += run_scenario(
                        server, scenario, args, f"{stamp}-logs/round{number + 1}"
                    )
                    _save(played, args, stamp)
    finally:
        for server in ready.values():
            server.cleanup()
    return {name: failed.get(name) or rounds.combine(played[name]) for name in servers}


def prepare(server: Server) -> list[Figure]:
    """Prepare one server; return nothing, or the figure that says why it cannot
    run."""
    if server.name.startswith("tracking") and tracking.available():
        return [Figure("server", None, note=f"not run: {tracking.available()}")]
    logger.info("Preparing %s.", server.name)
    try:
        server.prepare()
    except Exception as exc:
        logger.exception("Preparing %s failed.", server.name)
        return [Figure("server", None, note=f"not prepared: {exc}")]
    return []


def run_scenario(
    server: Server, scenario: str, args: argparse.Namespace, logs: str
) -> list[Figure]:
    """Run one scenario against a fresh server, its log in ``bench/results/<logs>``;
    a failure becomes a note."""
    logger.info("%s: %s", server.name, scenario)
    log = RESULTS_DIR / logs / f"{server.name}-{scenario}.log"
    started = time.monotonic()
    try:
        with (
            ServerProcess(server, log) as proc,
            LoadClient("127.0.0.1", proc.port, args.client_workers) as client,
        ):
            ctx = Context(server, proc, client, args.scale, args.storm_concurrency)
            warm_up(ctx)
            figures = SCENARIOS[scenario](ctx) + _publish_errors(scenario, ctx)
    except Exception as exc:
        logger.exception("%s: %s failed.", server.name, scenario)
        return [
            Figure(f"{scenario}: failed", None, note=f"{type(exc).__name__}: {exc}")
        ]
    logger.info(
        "%s: %s done in %.0f s", server.name, scenario, time.monotonic() - started
    )
    return figures


def _publish_errors(scenario: str, ctx: Context) -> list[Figure]:
    errors = ctx.publish_errors
    if not errors:
        return []
    return [
        Figure(
            f"{scenario}: publish requests refused",
            len(errors),
            note=f"first: {errors[0]}",
        )
    ]


def _exit_on_sigterm(signum: int, frame: object) -> None:
    """Turn SIGTERM into SystemExit, so servers are stopped and databases dropped."""
    raise SystemExit(128 + signum)


def _raise_file_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    logger.info("Open-file limit raised from %d to %d.", soft, hard)


def _versions(servers: dict[str, Server]) -> dict[str, str]:
    out = {}
    for name, server in servers.items():
        try:
            out[name] = server.versions()
        except Exception:
            logger.exception("Could not list the versions of %s.", name)
            out[name] = ""
    return out


def _command(argv: Sequence[str] | None) -> str:
    args = sys.argv[1:] if argv is None else list(argv)
    return shlex.join([".venv/bin/python", "-m", "bench", *args])


def _save(
    played: dict[str, list[list[Figure]]], args: argparse.Namespace, stamp: str
) -> None:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{stamp}.json"
    payload = {
        "scale": args.scale,
        "servers": args.servers,
        "scenarios": args.scenarios,
        "command": _command(None),
        "rounds": {
            name: [as_dict(figures) for figures in each]
            for name, each in played.items()
        },
    }
    path.write_text(json.dumps(payload, indent=1))
    logger.debug("Raw figures in %s.", path)
