from django.contrib import admin

from .models import GroupBinding, Tenant, TenantDomain, UserBinding


class TenantDomainInline(admin.TabularInline):
    model = TenantDomain
    extra = 0
    readonly_fields = ["name", "is_initial", "is_default", "authentication_type", "active"]


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    """For service operators. The token cache is never shown (`editable=False`)."""

    list_display = [
        "display_name",
        "microsoft_tenant_id",
        "organization",
        "mode",
        "status",
        "connected_at",
    ]
    list_filter = ["status", "mode"]
    search_fields = ["display_name", "microsoft_tenant_id", "domains__name"]
    readonly_fields = [
        "organization",
        "microsoft_tenant_id",
        "mode",
        "status",
        "connected_by",
        "authorized_by_upn",
        "authorized_by_oid",
        "granted_permissions",
        "directory_roles",
        "last_error",
        "connected_at",
        "deauthorized_at",
    ]
    inlines = [TenantDomainInline]


@admin.register(UserBinding)
class UserBindingAdmin(admin.ModelAdmin):
    list_display = ["user", "tenant", "microsoft_id", "created_at"]
    raw_id_fields = ["user", "tenant", "organization"]


@admin.register(GroupBinding)
class GroupBindingAdmin(admin.ModelAdmin):
    list_display = ["group", "tenant", "microsoft_id", "created_at"]
    raw_id_fields = ["group", "tenant", "organization"]
