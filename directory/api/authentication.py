from rest_framework import authentication, exceptions

from directory import selectors, services


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer stk_...`: the request acts for the key's organization.

    `request.user` is the key's creator when they still exist (so events name a person);
    `request.auth` is the key."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode(errors="replace")
        scheme, _, secret = header.partition(" ")
        if scheme != self.keyword:
            return None
        key = selectors.api_key_find(secret=secret.strip())
        if key is None:
            raise exceptions.AuthenticationFailed("The API key is not valid or was revoked.")
        services.api_key_touch(key=key)
        return (ApiKeyActor(key), key)

    def authenticate_header(self, request):
        return self.keyword


class ApiKeyActor:
    """Stands in for a user on key-authenticated requests."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, key):
        self.key = key
        self.organization = key.organization
        self.organization_id = key.organization_id
        creator = key.created_by
        self.pk = getattr(creator, "pk", None)
        self.email = f"api-key:{key.name}"
        self.role = "admin"
        self.is_org_admin = True

    def __getattr__(self, name):  # anything else a view might ask a user for
        raise AttributeError(name)
