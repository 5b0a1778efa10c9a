from django.contrib.auth.hashers import Argon2PasswordHasher


class StratusArgon2PasswordHasher(Argon2PasswordHasher):
    """Argon2id with OWASP's recommended cost (46 MiB of memory, one pass, one lane).

    Django's default (100 MiB, two passes, eight lanes) takes about 200 ms per check on
    a two-core server, and setting a password checks it against the current and the
    last N-1 hashes of the history policy, so a password change took a second before
    it could even be pushed to Microsoft 365. Hashes keep the `argon2` identifier;
    ones made with other costs still verify and are upgraded at the next sign-in."""

    time_cost = 1
    memory_cost = 47104
    parallelism = 1
