"""What the tracking page and the embedded timeline show: one order's history.

The history is rendered on the server, so it is there without JavaScript; the script
(``static/tracking/timeline.js``) then follows the stream from the last event shown.
The current status is the one the newest event left, so the heading and the list
always agree, even when an event commits while the page is being read.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.utils.dateparse import parse_datetime

from tracking import conf
from tracking.links import page_path, stream_path
from tracking.models import OrderEvent
from tracking.ordermodel import terminal_statuses

# Kinds the app records itself; the script listens for these, the order's statuses,
# and every kind already in the order's history (EventSource has no catch-all).
BUILT_IN_KINDS = ("created", "status", "note", "progress", "delayed", "erased")
KIND_TITLES = {"created": "Order placed", "erased": "History erased"}


@dataclass(frozen=True, slots=True)
class Entry:
    """One event as the timeline lists it."""

    seq: int
    kind: str
    title: str
    status: str
    status_label: str
    message: str
    at: datetime | None
    # Whether this event moved the order to a new status that its title does not
    # already name (a status event's title is the status).
    moved: bool


@dataclass(frozen=True, slots=True)
class Timeline:
    """Everything the timeline template needs, read in one query."""

    reference: str
    status: str
    status_label: str
    finished: bool
    last_id: int
    stream_url: str
    page_url: str
    # Newest first.
    entries: list[Entry]
    labels: dict[str, str]
    terminal: list[str]
    kinds: list[str]


def load_timeline(order: Any, token: str | None) -> Timeline:
    """Read the order's history and describe its timeline.

    ``token`` goes into the stream and page URLs the script uses; without one they
    rely on the visitor's session.
    """
    model = type(order)
    labels = status_labels(model)
    rows = (
        OrderEvent.objects.using(conf.get("DATABASE"))
        .filter(order_id=order.pk)
        .order_by("seq")
        .values_list("seq", "kind", "data")
    )
    entries, previous = [], None
    for seq, kind, data in rows:
        entries.append(_entry(seq, kind, data, labels, previous))
        previous = entries[-1].status
    status = entries[-1].status if entries else str(order.status)
    terminal = sorted(terminal_statuses(model))
    query = f"?{urlencode({'token': token})}" if token else ""
    return Timeline(
        reference=order.reference,
        status=status,
        status_label=labels.get(status, status),
        finished=status in terminal,
        last_id=entries[-1].seq if entries else 0,
        stream_url=stream_path(order) + query,
        page_url=page_path(order) + query,
        entries=entries[::-1],
        labels=labels,
        terminal=terminal,
        kinds=_kinds(entries, labels),
    )


def status_labels(model: Any) -> dict[str, str]:
    """Return each status of the order model with its human label."""
    choices = model._meta.get_field("status").flatchoices
    return {str(value): str(label) for value, label in choices}


def title(kind: str, status: str, labels: dict[str, str]) -> str:
    """Return the headline of an event: the new status for status changes."""
    if kind == "status":
        return labels.get(status, status)
    return KIND_TITLES.get(kind) or kind.replace("_", " ").capitalize()


def _entry(
    seq: int, kind: str, data: Any, labels: dict[str, str], previous: str | None
) -> Entry:
    status = str(data.get("status", ""))
    message = data.get("message")
    return Entry(
        seq=seq,
        kind=kind,
        title=title(kind, status, labels),
        status=status,
        status_label=labels.get(status, status),
        message=message if isinstance(message, str) else "",
        at=parse_datetime(str(data.get("at", ""))),
        moved=previous is not None
        and status != previous
        and kind not in ("status", status),
    )


def _kinds(entries: list[Entry], labels: dict[str, str]) -> list[str]:
    kinds = {*BUILT_IN_KINDS, *labels, *(entry.kind for entry in entries)}
    return sorted(kinds)
