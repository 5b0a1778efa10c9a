"""`manage.py rotate_encryption_keys`: after putting a new key first in
FIELD_ENCRYPTION_KEYS (keeping the old ones after it), re-encrypt every retained
password and token cache with it; then the old keys can be removed."""

from django.core.management.base import BaseCommand, CommandError

from m365bridge.services import encryption_keys_rotate


class Command(BaseCommand):
    help = (
        "Re-encrypt retained Microsoft 365 passwords and token caches with the first key "
        "of FIELD_ENCRYPTION_KEYS."
    )

    def handle(self, *args, **options):
        result = encryption_keys_rotate()
        self.stdout.write(
            f"Re-encrypted {result.passwords} retained password(s) and "
            f"{result.token_caches} token cache(s) with the first key."
        )
        if result.unreadable:
            raise CommandError(
                f"{result.unreadable} value(s) could not be decrypted with any configured key "
                "(was a key removed too early?). They were left as they are."
            )
