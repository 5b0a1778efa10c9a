from django.apps import AppConfig


class DirectoryConfig(AppConfig):
    name = "directory"

    def ready(self):
        # Each sign-in counts as a recent check for dangerous actions (directory.reauth).
        from . import reauth  # noqa: F401
