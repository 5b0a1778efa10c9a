"""Who a SCIM request acts for: `Authorization: Bearer stk_...` with an organization's
key made for SCIM. Every query a SCIM view makes is scoped to that key's
organization."""

from dataclasses import dataclass

from directory import keys
from directory.lifecycle import client_address
from directory.models import ApiKey, Organization, User
from directory.ratelimit import RateLimited

from .errors import ScimError


@dataclass(frozen=True)
class ScimCaller:
    key: ApiKey
    organization: Organization
    actor: User  # the key's creator, named in events with the key (directory.keys)


def scim_caller(request) -> ScimCaller:
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise ScimError(401, "Send an organization's SCIM key: Authorization: Bearer stk_...")
    try:
        key = keys.api_key_authenticate(
            secret=secret.strip(), use=ApiKey.SCOPE_SCIM, address=client_address(request)
        )
    except RateLimited as error:
        raise ScimError(429, error.message, retry_after=error.retry_after) from None
    except keys.KeyRefused as error:
        raise ScimError(401, error.message) from None
    return ScimCaller(key=key, organization=key.organization, actor=key.created_by)
