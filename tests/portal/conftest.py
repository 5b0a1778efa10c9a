import pytest

from directory import hooks, services


@pytest.fixture
def staged(acme, alice):
    """A user an admin created without a password, with the welcome email turned off."""
    return services.user_create(
        actor=alice,
        organization=acme,
        email="dana@acme.example",
        first_name="Dana",
        last_name="Diaz",
        send_activation=False,
    )


@pytest.fixture
def status_provider():
    """Register a fake bridge's service-status provider for one test."""
    registered = []

    def add(provider):
        hooks.add_service_status_provider(provider)
        registered.append(provider)
        return provider

    yield add
    for provider in registered:
        hooks._service_status_providers.remove(provider)
