"""``manage.py simulate [REFERENCE]``: move an order through its statuses."""

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from orders.models import Order
from tracking.recording import record_event

JOURNEY = [
    (Order.Status.PAID, "Payment received."),
    (Order.Status.PACKED, "Your parcel is packed."),
    (Order.Status.SHIPPED, "Handed to the courier."),
    (Order.Status.OUT_FOR_DELIVERY, "The courier is on the way."),
    (Order.Status.DELIVERED, "Delivered. Enjoy!"),
]


class Command(BaseCommand):
    help = "Move an order through its statuses every few seconds, to show motion."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "reference", nargs="?", help="Default: the newest open one."
        )
        parser.add_argument("--interval", type=float, default=3.0)

    def handle(self, *args: Any, **options: Any) -> None:
        order = self._order(options["reference"])
        statuses = [status for status, _ in JOURNEY]
        start = statuses.index(order.status) + 1 if order.status in statuses else 0
        for status, message in JOURNEY[start:]:
            time.sleep(options["interval"])
            event = record_event(order, "progress", {"message": message}, status=status)
            self.stdout.write(f"{order.reference}: event {event.seq}, now {status}")

    def _order(self, reference: str | None) -> Order:
        if reference:
            order = Order.objects.filter(reference=reference).first()
            if order is None:
                raise CommandError(f"No order has the reference {reference!r}.")
            if order.status in Order.TERMINAL_STATUSES:
                raise CommandError(f"The order {reference} is {order.status} already.")
            return order
        unfinished = Order.objects.exclude(status__in=Order.TERMINAL_STATUSES)
        order = unfinished.order_by("-created_at").first()
        if order is None:
            raise CommandError("No unfinished order to simulate; run demo_setup first.")
        return order
