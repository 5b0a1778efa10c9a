from django.apps import AppConfig


class M365BridgeConfig(AppConfig):
    name = "m365bridge"
    verbose_name = "Microsoft 365"
