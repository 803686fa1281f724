"""The results table, with ratios to the bare Django view, and BENCHMARKS.md.

Every cell shows the measured value; for servers other than the bare view it also
shows the value divided by the bare view's, so ``0.50x`` on a memory row means half
the memory and ``2.00x`` on a throughput row means twice the rate.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from bench.scenarios import Figure

BASELINE = "bare"
Results = dict[str, list[Figure]]


def machine() -> list[tuple[str, str]]:
    """The facts about this machine that a reader needs to weigh the figures."""
    return [
        ("CPU", _cpu_model()),
        ("Cores (nproc)", str(os.cpu_count())),
        ("Memory", _memory()),
        ("Kernel", platform.release()),
        ("Python", platform.python_version()),
        ("Load average at the end (1, 5, 15 min)", _load()),
        ("Date (UTC)", datetime.now(UTC).strftime("%Y-%m-%d %H:%M")),
    ]


def table(results: Results, servers: Sequence[str]) -> str:
    """A Markdown table: one row per figure, one column per server."""
    labels = _labels(results, servers)
    values = {name: {f.label: f for f in results.get(name, [])} for name in servers}
    lines = [
        "| figure | " + " | ".join(servers) + " |",
        "|---|" + "---:|" * len(servers),
    ]
    for label in labels:
        cells = [
            _cell(values[name].get(label), values.get(BASELINE, {}).get(label), name)
            for name in servers
        ]
        unit = _unit(values, label)
        lines.append(
            f"| {label}{f' ({unit})' if unit else ''} | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines)


def rounds_table(results: Results, servers: Sequence[str]) -> str:
    """A Markdown table of each round's value of the figures that combine rounds,
    lowest first; empty when there was one round."""
    values = {name: {f.label: f for f in results.get(name, [])} for name in servers}
    labels = [
        label
        for label in _labels(results, servers)
        if any(len(getattr(v.get(label), "rounds", ())) > 1 for v in values.values())
    ]
    if not labels:
        return ""
    lines = [
        "| figure | " + " | ".join(servers) + " |",
        "|---|" + "---:|" * len(servers),
    ]
    for label in labels:
        cells = []
        for name in servers:
            figure = values[name].get(label)
            played = sorted(figure.rounds) if figure else []
            cells.append(" / ".join(_number(v) for v in played) or "n/a")
        unit = _unit(values, label)
        lines.append(
            f"| {label}{f' ({unit})' if unit else ''} | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines)


def notes(results: Results, servers: Sequence[str]) -> list[str]:
    """One line per figure that came with a note (errors, failed streams)."""
    out = []
    for name in servers:
        for figure in results.get(name, []):
            if figure.note and "load-client CPU" not in figure.label:
                out.append(f"- **{name}**, {figure.label}: {figure.note}")
    return out


def write(
    path: Path,
    results: Results,
    servers: Sequence[str],
    descriptions: dict[str, str],
    versions: dict[str, str],
    command: str,
) -> None:
    """Write BENCHMARKS.md with the table, the machine and the exact command."""
    parts = [
        "# Benchmarks",
        "",
        "Produced by `bench/` (see `python -m bench --help`). Command:",
        "",
        f"    {command}",
        "",
        "## Machine",
        "",
        *[f"- {name}: {value}" for name, value in machine()],
        "",
        "## Servers",
        "",
        *[f"- **{name}**: {descriptions[name]}." for name in servers],
        "",
        "## Results",
        "",
        f"Ratios in parentheses are to **{BASELINE}**. Times and rates are the"
        " median of the rounds below; counts are the worst round's.",
        "",
        table(results, servers),
        "",
        *_rounds_section(results, servers),
        *_notes_section(results, servers),
        "## How each figure is measured",
        "",
        METHOD,
        "## Package versions",
        "",
        *[f"- **{name}**: {versions.get(name) or 'n/a'}" for name in servers],
        "",
    ]
    path.write_text("\n".join(parts))


METHOD = """\
- The load client is `bench/loadclient`: raw asyncio transports on uvloop in several
  worker processes, parsing only the status line, chunked framing and the `id:` and
  `data:` fields. Its busiest worker's CPU use (from `getrusage`) is reported per
  scenario; near 100 % the client, not the server, was the limit.
- Memory is the growth of `VmRSS` of the server process and its children over the
  idle, warmed-up server, divided by the streams actually open; threads are the
  `Threads` of the same processes. Streams are opened 400 at a time; a stream
  without a response head after `max(60 s, n / 25 per s)` is given up and closed.
- Latency runs from the commit to `time.time()` in the load client when the bytes
  arrived, on the same machine's clock. For our server the commit time is the
  writer process's `time.time()` right after `record_event` returned. The peers
  publish through `POST /publish/<key>` and answer with their own `time.time()`
  taken right after the event was stored and handed to their fan-out (for
  django-eventstream, after `send_event` returned): when the answer reaches the
  harness is later still, by a trip that at high fan-out waits behind the
  deliveries themselves.
- Fan-out publishes each event only after the previous one reached every subscriber.
- Throughput: four writer threads publish as fast as the server confirms, for five
  seconds, each event to a random order with one subscriber. For our server each
  writer is a Django process calling `record_event` on orders it loaded before the
  clock started (as was each peer's connection); the writers, Postgres and the
  server share the machine's two cores.
- Storm: clients (ten per order, each with its own token) see one event, all
  disconnect, one more event per order is published, then all reconnect at once
  (up to 1,000 connects in flight per client process) with `Last-Event-ID` while
  50 events a second keep being published. "All back" is when the last one got its
  response head. Missed: events published to its order after the first one it saw
  that never arrived; duplicates: events that arrived twice.
- The machine is shared: other work ran alongside, as the load average shows.
- Database connections are rows in `pg_stat_activity` for the server's own database,
  which has a connection limit so that a peer cannot exhaust the shared cluster: the
  most seen in the 2.5 s after the streams opened (a burst may borrow connections),
  then one count 4 s later, with the streams open and idle.
"""


def _rounds_section(results: Results, servers: Sequence[str]) -> list[str]:
    played = rounds_table(results, servers)
    if not played:
        return []
    intro = (
        "Every round ran each server in turn, scenario by scenario, each on a fresh"
        " server process; memory, threads and connections were measured in the"
        " first round only."
    )
    return ["### Each round", "", intro, "", played, ""]


def _notes_section(results: Results, servers: Sequence[str]) -> list[str]:
    lines = notes(results, servers)
    return ["### Notes", "", *lines, ""] if lines else []


def _labels(results: Results, servers: Sequence[str]) -> list[str]:
    seen: dict[str, None] = {}
    for name in servers:
        for figure in results.get(name, []):
            seen.setdefault(figure.label, None)
    return list(seen)


def _unit(values: dict[str, dict[str, Figure]], label: str) -> str:
    for by_label in values.values():
        if label in by_label:
            return by_label[label].unit
    return ""


def _cell(figure: Figure | None, base: Figure | None, name: str) -> str:
    if figure is None or figure.value is None:
        return "n/a"
    text = _number(figure.value)
    if name == BASELINE or base is None or "CPU" in figure.label:
        return text
    if base.value is None or figure.value < 0 or base.value <= 0:
        return text
    return f"{text} ({figure.value / base.value:.2f}x)"


def _number(value: float) -> str:
    if value != value:
        return "n/a"
    if abs(value) >= 100 or float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _load() -> str:
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def _memory() -> str:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return "unknown"
