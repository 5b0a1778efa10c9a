from django.apps import AppConfig


class DirectoryConfig(AppConfig):
    name = "directory"

    def ready(self):
        # Each sign-in counts as a recent check for dangerous actions (directory.reauth);
        # each sign-out forgets its session row (directory.signins); `lookups` registers
        # `__in_array` (one array parameter instead of a placeholder per value).
        from . import lookups, reauth, signins  # noqa: F401
