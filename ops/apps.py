from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Operating Stratus: health probes, Prometheus metrics, JSON logs."""

    name = "ops"
    verbose_name = "Operations"

    def ready(self):
        from . import signals

        signals.connect()
