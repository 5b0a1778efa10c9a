"""A software WebAuthn authenticator for tests: an EC P-256 key pair per credential, the
"none" attestation, and a signature counter, answering the options the server sends the
way a browser and a security key together would."""

import hashlib
import json
import os
import struct

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url

FLAG_USER_PRESENT, FLAG_USER_VERIFIED, FLAG_ATTESTED = 0x01, 0x04, 0x40


class SoftAuthenticator:
    def __init__(self, origin: str):
        self.origin = origin
        self.credentials: dict[bytes, dict] = {}

    def create(self, options: dict) -> dict:
        """Answer `navigator.credentials.create` for these (JSON) options."""
        credential_id = os.urandom(16)
        key = ec.generate_private_key(ec.SECP256R1())
        self.credentials[credential_id] = {"key": key, "count": 0, "rp_id": options["rp"]["id"]}
        client_data = self._client_data("webauthn.create", options["challenge"])
        auth_data = self._auth_data(
            options["rp"]["id"], 0, FLAG_ATTESTED, credential_id + self._cose_key(key)
        )
        auth_data = auth_data[:37] + bytes(16) + struct.pack(">H", 16) + auth_data[37:]
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {
            "id": bytes_to_base64url(credential_id),
            "rawId": bytes_to_base64url(credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": bytes_to_base64url(client_data),
                "attestationObject": bytes_to_base64url(attestation),
                "transports": ["internal"],
            },
            "clientExtensionResults": {},
        }

    def get(self, options: dict, *, counter_step: int = 1) -> dict:
        """Answer `navigator.credentials.get` with the first allowed credential it holds
        (any it holds, as a passkey does, when the options allow all)."""
        allowed = [base64url_to_bytes(c["id"]) for c in options.get("allowCredentials", [])]
        credential_id = next(
            c for c in (allowed or list(self.credentials)) if c in self.credentials
        )
        held = self.credentials[credential_id]
        held["count"] += counter_step
        client_data = self._client_data("webauthn.get", options["challenge"])
        auth_data = self._auth_data(held["rp_id"], held["count"], 0, b"")
        signature = held["key"].sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        return {
            "id": bytes_to_base64url(credential_id),
            "rawId": bytes_to_base64url(credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": bytes_to_base64url(client_data),
                "authenticatorData": bytes_to_base64url(auth_data),
                "signature": bytes_to_base64url(signature),
            },
            "clientExtensionResults": {},
        }

    def _client_data(self, kind: str, challenge: str) -> bytes:
        return json.dumps({"type": kind, "challenge": challenge, "origin": self.origin}).encode()

    @staticmethod
    def _auth_data(rp_id: str, count: int, flags: int, attested: bytes) -> bytes:
        rp_hash = hashlib.sha256(rp_id.encode()).digest()
        flags |= FLAG_USER_PRESENT | FLAG_USER_VERIFIED
        return rp_hash + bytes([flags]) + struct.pack(">I", count) + attested

    @staticmethod
    def _cose_key(key) -> bytes:
        numbers = key.public_key().public_numbers()
        return cbor2.dumps(
            {
                1: 2,  # kty: EC2
                3: -7,  # alg: ES256
                -1: 1,  # crv: P-256
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )
