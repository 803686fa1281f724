"""App configuration of the demo shop's orders."""

from django.apps import AppConfig


class OrdersConfig(AppConfig):
    """The default order model, used by the demo project."""

    name = "orders"
    default_auto_field = "django.db.models.BigAutoField"
