"""ASGI entry point: the only way to serve the event streams (see README, Deploying).

The demo serves the admin's static files itself so ``make demo`` needs nothing else;
in production put them behind nginx or a CDN instead.
"""

import os

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from tracking.asgi import get_asgi_application

application = ASGIStaticFilesHandler(get_asgi_application())
