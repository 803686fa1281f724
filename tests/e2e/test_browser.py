"""The tracking page and the staff board in headless Chromium, against real servers."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import database_url
from tests.e2e.browser import DESKTOP, browser_context, manage, screenshot
from tests.e2e.servers import Server
from tests.e2e.staff import PASSWORD, make_staff
from tests.e2e.streams import wait_until
from tracking.links import page_path, page_url
from tracking.recording import record_event

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

CONNECTION = "[data-tracking-connection]"
EVENTS = "[data-tracking-events] > li"
SECONDS = 15_000  # Playwright counts milliseconds.


@pytest.fixture(autouse=True)
def orm_beside_playwright(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let the test body use the ORM while Playwright's event loop runs.

    Playwright's sync API keeps an event loop running in the test's thread, which
    Django takes for async code; the test's own queries are plain blocking calls.
    """
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def phone(tmp_path: Path) -> Iterator[Any]:
    with browser_context(tmp_path / "profile") as context:
        yield context


def connection_state(page: Any) -> str:
    return str(page.get_attribute(CONNECTION, "data-state"))


def shown_seqs(page: Any) -> list[int]:
    return [int(seq) for seq in page.eval_on_selector_all(EVENTS, _SEQS)]


_SEQS = "items => items.map(item => item.dataset.seq)"


def shop_order(make_order: Any) -> Any:
    order = make_order()
    record_event(order, "note", {"message": "Thank you for your order."})
    order.status = "paid"
    order.save()
    record_event(
        order, "progress", {"message": "Packed in a recycled box."}, status="packed"
    )
    return order


def test_the_page_lists_the_history_and_shows_a_new_event_without_reload(
    server, make_order, phone
):
    order = shop_order(make_order)
    page = phone.new_page()
    requests: list[Any] = []
    page.on("request", lambda request: requests.append(request))

    page.goto(page_url(order, server.base_url, 600))
    page.wait_for_selector(f"{CONNECTION}[data-state=live]", timeout=SECONDS)
    page.evaluate("window.loadedOnce = true")
    screenshot(page, f"page-history-{server.name}")

    assert page.inner_text("h1") == order.reference
    assert page.inner_text("[data-tracking-current]") == "Packed"
    assert shown_seqs(page) == [4, 3, 2, 1]
    assert "Packed in a recycled box." in page.inner_text("[data-tracking-events]")

    manage(
        server.database_url,
        "record_event",
        order.reference,
        "progress",
        "--status",
        "shipped",
        "--data",
        json.dumps({"message": "Handed to the courier."}),
    )
    page.wait_for_selector(f"{EVENTS}[data-seq='5']", timeout=SECONDS)
    screenshot(page, f"page-live-event-{server.name}")
    # The picture in the README (docs/tracking-page.png) is this one.
    screenshot(page, f"tracking-page-{server.name}", "main")

    assert page.evaluate("window.loadedOnce") is True
    assert shown_seqs(page) == [5, 4, 3, 2, 1]
    assert page.inner_text("[data-tracking-current]") == "Shipped"
    assert "Handed to the courier." in page.inner_text("[data-tracking-announce]")
    referers = [r.headers.get("referer") for r in requests]
    assert len(referers) >= 3 and not any(referers), "a Referer was sent"


def test_the_page_tells_of_a_lost_connection_then_resumes_without_duplicates(
    make_order, alias, phone
):
    """The server stops while the page is open: the page says it is reconnecting;
    events recorded meanwhile appear once each when the server is back."""
    server = Server(
        database_url(alias), {"RETRY_MILLISECONDS": 500}, name=f"restart-{alias}"
    ).start()
    try:
        order = shop_order(make_order)
        page = phone.new_page()
        page.goto(page_url(order, server.base_url, 600))
        page.wait_for_selector(f"{CONNECTION}[data-state=live]", timeout=SECONDS)

        server.stop()
        page.wait_for_selector(
            f"{CONNECTION}[data-state=reconnecting]", timeout=SECONDS
        )
        screenshot(page, f"page-reconnecting-{alias}")
        assert "Reconnecting" in page.inner_text(CONNECTION)
        record_event(order, "note", {"message": "Recorded while the server was down."})
        record_event(order, "delayed", {"message": "Snow on the roads."})

        server.start()
        page.wait_for_selector(f"{EVENTS}[data-seq='6']", timeout=SECONDS)
        page.wait_for_selector(f"{CONNECTION}[data-state=live]", timeout=SECONDS)
        screenshot(page, f"page-resumed-{alias}")

        assert shown_seqs(page) == [6, 5, 4, 3, 2, 1]
    finally:
        server.stop()


def test_a_final_event_ends_the_stream_and_shows_the_final_state(
    server, make_order, phone
):
    order = shop_order(make_order)
    page = phone.new_page()
    page.goto(page_url(order, server.base_url, 600))
    page.wait_for_selector(f"{CONNECTION}[data-state=live]", timeout=SECONDS)

    manage(
        server.database_url,
        "record_event",
        order.reference,
        "delivered",
        "--status",
        "delivered",
        "--data",
        json.dumps({"message": "Left with the neighbour at number 12."}),
    )
    page.wait_for_selector(f"{CONNECTION}[data-state=finished]", timeout=SECONDS)
    screenshot(page, f"page-finished-{server.name}")

    assert page.inner_text("[data-tracking-current]") == "Delivered"
    assert "no more updates" in page.inner_text(CONNECTION)
    assert shown_seqs(page) == [5, 4, 3, 2, 1]
    wait_until(lambda: server.health()["streams"] == 0, 10, "the page to hang up")

    page.reload()
    page.wait_for_selector(f"{CONNECTION}[data-state=finished]", timeout=SECONDS)
    assert server.health()["streams"] == 0, "a finished page opened a stream"


