from django.contrib.auth.hashers import Argon2PasswordHasher


class QuickArgon2PasswordHasher(Argon2PasswordHasher):
    """Argon2 with the smallest cost, so the suite spends its time on behaviour rather
    than on key stretching. Same algorithm and encoding as production."""

    time_cost = 1
    memory_cost = 64
    parallelism = 1
