from django.apps import AppConfig


class DirectoryConfig(AppConfig):
    name = "directory"

    def ready(self):
        # Each sign-in counts as a recent check for dangerous actions (directory.reauth);
        # each sign-out forgets its session row (directory.signins).
        from . import reauth, signins  # noqa: F401
