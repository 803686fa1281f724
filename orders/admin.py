"""Admin for the demo orders, with their events and a form to record one."""

from django.contrib import admin

from orders.models import Order
from tracking.admin import TrackedOrderAdmin


@admin.register(Order)
class OrderAdmin(TrackedOrderAdmin):
    """Orders with their live status, event history and an event form."""

    list_display = ("reference", "customer", "status", "updated_at")
    list_filter = ("status",)
    search_fields = ("reference",)
    fields = ("reference", "customer", "status", "created_at", "updated_at")
    readonly_fields = ("reference", "created_at", "updated_at")
