"""A last guard that keeps secrets out of event details.

Callers never pass secrets on purpose; this refuses keys that name one, so a slip
fails loudly in tests instead of landing in an append-only log.
"""

SECRET_KEYS = frozenset(
    {
        "password",
        "new_password",
        "secret",
        "client_secret",
        "token",
        "access_token",
        "refresh_token",
        "api_key",
        "key",
    }
)


def assert_no_secrets(details, path: str = "details") -> None:
    if isinstance(details, dict):
        for key, value in details.items():
            if str(key).lower() in SECRET_KEYS:
                raise ValueError(f"{path}.{key} looks like a secret and may not be recorded")
            assert_no_secrets(value, f"{path}.{key}")
    elif isinstance(details, list | tuple):
        for index, value in enumerate(details):
            assert_no_secrets(value, f"{path}[{index}]")
