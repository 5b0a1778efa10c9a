"""Signatures in the Standard Webhooks format (standardwebhooks.com), so receivers can
verify with that project's libraries in any language, or with a few lines of HMAC:

    webhook-id:        the event id (the same on every retry: de-duplicate on it)
    webhook-timestamp: seconds since the epoch when this attempt was signed
    webhook-signature: "v1,<base64 HMAC-SHA256 of '{id}.{timestamp}.{body}'>", one per
                       secret, space-separated (two during a secret rotation)

The secret is `whsec_` + base64 of 24 random bytes; the HMAC key is those bytes."""

import base64
import secrets
from datetime import datetime

from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"


def secret_generate() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def signature_headers(*, event_id: str, body: str, secrets: list[str], at: datetime) -> dict:
    signatures = " ".join(
        Webhook(secret).sign(msg_id=event_id, timestamp=at, data=body) for secret in secrets
    )
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signatures,
    }
