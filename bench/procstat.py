"""Memory, threads and CPU of a server process and its children, from ``/proc``.

The figures are the kernel's own (``VmRSS`` and ``Threads`` in ``status``, ticks in
``stat``), summed over the process tree so that a server that forks workers is
measured whole.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class TreeStat:
    """A snapshot of one process tree."""

    rss_kb: int
    threads: int
    cpu_seconds: float
    processes: int


def tree(pid: int) -> list[int]:
    """Return ``pid`` and all its descendants that are still alive."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        parent = _ppid(entry)
        if parent is not None:
            children.setdefault(parent, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(children.get(current, []))
    return out


def snapshot(pid: int) -> TreeStat:
    """Sum RSS, threads and CPU time over the tree rooted at ``pid``."""
    rss = threads = count = 0
    cpu = 0.0
    for member in tree(pid):
        status = _status(member)
        if not status:
            continue
        rss += int(status.get("VmRSS", "0 kB").split()[0])
        threads += int(status.get("Threads", "0"))
        cpu += _cpu(member)
        count += 1
    return TreeStat(rss_kb=rss, threads=threads, cpu_seconds=cpu, processes=count)


def _ppid(entry: Path) -> int | None:
    try:
        stat = (entry / "stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def _status(pid: int) -> dict[str, str]:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    pairs = (line.split(":", 1) for line in text.splitlines() if ":" in line)
    return {name: value.strip() for name, value in pairs}


def _cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS
