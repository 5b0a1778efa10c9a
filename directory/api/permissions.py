from rest_framework.permissions import BasePermission

from directory import mfa


class IsOrganizationAdmin(BasePermission):
    """Admins and owners of an organization (or its API keys); members get 403. A person
    signed in through the console must have passed their second factor first
    (`directory.mfa.mfa_step`); API keys are their own factor."""

    message = "Only organization admins and owners can use the API."

    def has_permission(self, request, view):
        user = request.user
        if not (
            user
            and getattr(user, "is_authenticated", False)
            and getattr(user, "is_org_admin", False)
        ):
            return False
        if request.auth is None and mfa.mfa_step(request):
            self.message = "Confirm your second factor in the console first."
            return False
        return True
