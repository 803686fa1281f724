"""System checks that explain misconfiguration at start-up, naming the setting."""

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from django.apps import apps
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register

from tracking import conf

CORS_MIDDLEWARE = "corsheaders.middleware.CorsMiddleware"


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


@register(Tags.security)
def check_access_settings(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """Explain stream limits, trusted proxies and CORS settings that cannot work."""
    return [*_limit_errors(), *_proxy_errors(), *_cors_errors()]


def _limit_errors() -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for name in (
        "MAX_STREAMS_PER_USER",
        "MAX_STREAMS_PER_TOKEN",
        "MAX_STREAMS_PER_ADDRESS",
    ):
        value = conf.get(name)
        if value is not None and not _is_positive_int(value):
            errors.append(
                Error(
                    f"TRACKING[{name!r}] must be a positive whole number, or None "
                    "for no limit.",
                    id="tracking.E010",
                )
            )
    for name in ("MAX_HEADER_BYTES", "LIMIT_RETRY_AFTER_SECONDS", "READ_THREADS"):
        if not _is_positive_int(conf.get(name)):
            errors.append(
                Error(
                    f"TRACKING[{name!r}] must be a positive whole number.",
                    id="tracking.E010",
                )
            )
    return errors


def _is_positive_int(value: object) -> bool:
    return type(value) is int and value > 0


def _proxy_errors() -> list[CheckMessage]:
    proxies = conf.get("TRUSTED_PROXIES")
    valid = isinstance(proxies, list | tuple) and all(
        isinstance(entry, str) and _is_network(entry) for entry in proxies
    )
    if valid:
        return []
    return [
        Error(
            "TRACKING['TRUSTED_PROXIES'] must be a list of IP addresses or networks.",
            hint='For example ["127.0.0.1", "10.0.0.0/8"].',
            id="tracking.E011",
        )
    ]


def _is_network(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


def _cors_errors() -> list[CheckMessage]:
    origins = conf.get("CORS_ALLOWED_ORIGINS")
    if not isinstance(origins, list | tuple) or not all(map(_is_origin, origins)):
        return [
            Error(
                "TRACKING['CORS_ALLOWED_ORIGINS'] must be a list of origins.",
                hint='An origin is scheme://host[:port], e.g. "https://shop.example".',
                id="tracking.E012",
            )
        ]
    errors: list[CheckMessage] = []
    if getattr(settings, "CORS_ALLOW_ALL_ORIGINS", False) and getattr(
        settings, "CORS_ALLOW_CREDENTIALS", False
    ):
        errors.append(
            Error(
                "CORS_ALLOW_ALL_ORIGINS with CORS_ALLOW_CREDENTIALS lets every site "
                "read order streams with its visitors' sessions.",
                hint="List the allowed origins in TRACKING['CORS_ALLOWED_ORIGINS'].",
                id="tracking.E013",
            )
        )
    if origins:
        errors += _cors_setup_errors()
    return errors


def _is_origin(value: object) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    bare = not (parts.path or parts.query or parts.fragment)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and bare


def _cors_setup_errors() -> list[CheckMessage]:
    """The listed origins only work with django-cors-headers installed and active."""
    if not apps.is_installed("corsheaders") or CORS_MIDDLEWARE not in getattr(
        settings, "MIDDLEWARE", []
    ):
        return [
            Error(
                "TRACKING['CORS_ALLOWED_ORIGINS'] needs django-cors-headers.",
                hint=f'Add "corsheaders" to INSTALLED_APPS and "{CORS_MIDDLEWARE}" '
                "near the top of MIDDLEWARE.",
                id="tracking.E014",
            )
        ]
    allowed = [h.lower() for h in getattr(settings, "CORS_ALLOW_HEADERS", [])]
    if "last-event-id" in allowed:
        return []
    return [
        Warning(
            "CORS_ALLOW_HEADERS lacks last-event-id, so cross-origin clients that "
            "resume with the Last-Event-ID header are refused by their browser.",
            hint='Use (*corsheaders.defaults.default_headers, "last-event-id").',
            id="tracking.W010",
        )
    ]


GZIP_MIDDLEWARE = "django.middleware.gzip.GZipMiddleware"
# Django's own settings for servers behind a transaction-pooling proxy such as
# PgBouncer; where they are set, LISTEN on the same database would hear nothing.
POOLER_HINTS = ("DISABLE_SERVER_SIDE_CURSORS",)


@register(Tags.compatibility)
def check_order_model(app_configs: Any, **kwargs: Any) -> list[Error]:
    """Explain a missing or unsuitable order model, naming TRACKING_ORDER_MODEL."""
    from django.apps import apps

    label = conf.order_model_label()
    try:
        model = apps.get_model(label)
    except (LookupError, ValueError):
        return [
            Error(
                f"TRACKING_ORDER_MODEL refers to {label!r}, which is not an installed "
                "model.",
                hint="Set it to 'app_label.ModelName' of your order model.",
                id="tracking.E003",
            )
        ]
    names = {field.name for field in model._meta.get_fields()}
    missing = ", ".join(
        sorted({"reference", "status", conf.get("CUSTOMER_FIELD")} - names)
    )
    if missing:
        return [
            Error(
                f"The order model {label} lacks the field(s) {missing}.",
                hint="It needs a unique public 'reference', a 'status' with choices, "
                "and the customer field named by TRACKING['CUSTOMER_FIELD'].",
                id="tracking.E004",
            )
        ]
    return []


@register(Tags.compatibility)
def check_serving(app_configs: Any, **kwargs: Any) -> list[Warning]:
    """Warn about set-ups under which streams are buffered or never sent."""
    warnings = []
    if GZIP_MIDDLEWARE in settings.MIDDLEWARE:
        warnings.append(
            Warning(
                f"{GZIP_MIDDLEWARE} makes each event a gzip member of its own, "
                "which curl, httpx and requests do not read past the first, and "
                "makes proxies buffer streams.",
                hint="Use tracking.middleware.GZipMiddleware, which leaves "
                "text/event-stream responses alone.",
                id="tracking.W001",
            )
        )
    if not getattr(settings, "ASGI_APPLICATION", None):
        warnings.append(
            Warning(
                "Event streams need an ASGI server; under WSGI they are never sent.",
                hint="Serve tracking.asgi.get_asgi_application() with uvicorn and set "
                "ASGI_APPLICATION to it.",
                id="tracking.W002",
            )
        )
    warnings += _check_listener()
    return warnings


def _check_listener() -> list[Warning]:
    from django.db import connections

    alias = conf.get("DATABASE")
    db = connections[alias].settings_dict
    pooled = any(db.get(name) for name in POOLER_HINTS)
    if (
        not pooled
        or "postgresql" not in db.get("ENGINE", "")
        or conf.get("LISTENER_DSN")
    ):
        return []
    return [
        Warning(
            f"DATABASES[{alias!r}] looks like it goes through a transaction-pooling "
            "proxy, where LISTEN silently receives nothing.",
            hint="Set TRACKING['LISTENER_DSN'] to a direct (or session-pooled) "
            "connection string for the listener.",
            id="tracking.W003",
        )
    ]


@register(Tags.security)
def check_access_rule(app_configs: Any, **kwargs: Any) -> list[Error]:
    """Explain a ``MAY_FOLLOW`` rule that cannot be imported or called."""
    from django.utils.module_loading import import_string

    path = conf.get("MAY_FOLLOW")
    if path is None:
        return []
    try:
        rule = import_string(path) if isinstance(path, str) else None
    except ImportError:
        rule = None
    if callable(rule):
        return []
    return [
        Error(
            f"TRACKING['MAY_FOLLOW'] = {path!r} is not an importable callable.",
            hint="Give the dotted path of may_follow(user, order) -> bool.",
            id="tracking.E005",
        )
    ]
