"""The other shop mounts the tracking URLs under its own prefix."""

from django.urls import include, path

urlpatterns = [path("shop/", include("tracking.urls"))]
