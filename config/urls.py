"""URLs of the demo project: the admin and the tracking app."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("tracking.urls")),
]
