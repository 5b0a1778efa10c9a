"""Second factors (directory.mfa, on django-otp): enrolment, sign-in with a code, codes
that are wrong or replayed, one-time recovery codes, and an owner's reset."""

import pytest
from django.core import mail
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import Event
from directory import mfa, recovery_codes, services
from directory.models import Organization, User
from tests.conftest import PASSWORD
from tests.support.mfa import totp_code


@pytest.fixture
def acme_mfa(acme):
    acme.mfa_required_for_admins = True
    acme.save()
    return acme


def sign_in(client, email, next_url="/console/"):
    response = client.post(
        reverse("console:login"), {"email": email, "password": PASSWORD, "next": next_url}
    )
    assert response.status_code == 302, response.content
    return client.get(response["Location"])


def enrol(client) -> list[str]:
    """Walk through the enrolment page as a person would; returns the recovery codes."""
    page = client.get(reverse("portal:mfa_enrol"))
    assert page.status_code == 200
    device = TOTPDevice.objects.get(confirmed=False)
    response = client.post(reverse("portal:mfa_enrol"), {"code": totp_code(device)})
    assert response.status_code == 200
    return response.context["codes"]


@pytest.fixture
def alice_enrolled(acme_mfa, alice):
    """Alice with an app and recovery codes, signed out again."""
    from django.test import Client

    client = Client()
    sign_in(client, alice.email)
    codes = enrol(client)
    alice.refresh_from_db()
    return {"codes": codes, "device": TOTPDevice.objects.get(user=alice, confirmed=True)}


def test_a_new_organization_requires_a_second_factor_of_its_admins(db):
    organization, _ = services.organization_signup(
        name="Initech", email="peter@initech.example", password=PASSWORD
    )
    assert Organization.objects.get(pk=organization.pk).mfa_required_for_admins is True


def test_an_admin_without_a_factor_is_led_through_enrolment_then_gets_in(client, acme_mfa, alice):
    page = sign_in(client, alice.email, next_url="/console/users/")
    assert page.status_code == 302
    assert page["Location"].startswith(reverse("portal:mfa_enrol"))
    enrol_page = client.get(page["Location"])
    assert b"<svg" in enrol_page.content  # the QR code, inline
    device = TOTPDevice.objects.get(user=alice, confirmed=False)
    response = client.post(page["Location"], {"code": totp_code(device), "next": "/console/users/"})
    codes = response.context["codes"]
    assert len(codes) == recovery_codes.RECOVERY_CODE_COUNT
    assert response.context["next"] == "/console/users/"
    assert client.get("/console/users/").status_code == 200
    alice.refresh_from_db()
    assert alice.mfa_enrolled_at is not None
    event = Event.objects.get(type="mfa_enrol")
    assert event.details == {"method": "totp", "recovery_codes": 10}
    assert not any(code in str(event.details) for code in codes)


def test_a_wrong_enrolment_code_is_refused_and_the_factor_stays_off(client, acme_mfa, alice):
    sign_in(client, alice.email)
    client.get(reverse("portal:mfa_enrol"))
    device = TOTPDevice.objects.get(user=alice)
    wrong = f"{(int(totp_code(device)) + 1) % 1000000:06d}"
    response = client.post(reverse("portal:mfa_enrol"), {"code": wrong})
    assert response.status_code == 200
    assert mfa.CODE_REFUSED in response.content.decode()
    alice.refresh_from_db()
    assert alice.mfa_enrolled_at is None
    assert client.get("/console/").status_code == 302


def test_sign_in_with_a_code_from_the_app(client, alice_enrolled, alice):
    page = sign_in(client, alice.email, next_url="/console/groups/")
    assert page["Location"].startswith(reverse("portal:mfa_verify"))
    code = totp_code(alice_enrolled["device"], steps_ahead=1)
    response = client.post(reverse("portal:mfa_verify"), {"code": code, "next": "/console/groups/"})
    assert response.status_code == 302
    assert response["Location"] == "/console/groups/"
    assert client.get("/console/groups/").status_code == 200
    event = Event.objects.filter(type="mfa_verify").latest("id")
    assert (event.outcome, event.details["method"]) == ("success", "totp")


