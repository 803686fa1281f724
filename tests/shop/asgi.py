"""The other shop's ASGI entry point."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.shop.settings")

from tracking.asgi import get_asgi_application

application = get_asgi_application()
