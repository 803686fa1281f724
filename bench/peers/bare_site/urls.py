"""Routes: one stream per key and a publish hook for the harness."""

from django.urls import path

from . import views

urlpatterns = [
    path("orders/<str:key>/events", views.events),
    path("publish/<str:key>", views.publish),
]