def test_events_of_kinds_the_page_does_not_listen_for_still_appear(
    server, make_order, phone
):
    """EventSource only hands over the types it listens for: an event of a new kind
    leaves a gap, or ends the stream unseen; the page then re-reads itself."""
    order = shop_order(make_order)
    page = phone.new_page()
    page.goto(page_url(order, server.base_url, 600))
    page.wait_for_selector(f"{CONNECTION}[data-state=live]", timeout=SECONDS)

    manage(server.database_url, "record_event", order.reference, "customs_cleared")
    manage(server.database_url, "record_event", order.reference, "note")
    page.wait_for_selector(f"{EVENTS}[data-seq='6']", timeout=SECONDS)
    page.wait_for_selector(f"{CONNECTION}[data-state=live]", timeout=SECONDS)
    assert shown_seqs(page) == [6, 5, 4, 3, 2, 1]
    assert "Customs cleared" in page.inner_text("[data-tracking-events]")

    manage(
        server.database_url,
        "record_event",
        order.reference,
        "handed_over",
        "--status",
        "delivered",
    )
    page.wait_for_selector(f"{CONNECTION}[data-state=finished]", timeout=SECONDS)
    assert shown_seqs(page) == [7, 6, 5, 4, 3, 2, 1]
    assert page.inner_text("[data-tracking-current]") == "Delivered"


def test_the_history_is_there_without_javascript(server, make_order, tmp_path):
    order = shop_order(make_order)

    with browser_context(tmp_path / "profile", javascript=False) as context:
        page = context.new_page()
        page.goto(page_url(order, server.base_url, 600))
        screenshot(page, f"page-no-javascript-{server.name}")

        assert shown_seqs(page) == [4, 3, 2, 1]
        assert page.inner_text("[data-tracking-current]") == "Packed"
        assert "Reload the page" in page.inner_text(CONNECTION)


def test_the_page_keeps_its_token_out_of_referers_and_caches(server, make_order):
    order = shop_order(make_order)

    response = httpx.get(page_url(order, server.base_url, 600))
    unauthorised = httpx.get(server.url(page_path(order)))

    assert response.status_code == 200
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    assert '<meta name="referrer" content="no-referrer">' in response.text
    assert unauthorised.status_code == 401
    assert unauthorised.headers["referrer-policy"] == "no-referrer"


def test_the_staff_board_shows_every_orders_events_in_order(
    server, make_order, alias, tmp_path
):
    make_staff(alias)
    orders = [make_order() for _ in range(3)]

    with browser_context(tmp_path / "profile", viewport=DESKTOP) as context:
        page = context.new_page()
        page.goto(server.url("/tracking/board"))
        page.fill("#id_username", "staff")
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_selector(f"{CONNECTION}[data-state=live]", timeout=SECONDS)
        assert board_rows(page) == [(o.reference, 1) for o in reversed(orders)]

        moves = [(0, "paid"), (1, "paid"), (0, "packed"), (2, "cancelled")]
        for number, status in moves:
            manage(
                server.database_url,
                "record_event",
                orders[number].reference,
                "progress",
                "--status",
                status,
            )
        page.wait_for_selector("tbody tr:nth-child(7)", timeout=SECONDS)
        screenshot(page, f"board-{server.name}")

        expected = [(o.reference, 1) for o in orders]
        expected += [(orders[0].reference, 2), (orders[1].reference, 2)]
        expected += [(orders[0].reference, 3), (orders[2].reference, 2)]
        assert board_rows(page) == expected[::-1]
        link = page.get_attribute("tbody tr:first-child a", "href")
        assert link == f"/admin/orders/order/{orders[2].pk}/change/"

        page.select_option("#tracking-status", "paid")
        page.focus("#tracking-status")
        page.keyboard.press("Tab")  # to the Filter button: no mouse needed
        page.keyboard.press("Enter")
        page.wait_for_url("**/tracking/board?status=paid", timeout=SECONDS)
        page.wait_for_selector(f"{CONNECTION}[data-state=live]", timeout=SECONDS)
        manage(server.database_url, "record_event", orders[0].reference, "note")
        manage(server.database_url, "record_event", orders[1].reference, "note")
        page.wait_for_selector("tbody tr:nth-child(3)", timeout=SECONDS)
        screenshot(page, f"board-filtered-{server.name}")
        # The packed order's note came first, and is not shown: it is not paid.
        assert board_rows(page) == [
            (orders[1].reference, 3),
            (orders[1].reference, 2),
            (orders[0].reference, 2),
        ]


def board_rows(page: Any) -> list[tuple[str, int]]:
    """Each row of the board as (order reference, seq), top to bottom."""
    cells = page.eval_on_selector_all(
        "tbody tr[data-id] td:nth-child(2)", "cells => cells.map(c => c.innerText)"
    )
    rows = [cell.split(" #") for cell in cells]
    return [(reference, int(seq)) for reference, seq in rows]