def test_a_wrong_code_is_refused_and_recorded(client, alice_enrolled, alice):
    sign_in(client, alice.email)
    code = totp_code(alice_enrolled["device"], steps_ahead=1)
    wrong = f"{(int(code) + 1) % 1000000:06d}"
    response = client.post(reverse("portal:mfa_verify"), {"code": wrong})
    assert response.status_code == 200
    assert mfa.CODE_REFUSED in response.content.decode()
    assert client.get("/console/").status_code == 302
    event = Event.objects.filter(type="mfa_verify").latest("id")
    assert event.outcome == "failure"


def test_a_code_already_used_is_refused_the_second_time(alice_enrolled, alice):
    from django.test import Client

    code = totp_code(alice_enrolled["device"], steps_ahead=1)
    first, second = Client(), Client()
    sign_in(first, alice.email)
    assert first.post(reverse("portal:mfa_verify"), {"code": code}).status_code == 302
    sign_in(second, alice.email)
    response = second.post(reverse("portal:mfa_verify"), {"code": code})
    assert response.status_code == 200
    assert mfa.CODE_REFUSED in response.content.decode()
    assert second.get("/console/").status_code == 302


def test_a_recovery_code_works_once(alice_enrolled, alice):
    from django.test import Client

    code = alice_enrolled["codes"][0]
    first, second = Client(), Client()
    sign_in(first, alice.email)
    assert first.post(reverse("portal:mfa_verify"), {"code": code}).status_code == 302
    assert first.get("/console/").status_code == 200
    assert mfa.recovery_codes_left(user=alice) == 9
    sign_in(second, alice.email)
    response = second.post(reverse("portal:mfa_verify"), {"code": code})
    assert response.status_code == 200
    assert second.get("/console/").status_code == 302
    method = Event.objects.filter(type="mfa_verify", outcome="success").latest("id")
    assert method.details["method"] == "recovery_code"


def test_new_recovery_codes_replace_the_old_ones(client, alice_enrolled, alice):
    sign_in(client, alice.email)
    client.post(reverse("portal:mfa_verify"), {"code": alice_enrolled["codes"][0]})
    response = client.post(reverse("portal:mfa"))
    new_codes = response.context["codes"]
    assert len(new_codes) == 10
    assert set(new_codes).isdisjoint(alice_enrolled["codes"])
    assert mfa.recovery_codes_left(user=alice) == 10


