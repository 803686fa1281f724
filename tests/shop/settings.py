"""Settings of the other shop: only what a shop adds to use the tracking app."""

import json
import os
from pathlib import Path

from config.database import database_from_url

BASE_DIR = Path(__file__).resolve().parent
SECRET_KEY = "the-other-shop-test-key"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
ROOT_URLCONF = "tests.shop.urls"
ASGI_APPLICATION = "tests.shop.asgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "tracking",
    "tests.shop",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]

DATABASES = {"default": database_from_url(os.environ["DATABASE_URL"], BASE_DIR)}

TRACKING_ORDER_MODEL = "shop.Purchase"
TRACKING = {
    "CUSTOMER_FIELD": "buyer",
    **json.loads(os.environ.get("TRACKING_OVERRIDES", "{}")),
}
