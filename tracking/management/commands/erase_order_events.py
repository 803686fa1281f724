"""``manage.py erase_order_events REFERENCE``: erase one order's events on request."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tracking.ordermodel import get_order_model
from tracking.retention import erase_order


class Command(BaseCommand):
    help = "Delete every event of one order (its personal data), keeping its numbering."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("reference", help="The order's public reference.")

    def handle(self, *args: Any, **options: Any) -> None:
        order = (
            get_order_model()
            ._base_manager.filter(reference=options["reference"])
            .first()
        )
        if order is None:
            raise CommandError(f"No order has the reference {options['reference']!r}.")
        deleted = erase_order(order)
        self.stdout.write(f"Deleted {deleted} events.")
