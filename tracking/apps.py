"""App configuration: what the tracking app sets up when Django starts."""

from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate


class TrackingConfig(AppConfig):
    """The reusable live order tracking app."""

    name = "tracking"
    verbose_name = "Order tracking"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Register the system checks, mask tokens in access logs, write the
        Postgres recording function after each migrate, and tell django-cors-headers
        (when installed) which origins may follow streams."""
        from tracking import checks, pg_append, redaction  # noqa: F401

        redaction.install()
        post_migrate.connect(pg_append.install, sender=self)
        if apps.is_installed("corsheaders"):
            from tracking import cors

            cors.connect()
