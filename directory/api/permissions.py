from rest_framework.permissions import BasePermission


class IsOrganizationAdmin(BasePermission):
    """Admins and owners of an organization (or its API keys); members get 403."""

    message = "Only organization admins and owners can use the API."

    def has_permission(self, request, view):
        user = request.user
        return bool(
            user
            and getattr(user, "is_authenticated", False)
            and getattr(user, "is_org_admin", False)
        )
