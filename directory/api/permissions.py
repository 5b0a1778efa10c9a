from rest_framework.permissions import BasePermission

from directory import mfa, roles


class IsOrganizationAdmin(BasePermission):
    """Who may use each endpoint: the role table in `directory.roles` (admins and owners
    everything, helpdesk and read-only less, members nothing), for a person signed in
    to the console and for an API key (which acts with its creator's role, narrowed by
    its own scope: read-only, areas). A person
    signed in through the console must have passed their second factor first
    (`directory.mfa.mfa_step`); API keys are their own factor."""

    message = "Only organization admins and owners can use the API."

    def has_permission(self, request, view):
        user = request.user
        if not (
            user
            and getattr(user, "is_authenticated", False)
            and getattr(user, "has_console_access", False)
        ):
            return False
        if request.auth is None and mfa.mfa_step(request):
            self.message = "Confirm your second factor in the console first."
            return False
        url_name = request.resolver_match.url_name if request.resolver_match else ""
        if not roles.api_allows(role=user.role, url_name=url_name, method=request.method):
            self.message = roles.NOT_ALLOWED.format(role=roles.role_label(user.role))
            return False
        if request.auth is not None:  # a key: its own scope narrows its creator's role
            refusal = roles.key_refusal(request.auth, url_name=url_name, method=request.method)
            if refusal:
                self.message = refusal
                return False
        return True
