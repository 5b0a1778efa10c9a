"""REST API v1: API-key authentication, and who a request acts as."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from directory import keys
from directory.lifecycle import client_address
from directory.models import ApiKey, Organization, User
from directory.ratelimit import RateLimited


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer stk_...`: the request acts for the key's organization
    (`directory.keys.api_key_authenticate` says whether the key may act at all).

    `request.user` is an `ApiKeyActor`; `request.auth` is the key."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode(errors="replace")
        scheme, _, secret = header.partition(" ")
        if scheme != self.keyword:
            return None
        try:
            key = keys.api_key_authenticate(
                secret=secret.strip(), use=ApiKey.SCOPE_API, address=client_address(request)
            )
        except RateLimited as error:
            throttled = exceptions.Throttled(detail=error.message)
            throttled.wait = error.retry_after  # Retry-After, without DRF's own sentence
            raise throttled from None
        except keys.KeyRefused as error:
            raise exceptions.AuthenticationFailed(error.message) from None
        return (ApiKeyActor(key), key)

    def authenticate_header(self, request):
        return self.keyword


class ApiKeyActor:
    """Stands in for a user on key-authenticated requests.

    A key belongs to its organization and never has more rights than its creator has
    now (directory.roles): an owner's key has the owner's rights, a creator demoted to
    helpdesk or read-only narrows their keys at once, one demoted to member stops them,
    and a removed creator's key is refused before it gets here. Events name its creator
    (`user`), so a person is accountable, and the key itself (audit.context)."""

    is_authenticated = True
    is_anonymous = False
    pk = None

    def __init__(self, key: ApiKey):
        self.key = key
        self.organization = key.organization
        self.organization_id = key.organization_id
        self.user: User = key.created_by
        self.role = self.user.role
        self.is_org_admin = self.role in (User.ADMIN, User.OWNER)
        self.has_console_access = self.user.has_console_access
        self.email = f"api-key:{key.name}"

    def __str__(self):
        return self.email


def request_actor(request) -> User:
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
