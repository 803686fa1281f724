"""``manage.py revoke_links REFERENCE [REFERENCE ...]``."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tracking.ordermodel import get_order_model
from tracking.revocation import revoke_links


class Command(BaseCommand):
    help = (
        "Refuse every tracking link made until now for the given orders; links made "
        "afterwards work. Open streams stop at their next reconnect."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("references", nargs="+", help="Orders' public references.")

    def handle(self, *args: Any, **options: Any) -> None:
        manager = get_order_model()._base_manager
        orders = list(manager.filter(reference__in=options["references"]))
        missing = set(options["references"]) - {order.reference for order in orders}
        if missing:
            raise CommandError(
                f"No order has the reference {', '.join(sorted(missing))}; "
                "nothing was revoked."
            )
        for order in orders:
            revoked_at = revoke_links(order).isoformat()
            self.stdout.write(f"{order.reference}: links revoked at {revoked_at}")
