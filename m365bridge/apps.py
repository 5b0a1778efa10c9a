from django.apps import AppConfig


class M365BridgeConfig(AppConfig):
    name = "m365bridge"
    verbose_name = "Microsoft 365"

    def ready(self):
        # What the bridge hangs on the directory's hooks is listed in `subscribers`.
        from . import subscribers

        subscribers.subscribe()
