"""``manage.py erase_order_events REFERENCE``: erase one order's events on request."""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from tracking.management.commands._orders import order_named
from tracking.retention import erase_order


class Command(BaseCommand):
    help = "Delete every event of one order (its personal data), keeping its numbering."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("reference", help="The order's public reference.")

    def handle(self, *args: Any, **options: Any) -> None:
        order = order_named(options["reference"])
        deleted = erase_order(order)
        self.stdout.write(f"Deleted {deleted} events.")
