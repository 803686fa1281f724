"""``manage.py demo_setup``: a staff login and an open order, then how to follow it."""

import os
import shlex
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.urls import reverse

from orders.models import Order
from tracking.access import make_token
from tracking.links import page_url, stream_path, stream_url
from tracking.recording import record_event

DEMO_USER = "demo"
DEMO_PASSWORD = "demo"


class Command(BaseCommand):
    help = "Create the demo staff user and an unfinished order; print how to follow it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")

    def handle(self, *args: Any, **options: Any) -> None:
        self._ensure_staff_user()
        order = self._open_order()
        base = options["base_url"].rstrip("/")
        token = make_token(order, 24 * 3600)
        admin_path = reverse("admin:orders_order_change", args=[order.pk])
        self.stdout.write(f"Login: {DEMO_USER} / {DEMO_PASSWORD}")
        self.stdout.write(f"Admin: {base}{admin_path}")
        self.stdout.write(f"Stream: {base}{stream_path(order)}")
        self.stdout.write(f"Tracking link: {stream_url(order, base, 24 * 3600)}")
        self.stdout.write(f"Tracking page: {page_url(order, base, 24 * 3600)}")
        self.stdout.write(f"Staff board: {base}{reverse('tracking:board')}")
        header = f"Authorization: Bearer {token}"
        self.stdout.write(f"Follow: curl -N -H '{header}' {base}{stream_path(order)}")
        # The other terminal must reach the same database as the server.
        url = os.environ.get("DATABASE_URL")
        prefix = f"DATABASE_URL={shlex.quote(url)} " if url else ""
        self.stdout.write(
            f"Record: {prefix}python manage.py record_event {order.reference} note "
            '--data \'{"message": "Hello"}\''
        )

    def _ensure_staff_user(self) -> None:
        user, _ = get_user_model().objects.get_or_create(username=DEMO_USER)
        user.is_staff = user.is_superuser = True
        user.set_password(DEMO_PASSWORD)
        user.save()

    def _open_order(self) -> Order:
        """Reuse the newest unfinished order, so running the demo twice works."""
        order = (
            Order.objects.exclude(status__in=Order.TERMINAL_STATUSES)
            .order_by("-created_at")
            .first()
        )
        if order is not None:
            return order
        order = Order.objects.create()
        record_event(order, "note", {"message": "Thank you for your order."})
        order.status = Order.Status.PAID
        order.save()
        return order