def test_a_password_alone_cannot_add_a_factor(client, alice_enrolled, alice):
    """Someone who knows only the password must not set up their own app on the account."""
    sign_in(client, alice.email)
    response = client.get(reverse("portal:mfa_enrol"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("portal:mfa_verify"))
    response = client.post(reverse("portal:mfa_enrol"), {"code": "123456"})
    assert response["Location"].startswith(reverse("portal:mfa_verify"))
    assert TOTPDevice.objects.filter(user=alice).count() == 1


def test_a_signed_in_session_without_its_factor_cannot_use_the_api(client, alice_enrolled, alice):
    sign_in(client, alice.email)
    response = client.get("/api/v1/users")
    assert response.status_code == 403
    assert "second factor" in response.json()["error"]["message"]


def test_members_need_no_factor_unless_the_policy_covers_everyone(client, acme_mfa, bob):
    client.force_login(bob)
    assert client.get(reverse("portal:home")).status_code == 200
    acme_mfa.mfa_required_for_everyone = True
    acme_mfa.save()
    response = client.get(reverse("portal:home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("portal:mfa_enrol"))


def test_someone_who_chose_a_factor_is_asked_for_it_even_when_not_required(client, acme, bob):
    client.force_login(bob)
    client.get(reverse("portal:mfa_enrol"))
    device = TOTPDevice.objects.get(user=bob)
    client.post(reverse("portal:mfa_enrol"), {"code": totp_code(device)})
    client.logout()
    response = client.post(reverse("portal:sign_in"), {"email": bob.email, "password": PASSWORD})
    response = client.get(response["Location"])
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("portal:mfa_verify"))


def test_an_owner_resets_a_members_factor_with_an_event_and_an_email(
    client, acme_mfa, alice, bob, django_capture_on_commit_callbacks
):
    acme_mfa.mfa_required_for_everyone = True
    acme_mfa.save()
    client.force_login(bob)
    client.get(reverse("portal:mfa_enrol"))
    client.post(reverse("portal:mfa_enrol"), {"code": totp_code(TOTPDevice.objects.get())})
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        mfa.mfa_reset(actor=alice, user=bob)
    bob.refresh_from_db()
    assert bob.mfa_enrolled_at is None
    assert not TOTPDevice.objects.filter(user=bob).exists()
    assert mfa.recovery_codes_left(user=bob) == 0
    event = Event.objects.get(type="mfa_reset")
    assert (event.actor_id, event.target_id) == (alice.pk, str(bob.pk))
    assert [m.to for m in mail.outbox] == [[bob.email]]
    assert "alice@acme.example" in mail.outbox[0].body
    # Bob's next page asks him to set up a new app.
    assert client.get(reverse("portal:home"))["Location"].startswith(reverse("portal:mfa_enrol"))


def test_only_an_owner_may_reset_factors(acme, alice, bob):
    admin = services.user_create(
        actor=alice, organization=acme, email="ada@acme.example", role=User.ADMIN
    )
    with pytest.raises(mfa.NotAllowed):
        mfa.mfa_reset(actor=admin, user=bob)
    with pytest.raises(mfa.NotAllowed):
        mfa.mfa_reset(actor=alice, user=alice)
    assert not Event.objects.filter(type="mfa_reset").exists()


def test_the_console_reset_button_works_for_an_owner(client, acme, alice, bob):
    client.force_login(alice)
    url = reverse("console:user_mfa_reset", args=[bob.pk])
    assert b"Reset the second factor" in client.get(url).content
    assert client.post(url).status_code == 302
    assert Event.objects.filter(type="mfa_reset", target_id=str(bob.pk)).exists()


def test_the_mfa_policy_is_saved_from_the_settings_page(client, acme, alice):
    client.force_login(alice)
    response = client.post(
        reverse("console:mfa_policy"), {"required_for_admins": "on", "required_for_everyone": ""}
    )
    assert response.status_code == 302
    acme.refresh_from_db()
    assert acme.mfa_required_for_admins is True
    event = Event.objects.get(type="organization_mfa_policy_update")
    assert event.details == {"mfa_required_for_admins": True}
    # Alice has no factor: from her next page on she is led to enrolment.
    assert client.get("/console/")["Location"].startswith(reverse("portal:mfa_enrol"))


def test_a_member_cannot_change_the_mfa_policy(client, acme_mfa, bob):
    client.force_login(bob)
    response = client.post(reverse("console:mfa_policy"), {"required_for_admins": ""})
    assert response.status_code == 403
    acme_mfa.refresh_from_db()
    assert acme_mfa.mfa_required_for_admins is True


def test_the_operator_recovery_path_removes_a_sole_owners_factors(
    acme_mfa, alice_enrolled, alice, django_capture_on_commit_callbacks
):
    from django.core.management import call_command

    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("mfa_reset", "Alice@Acme.example")
    alice.refresh_from_db()
    assert alice.mfa_enrolled_at is None
    assert mfa.recovery_codes_left(user=alice) == 0
    event = Event.objects.get(type="mfa_reset")
    assert event.actor is None and event.details["by"] == "operator"
    assert "Stratus operator" in mail.outbox[0].body


def test_recovery_codes_are_not_in_the_database_in_clear(alice_enrolled, alice):
    from django.db import connection

    codes = alice_enrolled["codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    with connection.cursor() as cursor:
        cursor.execute("SELECT token FROM otp_static_statictoken")
        stored = [row[0] for row in cursor.fetchall()]
    assert len(stored) == 10
    normal = {c.replace("-", "") for c in codes}
    for value in stored:
        assert value not in normal and value not in codes
    assert {recovery_codes.recovery_code_hash(code) for code in codes} == set(stored)


def test_an_older_code_in_clear_is_hashed_by_the_migration_and_still_works(alice_enrolled, alice):
    import importlib

    from django.apps import apps as django_apps
    from django.test import Client
    from django_otp.plugins.otp_static.models import StaticDevice, StaticToken

    device = StaticDevice.objects.get(user=alice)
    StaticToken.objects.create(device=device, token="abcdefgh")  # as django-otp made them
    migration = importlib.import_module("directory.migrations.0013_recovery_codes_hashed")
    migration.hash_clear_codes(django_apps, None)
    assert not StaticToken.objects.filter(token="abcdefgh").exists()
    client = Client()
    sign_in(client, alice.email)
    assert client.post(reverse("portal:mfa_verify"), {"code": "ABCD EFGH"}).status_code == 302
    assert StaticToken.objects.filter(device=device).count() == 10  # 11, one used
