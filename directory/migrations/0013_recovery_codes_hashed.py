"""Recovery codes made before they were hashed (directory.recovery_codes) are replaced
by their hash, so no code is left in clear. They keep working: a code is checked by its
hash. Not reversible: the codes are gone."""

from django.db import migrations
from django.utils.crypto import salted_hmac

SALT = "stratus.recovery-code"  # directory.recovery_codes.SALT
HASH_LENGTH = 16


def _hash(code: str) -> str:
    normal = code.replace(" ", "").replace("-", "").lower()
    return salted_hmac(SALT, normal, algorithm="sha256").hexdigest()[:HASH_LENGTH]


def hash_clear_codes(apps, schema_editor):
    StaticToken = apps.get_model("otp_static", "StaticToken")
    # Codes in clear are django-otp's 8 base32 characters; hashes are 16 hex digits.
    for token in StaticToken.objects.exclude(token__regex=r"^[0-9a-f]{16}$").iterator():
        token.token = _hash(token.token)
        token.save(update_fields=["token"])


class Migration(migrations.Migration):
    dependencies = [
        ("directory", "0012_api_key_scope_expiry_last_address"),
        ("otp_static", "0003_add_timestamps"),
    ]

    operations = [migrations.RunPython(hash_clear_codes, migrations.RunPython.noop)]
