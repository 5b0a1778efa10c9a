"""Django's admin at /django-admin/ for service operators (staff, usually without an
organization). Organization admins use the console instead."""

from django.contrib import admin

from .models import ApiKey, Group, Membership, Organization, User


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "created_at")
    search_fields = ("name", "slug")


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    list_display = ("email", "organization", "role", "status", "is_staff", "created_at")
    list_filter = ("status", "role", "is_staff")
    search_fields = ("email", "display_name")
    list_select_related = ("organization",)
    raw_id_fields = ("organization",)
    # Passwords are set through services (policy, history, bridges), never typed here.
    exclude = ("password", "user_permissions", "groups")
    readonly_fields = ("last_login", "password_changed_at", "created_at")
    show_full_result_count = False


class MembershipInline(admin.TabularInline):
    model = Membership
    raw_id_fields = ("user",)
    extra = 0


@admin.register(Group)
class GroupAdmin(admin.ModelAdmin):
    list_display = ("name", "organization", "created_at")
    search_fields = ("name",)
    list_select_related = ("organization",)
    raw_id_fields = ("organization",)
    inlines = [MembershipInline]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "organization",
        "created_by",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    )
    list_select_related = ("organization", "created_by")
    readonly_fields = (
        "organization",
        "lookup",
        "key_hash",
        "created_by",
        "created_at",
        "last_used_at",
        "last_used_from",
    )

    def has_add_permission(self, request):
        return False  # keys are made in the console, where the secret is shown once
