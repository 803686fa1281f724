"""``manage.py record_event REFERENCE KIND [--data JSON] [--status STATUS]``."""

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tracking.errors import TrackingError
from tracking.management.commands._orders import order_named
from tracking.recording import record_event


class Command(BaseCommand):
    help = "Record an event on an order and print the new event's id."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("reference", help="The order's public reference.")
        parser.add_argument("kind", help="A short lowercase word, such as note.")
        parser.add_argument("--data", default="{}", help="The event's fields as JSON.")
        parser.add_argument("--status", help="Also move the order to this status.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            data = json.loads(options["data"])
        except json.JSONDecodeError as exc:
            raise CommandError(f"--data is not valid JSON: {exc}.") from exc
        order = order_named(options["reference"])
        try:
            event = record_event(order, options["kind"], data, status=options["status"])
        except TrackingError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(str(event.seq))
