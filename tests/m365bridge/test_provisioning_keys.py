"""K1: retained passwords and token caches are re-encrypted with a new key by
`manage.py rotate_encryption_keys`, after which the old key can be removed; and the
portal says whether the password reached Microsoft 365."""

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.utils import timezone

from directory import encryption
from directory import services as directory_services
from directory.portal.selectors import portal_services
from m365bridge import services
from m365bridge.models import Tenant, UserBinding

from .factories import tenant_row
from .provisioning import EMPLOYEE_PASSWORD

pytest_plugins = ["tests.m365bridge.provisioning"]


@pytest.fixture
def bound(acme, alice, queued):
    tenant = tenant_row(acme, "contoso.example")
    Tenant.objects.filter(pk=tenant.pk).update(
        token_cache_encrypted=encryption.encrypt('{"AccessToken": {}}')
    )
    user = directory_services.user_create(
        actor=alice, organization=acme, email="nia@contoso.example", send_activation=False
    )
    services.user_bind(actor=alice, tenant=tenant, user=user)
    directory_services.user_set_password(actor=alice, user=user, password=EMPLOYEE_PASSWORD)
    return user


def test_rotating_keys_reencrypts_passwords_and_token_caches_with_the_new_key(
    bound, settings, capsys
):
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]

    call_command("rotate_encryption_keys")

    assert "1 retained password(s) and 1 token cache(s)" in capsys.readouterr().out
    settings.FIELD_ENCRYPTION_KEYS = [new_key]  # the old key is gone
    binding = UserBinding.objects.get(user=bound)
    assert encryption.decrypt(binding.password_encrypted) == EMPLOYEE_PASSWORD
    assert encryption.decrypt(binding.tenant.token_cache_encrypted) == '{"AccessToken": {}}'


def test_rotation_names_values_no_configured_key_can_read(bound, settings):
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(CommandError, match="could not be decrypted"):
        call_command("rotate_encryption_keys")


def test_the_portal_says_the_password_is_being_updated_then_when_it_was(bound):
    [row] = portal_services(user=bound)
    assert row.state == "pending" and "being updated" in row.message
    binding = UserBinding.objects.select_related("tenant").get(user=bound)
    assert row.where == binding.tenant.display_name and row.state_label == "Pending"

    binding = UserBinding.objects.get(user=bound)
    UserBinding.objects.filter(pk=binding.pk).update(
        microsoft_id="00000000-0000-0000-0000-000000000001",
        known_enabled=True,
        password_pushed_version=binding.password_version,
        password_pushed_at=timezone.now(),
    )
    [row] = portal_services(user=bound)
    assert row.state == "ok" and "password was updated 0 seconds ago" in row.message

    UserBinding.objects.filter(pk=binding.pk).update(
        state="error",
        password_version=binding.password_version + 1,
        last_error_message="Insufficient privileges to complete the operation.",
    )
    [row] = portal_services(user=bound)
    assert row.state == "error" and "Insufficient privileges" in row.message
    assert "password could not be updated" in row.message


def test_the_portal_checklist_lists_microsofts_rules_only_for_bound_users(bound, bob):
    from directory.portal.selectors import portal_password_rules

    codes = {rule["code"] for rule in portal_password_rules(user=bound)}
    assert {"m365_length", "m365_classes", "m365_common"} <= codes
    assert not any(rule["code"].startswith("m365") for rule in portal_password_rules(user=bob))


def test_a_bound_user_is_told_on_the_portal_why_to_change_passwords_in_stratus(bound, client):
    from django.urls import reverse

    client.force_login(bound)
    page = client.get(reverse("portal:home")).content.decode()
    assert 'id="services-authoritative"' in page
    assert "replaced with your Stratus password" in page
