"""``manage.py prune_events --older-than DAYS``: retention for finished orders."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tracking.retention import cutoff, prune_finished

MAX_DAYS = 36500


class Command(BaseCommand):
    help = (
        "Delete the events of finished orders whose last event is older than the "
        "given number of days."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--older-than", type=float, required=True, metavar="DAYS")

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["older_than"]
        if not 0 <= days <= MAX_DAYS:
            raise CommandError(f"--older-than must be from 0 to {MAX_DAYS} days.")
        deleted = prune_finished(cutoff(days))
        self.stdout.write(f"Deleted {deleted} events.")
