"""Admin pieces: the read-only event history, a form to record an event, and links.

Events cannot be edited or deleted here, nor can orders, whose deletion would take
their events along. Recording a free event needs the add permission on events;
changing an order's status needs the change permission on orders, and records its own
event through the order model's ``save()``. Staff who may change an order also get a
tracking link to copy, and an action that revokes every link of the chosen orders.
"""

from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from tracking import conf
from tracking.errors import InvalidEvent
from tracking.links import stream_url
from tracking.models import OrderEvent
from tracking.ordermodel import terminal_statuses
from tracking.recording import check_data, check_kind, record_event
from tracking.revocation import revoke_links


class OrderEventInline(admin.TabularInline):
    """The order's events in ``seq`` order, read-only."""

    model = OrderEvent
    fields = ("seq", "kind", "data", "created_at")
    readonly_fields = fields
    ordering = ("seq",)
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class RecordEventForm(forms.ModelForm):
    """The order form plus an optional event to record with the save.

    The form refuses what ``record_event`` would refuse, so a save never half works,
    and refuses to save over a status that changed since the page was loaded, so two
    staff members cannot move an order backwards without noticing.
    """

    event_kind = forms.CharField(
        required=False,
        max_length=32,
        help_text="A short lowercase word such as note or delayed.",
    )
    event_message = forms.CharField(required=False, max_length=500)
    # The status the page showed, sent back to tell a stale page from a fresh one.
    loaded_status = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["loaded_status"].initial = getattr(self.instance, "status", "")

    def clean_event_kind(self) -> str:
        kind: str = self.cleaned_data.get("event_kind", "")
        if kind:
            _validate(check_kind, kind)
        return kind

    def clean_event_message(self) -> str:
        message: str = self.cleaned_data.get("event_message", "")
        if message:
            _validate(check_data, {"message": message})
        return message

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean()
        if self.instance.pk:
            self._check_stored_status()
        wants_message = cleaned.get("event_message") and not cleaned.get("event_kind")
        if wants_message and "event_kind" not in self.errors:
            self.add_error("event_kind", "Give the event a kind to record the message.")
        return cleaned

    def _check_stored_status(self) -> None:
        model = type(self.instance)
        stored = (
            model._base_manager.filter(pk=self.instance.pk)
            .values_list("status", flat=True)
            .first()
        )
        loaded = self.cleaned_data.get("loaded_status") or stored
        if stored != loaded:
            raise forms.ValidationError(
                f"The order became {stored} while you were editing it; reload the "
                "page and make your change again."
            )
        if stored in terminal_statuses(model) and self.has_changed():
            raise forms.ValidationError(
                f"This order is {stored}, which is final: it cannot change."
            )


def _validate(check: Any, value: Any) -> None:
    try:
        check(value)
    except InvalidEvent as exc:
        raise forms.ValidationError(str(exc)) from exc


class TrackedOrderAdmin(admin.ModelAdmin):
    """A base ``ModelAdmin`` for the order model with the tracking pieces added.

    Its change page template adds the tracking link; a subclass that sets its own
    ``change_form_template`` should extend ``tracking/admin/change_form.html``.
    """

    form = RecordEventForm
    inlines = [OrderEventInline]
    actions = ["revoke_tracking_links"]
    change_form_template = "tracking/admin/change_form.html"

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Refuse: deleting an order deletes its events, which only the retention and
        erasure commands may do."""
        return False

    @admin.action(description="Revoke every tracking link", permissions=["change"])
    def revoke_tracking_links(self, request: HttpRequest, queryset: QuerySet) -> None:
        """Refuse every link of the chosen orders made until now; new ones work."""
        orders = list(queryset)
        for order in orders:
            revoke_links(order)
        self.message_user(
            request,
            f"Revoked every tracking link of {len(orders)} order(s); links made "
            "from now on work.",
            messages.SUCCESS,
        )

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Any = None,
    ) -> HttpResponse:
        """Add a fresh tracking link for staff who may change this order."""
        if obj is not None and self.has_change_permission(request, obj):
            lifetime = conf.get("TOKEN_MAX_AGE_SECONDS")
            context["tracking_link"] = {
                "url": stream_url(obj, request.build_absolute_uri("/"), lifetime),
                "expires_at": timezone.now() + timedelta(seconds=lifetime),
            }
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(super().get_fields(request, obj))
        extra = ("event_kind", "event_message", "loaded_status")
        fields = [f for f in fields if f not in extra]
        if obj is None:
            return fields
        if request.user.has_perm("tracking.add_orderevent"):
            fields += ["event_kind", "event_message"]
        return [*fields, "loaded_status"]

    def save_model(
        self, request: HttpRequest, obj: Any, form: Any, change: bool
    ) -> None:
        """Record the free event, then save the order, in the admin's transaction.

        The event goes first: when the same save finishes the order, a note recorded
        after it would be refused.
        """
        kind = form.cleaned_data.get("event_kind")
        if kind and request.user.has_perm("tracking.add_orderevent"):
            message = form.cleaned_data.get("event_message") or ""
            record_event(obj, kind, {"message": message} if message else {})
        super().save_model(request, obj, form, change)
