"""The ASGI application uvicorn serves for the django-eventstream peer."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "es_site.settings")
application = get_asgi_application()
