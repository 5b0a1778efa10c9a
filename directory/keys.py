"""Whether a presented key may act, for the REST API (`directory.api.authentication`)
and SCIM (`scim.authentication`) alike: the client address's and the key's rate limits,
the key itself (known, not revoked, made for this use, not expired), and its creator,
who must still be a member of the key's organization. A key never outlives the person
accountable for it; what it may do once accepted is `directory.roles.key_allows`
narrowed by its creator's current role."""

from datetime import UTC

from django.conf import settings

from audit.context import KeyRef, acting_key_set

from . import selectors, services
from .errors import ServiceError
from .models import ApiKey
from .ratelimit import rate_count

WRONG_USE = {
    ApiKey.SCOPE_API: "This key is for SCIM provisioning only (/scim/v2/), not the REST API.",
    ApiKey.SCOPE_SCIM: "This key is not a SCIM key; make one for SCIM in the console (API keys).",
}
CREATOR_GONE = (
    "This API key stopped working: the person who created it is no longer a member of "
    "the organization. Ask an admin for a new key."
)


class KeyRefused(ServiceError):
    code = "not_authenticated"
    status = 401


def api_key_authenticate(*, secret: str, use: str, address: str) -> ApiKey:
    """The key `secret` names, accepted for `use` (`ApiKey.SCOPE_API` or `SCOPE_SCIM`),
    with its use recorded; events recorded for the rest of the request name it. Raises
    `RateLimited` (429) or `KeyRefused` (401) with a message saying why."""
    rate_count(
        scope="address",
        ident=address,
        limit=settings.API_RATE_LIMIT_PER_ADDRESS,
        what="your address",
    )
    key = selectors.api_key_find(secret=secret)
    if key is None:
        raise KeyRefused("The API key is not valid or was revoked.")
    if not key.allows(use):
        raise KeyRefused(WRONG_USE[use])
    if key.is_expired():
        expired = key.expires_at.astimezone(UTC)
        raise KeyRefused(f"This API key expired on {expired:%Y-%m-%d %H:%M} UTC.")
    creator = key.created_by
    if creator is None or creator.organization_id != key.organization_id:
        raise KeyRefused(CREATOR_GONE)
    # By the key's random public part, not its row id: ids come again after a restore.
    rate_count(
        scope="key", ident=key.lookup, limit=settings.API_RATE_LIMIT_PER_KEY, what="this API key"
    )
    services.api_key_touch(key=key, address=address)
    acting_key_set(KeyRef(id=key.pk, label=key.label))
    return key
