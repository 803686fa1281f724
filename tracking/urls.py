"""URLs of the tracking app; include them at the project's root."""

from django.urls import path

from tracking import feed_stream, pages, views

app_name = "tracking"

urlpatterns = [
    path("orders/<str:reference>/", pages.order_page, name="order-page"),
    path("orders/<str:reference>/events", views.order_events, name="order-events"),
    path("tracking/events", feed_stream.feed_events, name="feed-events"),
    path("tracking/board", pages.staff_board, name="board"),
    path("tracking/health", views.health, name="health"),
    path("tracking/metrics", views.metrics_view, name="metrics"),
]
