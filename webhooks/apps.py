from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self):
        # Every recorded event reaches the outboxes of the organization's endpoints in
        # the transaction that records it; audit does not know this app exists.
        from audit import services as audit_services

        from . import services

        audit_services.event_subscribe(services.on_event_recorded, many=services.on_events_recorded)
