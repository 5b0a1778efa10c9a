from django.apps import AppConfig


class M365BridgeConfig(AppConfig):
    name = "m365bridge"
    verbose_name = "Microsoft 365"

    def ready(self):
        # The directory announces its changes; this bridge records what Microsoft 365
        # must converge to, adds Microsoft's password rules for bound users, and tells
        # the portal whether a user's password reached Microsoft 365.
        from directory import hooks

        from . import selectors, services
        from .sync import intent

        hooks.subscribe(intent.on_directory_change)
        hooks.add_password_check(services.binding_password_problems)
        hooks.add_service_status_provider(selectors.binding_service_status)
        hooks.add_password_rule_provider(selectors.binding_password_rules)
