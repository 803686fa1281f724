"""App configuration: registers the system checks when Django starts."""

from django.apps import AppConfig


class TrackingConfig(AppConfig):
    """The reusable live order tracking app."""

    name = "tracking"
    verbose_name = "Order tracking"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Register the system checks that explain misconfiguration at start-up."""
        from tracking import checks  # noqa: F401
