from django.urls import reverse

from directory.models import ApiKey
from directory.selectors import api_key_find

from .conftest import field_errors, table_text


def test_the_password_policy_form_shows_the_current_policy(alice_client):
    response = alice_client.get(reverse("console:settings"))
    assert b'name="password_min_length" value="12"' in response.content


def test_the_password_policy_is_saved(alice_client, acme):
    response = alice_client.post(
        reverse("console:settings"),
        {
            "password_min_length": 16,
            "password_require_lowercase": "on",
            "password_require_symbol": "on",
            "password_max_age_days": 90,
            "password_history": 3,
        },
        follow=True,
    )
    assert b"The password policy was saved." in response.content
    acme.refresh_from_db()
    assert acme.password_min_length == 16
    assert acme.password_require_symbol and not acme.password_require_uppercase
    assert acme.password_max_age_days == 90
    assert acme.password_history == 3


def test_an_empty_maximum_age_means_never(alice_client, acme):
    acme.password_max_age_days = 30
    acme.save()
    alice_client.post(
        reverse("console:settings"), {"password_min_length": 12, "password_history": 5}
    )
    acme.refresh_from_db()
    assert acme.password_max_age_days is None


def test_a_bad_policy_is_refused_with_field_errors(alice_client, acme):
    response = alice_client.post(
        reverse("console:settings"), {"password_min_length": 4, "password_history": 99}
    )
    assert field_errors(response, "password_min_length") == [
        "Ensure this value is greater than or equal to 8."
    ]
    assert field_errors(response, "password_history") == [
        "Ensure this value is less than or equal to 24."
    ]
    acme.refresh_from_db()
    assert acme.password_min_length == 12


def test_a_new_api_key_is_shown_once_and_works(alice_client, acme):
    response = alice_client.post(reverse("console:api_keys"), {"name": "HR sync"})
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    content = response.content.decode()
    assert "this is the only time it is shown" in content
    secret = content.split('<code id="new-key">')[1].split("</code>")[0]
    assert api_key_find(secret=secret).organization == acme
    later = alice_client.get(reverse("console:api_keys")).content.decode()
    assert secret not in later
    assert "HR sync" in table_text(alice_client.get(reverse("console:api_keys")))


def test_an_api_key_needs_a_name(alice_client):
    response = alice_client.post(reverse("console:api_keys"), {"name": ""})
    assert field_errors(response, "name") == ["This field is required."]
    assert not ApiKey.objects.exists()


def test_the_key_list_shows_creator_and_last_use(alice_client, acme_key):
    table = table_text(alice_client.get(reverse("console:api_keys")))
    assert "HR sync" in table
    assert "alice@acme.example" in table
    assert "Never" in table


def test_revoking_a_key_asks_first_and_the_key_stops_working(alice_client, acme_key):
    url = reverse("console:api_key_revoke", args=[acme_key.pk])
    assert "Revoke the key “HR sync”?" in alice_client.get(url).content.decode()
    acme_key.refresh_from_db()
    assert acme_key.revoked_at is None
    response = alice_client.post(url, follow=True)
    assert "The key “HR sync” was revoked." in response.content.decode()
    acme_key.refresh_from_db()
    assert acme_key.revoked_at is not None
    assert "Revoked" in table_text(response)


def test_a_key_is_made_with_rights_areas_and_expiry_and_listed_so(alice_client, acme):
    from datetime import UTC, datetime, timedelta

    day = (datetime.now(UTC) + timedelta(days=30)).date()
    response = alice_client.post(
        reverse("console:api_keys"),
        {
            "name": "Reporting",
            "scope": "api",
            "access": "read_only",
            "areas": ["users", "events"],
            "expires_at": day.isoformat(),
        },
    )
    assert response.status_code == 200
    key = ApiKey.objects.get(name="Reporting")
    assert (key.read_only, key.areas) == (True, ["users", "events"])
    assert key.expires_at == datetime(day.year, day.month, day.day, tzinfo=UTC)
    table = table_text(alice_client.get(reverse("console:api_keys")))
    assert "Read only · Users, Events" in table
    assert day.strftime("%b %-d, %Y") in table


def test_an_expiry_in_the_past_is_an_error_on_its_field(alice_client):
    response = alice_client.post(
        reverse("console:api_keys"), {"name": "Old", "expires_at": "2020-01-01"}
    )
    assert field_errors(response, "expires_at") == ["The expiry must be in the future."]
    assert not ApiKey.objects.exists()


def test_the_key_list_marks_expired_keys_and_shows_the_last_address(alice_client, acme_key):
    from datetime import timedelta

    from django.utils import timezone

    ApiKey.objects.filter(pk=acme_key.pk).update(
        expires_at=timezone.now() - timedelta(days=1),
        last_used_at=timezone.now(),
        last_used_from="203.0.113.7",
    )
    table = table_text(alice_client.get(reverse("console:api_keys")))
    assert "Expired" in table and "Active" not in table
    assert "from 203.0.113.7" in table
