"""Profile photos (graph-facts §9): what `PUT /users/{id}/photo/$value` accepts, the
metadata `GET /users/{id}/photo` returns, and the Outlook throttling bucket photo calls
belong to.

A photo's bytes live in their own key/value scope (`photo:<tenant id>`), read only when
asked for; the user object carries its metadata (`_photo`), so a tenant of 50,000 users
loads no image at start-up and `GET photo` answers 404 without touching the disk.
"""

from __future__ import annotations

import base64
import hashlib
import io
import time
import warnings

from PIL import Image, UnidentifiedImageError

from graphsim.errors import GraphError
from graphsim.store import State, Tenant

MAX_BYTES = 4 * 1024 * 1024  # "The size of the photo you can update to is limited to 4 MB."
MIN_SIDE = 48  # the smallest HD size; a 23x23 upload was refused (ValidationWidthTooSmall)
MAX_PIXELS = 50_000_000  # past this Pillow's own bomb check would warn; refuse it instead
TYPES = {"JPEG": "image/jpeg", "PNG": "image/png"}
BAD_REQUEST_MESSAGE = (
    "Exception of type 'Microsoft.Fast.Profile.Core.Exception.ProfileBadRequestException' "
    "was thrown."
)
NOT_FOUND_MESSAGE = (
    "Exception of type 'Microsoft.Fast.Profile.Core.Exception.ImageNotFoundException' was thrown."
)
# Outlook service limits (throttling-limits, "Outlook service limits"): 10,000 requests
# per 10 minutes per app per mailbox. Photo calls are charged here, not to the identity
# resource-unit bucket; their writes still count as writes.
OUTLOOK_LIMIT, OUTLOOK_WINDOW = 10_000, 600.0


def image_not_found() -> GraphError:
    return GraphError(404, "ImageNotFound", NOT_FOUND_MESSAGE)


def _refused(code: str) -> GraphError:
    return GraphError(400, code, BAD_REQUEST_MESSAGE)


def inspect(raw: bytes) -> dict:
    """The metadata of an uploaded photo, or Graph's 400 when it would refuse it."""
    if not raw:
        raise _refused("ImageNotProvided")
    if len(raw) > MAX_BYTES:
        raise _refused("ImageTooLarge")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(raw)) as image:
                kind, (width, height) = image.format, image.size
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _refused("ImageTypeNotSupported") from None
    if kind not in TYPES:
        raise _refused("ImageTypeNotSupported")
    if width * height > MAX_PIXELS:
        raise _refused("ImageTooLarge")
    if width < MIN_SIDE:
        raise _refused("ValidationWidthTooSmall")
    if height < MIN_SIDE:
        raise _refused("ValidationHeightTooSmall")
    return {
        "type": TYPES[kind],
        "width": width,
        "height": height,
        "bytes": len(raw),
        "etag": '"' + hashlib.sha256(raw).hexdigest()[:8].upper() + '"',
    }


def photo_store(state: State, tenant: Tenant, user: dict, raw: bytes, meta: dict) -> None:
    state.db.put(f"photo:{tenant.id}", user["id"], {"data": base64.b64encode(raw).decode()})
    user["_photo"] = meta
    state.save_object(tenant, user)


def photo_drop(state: State, tenant: Tenant, user: dict) -> bool:
    """Remove a user's photo; False when there was none."""
    if not user.get("_photo"):
        return False
    state.db.delete(f"photo:{tenant.id}", user["id"])
    user.pop("_photo", None)
    state.save_object(tenant, user)
    return True


def photo_bytes(state: State, tenant: Tenant, user: dict) -> bytes:
    if not user.get("_photo"):
        raise image_not_found()
    stored = state.db.get(f"photo:{tenant.id}", user["id"])
    if stored is None:
        raise image_not_found()
    return base64.b64decode(stored["data"])


def metadata_view(user: dict, context: str) -> dict:
    meta = user.get("_photo")
    if not meta:
        raise image_not_found()
    return {
        "@odata.context": context,
        "@odata.mediaContentType": meta["type"],
        "@odata.mediaEtag": meta["etag"],
        "id": f"{meta['width']}x{meta['height']}",
        "width": meta["width"],
        "height": meta["height"],
    }


def outlook_charge(tenant: Tenant, app_id: str, mailbox: str) -> float | None:
    """Charge one photo call to the app's Outlook bucket for this mailbox; the seconds to
    wait when it is empty (only while the tenant's throttling is on), else None."""
    if not tenant.settings.get("throttling"):
        return None
    now, length = time.monotonic(), OUTLOOK_WINDOW / tenant.scale
    windows = tenant.runtime.outlook_window
    window = windows.get((app_id, mailbox))
    if window is None or now - window[0] >= length:
        window = windows[(app_id, mailbox)] = [now, 0]
    limit = int(tenant.settings.get("outlook_limit") or OUTLOOK_LIMIT)
    if window[1] + 1 > limit:
        return max(window[0] + length - now, 0.001)
    window[1] += 1
    return None


def generated_photo(seed: int, index: int) -> bytes:
    """A small, distinct PNG (96x96, one colour per user) for `generate`'s photo share."""
    colour = ((seed * 31 + index * 67) % 256, (index * 131) % 256, (seed + index * 29) % 256)
    out = io.BytesIO()
    Image.new("RGB", (96, 96), colour).save(out, format="PNG")
    return out.getvalue()
