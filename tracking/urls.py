"""URLs of the tracking app; include them at the project's root."""

from django.urls import path

from tracking import views

app_name = "tracking"

urlpatterns = [
    path("orders/<str:reference>/events", views.order_events, name="order-events"),
    path("tracking/health", views.health, name="health"),
    path("tracking/metrics", views.metrics_view, name="metrics"),
]
