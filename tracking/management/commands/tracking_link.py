"""``manage.py tracking_link REFERENCE [--lifetime SECONDS] [--base-url URL]``."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tracking.links import stream_url
from tracking.management.commands._orders import order_named


class Command(BaseCommand):
    help = "Print a stream URL with a token that lets its holder follow one order."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("reference", help="The order's public reference.")
        parser.add_argument(
            "--lifetime", type=float, default=None, help="Seconds the link stays valid."
        )
        parser.add_argument(
            "--base-url", default="http://127.0.0.1:8000", help="Where the site runs."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        order = order_named(options["reference"])
        try:
            url = stream_url(order, options["base_url"], options["lifetime"])
        except ValueError as exc:
            raise CommandError(f"--lifetime is not usable. {exc}") from exc
        self.stdout.write(url)
