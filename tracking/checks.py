"""System checks that explain misconfiguration at start-up, naming the setting."""

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, register

from tracking import conf


@register(Tags.compatibility)
def check_settings(app_configs: Any, **kwargs: Any) -> list[Error]:
    """Refuse unknown ``TRACKING`` keys and values of the wrong kind."""
    errors = []
    overrides = getattr(settings, "TRACKING", {})
    for name in sorted(set(overrides) - set(conf.DEFAULTS)):
        errors.append(
            Error(
                f"TRACKING[{name!r}] is not a setting of the tracking app.",
                hint=f"Use one of: {', '.join(sorted(conf.DEFAULTS))}.",
                id="tracking.E001",
            )
        )
    for name in (
        "HEARTBEAT_SECONDS",
        "POLL_SECONDS",
        "MAX_STREAM_SECONDS",
        "SEND_TIMEOUT_SECONDS",
    ):
        value = conf.get(name)
        if not isinstance(value, int | float) or value <= 0:
            errors.append(
                Error(
                    f"TRACKING[{name!r}] must be a positive number of seconds.",
                    id="tracking.E002",
                )
            )
    return errors
