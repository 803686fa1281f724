"""One channel per key, routed the way the django-eventstream README shows."""

import django_eventstream  # type: ignore[import-not-found]
from django.urls import include, path

from . import views

urlpatterns = [
    path(
        "orders/<str:key>/events",
        include(django_eventstream.urls),
        {"format-channels": ["order-{key}"]},
    ),
    path("publish/<str:key>", views.publish),
]
