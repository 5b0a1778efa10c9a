"""Who a SCIM request acts for: `Authorization: Bearer stk_...` with an organization's
key made for SCIM. Every query a SCIM view makes is scoped to that key's
organization."""

from dataclasses import dataclass

from directory import selectors, services
from directory.models import ApiKey, Organization, User

from .errors import ScimError


@dataclass(frozen=True)
class ScimCaller:
    key: ApiKey
    organization: Organization
    actor: User | None  # the key's creator, named in events; None once they are gone


def scim_caller(request) -> ScimCaller:
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise ScimError(401, "Send an organization's SCIM key: Authorization: Bearer stk_...")
    key = selectors.api_key_find(secret=secret.strip())
    if key is None:
        raise ScimError(401, "The key is not valid or was revoked.")
    if not key.allows(ApiKey.SCOPE_SCIM):
        raise ScimError(
            401, "This key is not a SCIM key; make one for SCIM in the console (API keys)."
        )
    services.api_key_touch(key=key)
    creator = key.created_by if key.created_by_id else None
    if creator is not None and creator.organization_id != key.organization_id:
        creator = None
    return ScimCaller(key=key, organization=key.organization, actor=creator)
