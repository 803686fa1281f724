"""Settings of the demo project.

Everything that differs between machines comes from the environment: ``DATABASE_URL``
(SQLite by default), ``SECRET_KEY``, ``DEBUG``, ``ALLOWED_HOSTS``,
``CORS_ALLOWED_ORIGINS`` (comma-separated origins whose pages may follow streams) and
``TRACKING_HEARTBEAT_SECONDS``.
"""

import os
from pathlib import Path

from corsheaders.defaults import default_headers

from config.database import database_from_url

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get(
    "SECRET_KEY", "demo-only-secret-key-change-me-in-production"
)
DEBUG = os.environ.get("DEBUG", "0") == "1"
ALLOWED_HOSTS = os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]").split(",")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "tracking",
    "orders",
]

MIDDLEWARE = [
    # First, so that it answers CORS preflights and adds its headers to every answer.
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

DATABASES = {
    "default": database_from_url(
        os.environ.get("DATABASE_URL", "sqlite:///db.sqlite3"), BASE_DIR
    )
}

AUTH_PASSWORD_VALIDATORS: list[dict[str, str]] = []

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TRACKING_ORDER_MODEL = "orders.Order"
TRACKING = {
    "HEARTBEAT_SECONDS": float(os.environ.get("TRACKING_HEARTBEAT_SECONDS", "15")),
    "CORS_ALLOWED_ORIGINS": [
        origin
        for origin in os.environ.get("CORS_ALLOWED_ORIGINS", "").split(",")
        if origin
    ],
}

# django-cors-headers: the origins come from TRACKING above and apply to the streams
# only. Listed origins may send the visitor's session cookie; no other origin gets
# CORS headers at all. EventSource resumes with a Last-Event-ID header: allow it.
CORS_ALLOW_CREDENTIALS = True
CORS_ALLOW_HEADERS = (*default_headers, "last-event-id")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    # Warnings and errors of every library (tracebacks of server errors included)
    # reach the console; the app's own stream lines too.
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {"tracking": {"level": "INFO"}},
}
