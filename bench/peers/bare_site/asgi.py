"""The ASGI application uvicorn serves for the bare Django peer."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bare_site.settings")
application = get_asgi_application()
