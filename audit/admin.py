"""The event log in Django's admin, read-only: events are append-only."""

from django.contrib import admin

from .models import Event


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "organization",
        "type",
        "actor_label",
        "target_type",
        "target_label",
        "outcome",
    )
    list_filter = ("outcome", "type")
    search_fields = ("type", "target_label", "actor_label")
    list_select_related = ("organization",)
    date_hierarchy = "created_at"
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
