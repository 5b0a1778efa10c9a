"""REST API v1: API-key authentication, and who a request acts as."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from directory import selectors, services
from directory.models import ApiKey, Organization, User


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer stk_...`: the request acts for the key's organization.

    `request.user` is an `ApiKeyActor`; `request.auth` is the key."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode(errors="replace")
        scheme, _, secret = header.partition(" ")
        if scheme != self.keyword:
            return None
        key = selectors.api_key_find(secret=secret.strip())
        if key is None:
            raise exceptions.AuthenticationFailed("The API key is not valid or was revoked.")
        if not key.allows(ApiKey.SCOPE_API):
            raise exceptions.AuthenticationFailed(
                "This key is for SCIM provisioning only (/scim/v2/), not the REST API."
            )
        services.api_key_touch(key=key)
        return (ApiKeyActor(key), key)

    def authenticate_header(self, request):
        return self.keyword


class ApiKeyActor:
    """Stands in for a user on key-authenticated requests.

    A key belongs to its organization and never has more rights than its creator has
    now (directory.roles): an owner's key has the owner's rights, a creator demoted to
    helpdesk or read-only narrows their keys at once, and one demoted to member stops
    them. Events name its creator (`user`) when they still exist, so a person is
    accountable; a key whose creator was deleted acts as nobody (None) with admin rights,
    and then it cannot do what only an owner may."""

    is_authenticated = True
    is_anonymous = False
    pk = None

    def __init__(self, key: ApiKey):
        self.key = key
        self.organization = key.organization
        self.organization_id = key.organization_id
        creator = key.created_by if key.created_by_id else None
        self.user: User | None = creator if _same_organization(creator, key) else None
        self.role = self.user.role if self.user else User.ADMIN
        self.is_org_admin = self.role in (User.ADMIN, User.OWNER)
        self.has_console_access = self.user.has_console_access if self.user else True
        self.email = f"api-key:{key.name}"

    def __str__(self):
        return self.email


def _same_organization(user: User | None, key: ApiKey) -> bool:
    return user is not None and user.organization_id == key.organization_id


def request_actor(request) -> User | None:
    """The user to record as the actor of a write made through this request."""
    user = request.user
    return user.user if isinstance(user, ApiKeyActor) else user


def request_organization(request) -> Organization:
    return request.user.organization


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """Documents the key in the OpenAPI schema (registered by being defined)."""

    target_class = ApiKeyAuthentication
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "stk_...",
            "description": "An organization API key, created in the console (Settings → API "
            "keys): `Authorization: Bearer stk_...`.",
        }
