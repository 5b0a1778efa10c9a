"""Binding users from the console and the API: the bind dialog and its warnings, the
bulk action on the users list, per-user results and refusals, the user's Microsoft 365
card, the tenant's counts, failures with retry, and bulk-bind progress as JSON."""

import json

import pytest
from django.urls import reverse

from directory import services as directory_services
from m365bridge import services
from m365bridge.models import UserBinding

from .factories import tenant_row
from .provisioning import EMPLOYEE_PASSWORD, employee, sync

pytest_plugins = ["tests.m365bridge.provisioning"]


@pytest.fixture
def admin(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def contoso(acme, queued):
    return tenant_row(acme, "contoso.example", name="Contoso")


def person(acme, alice, email, **attrs):
    return directory_services.user_create(
        actor=alice, organization=acme, email=email, send_activation=False, **attrs
    )


def test_the_bind_dialog_warns_about_microsoft_emails_and_licences(admin, acme, alice, contoso):
    dan = person(acme, alice, "dan@contoso.example")

    page = admin.get(reverse("m365:user_bind", args=[dan.pk]))

    assert page.status_code == 200
    text = page.content.decode()
    assert 'id="bind-warning-email"' in text and "Microsoft may email the employee" in text
    assert 'id="bind-warning-licence"' in text and "No licence is assigned" in text
    assert "Contoso" in text


def test_binding_from_the_user_page_binds_to_the_tenant_owning_the_domain(
    admin, acme, alice, contoso
):
    dan = person(acme, alice, "dan@contoso.example")

    response = admin.post(reverse("m365:user_bind", args=[dan.pk]))

    assert response.status_code == 302
    binding = UserBinding.objects.get(user=dan)
    assert binding.tenant == contoso and binding.state == "pending" and binding.needs_sync
    page = admin.get(reverse("console:user_detail", args=[dan.pk]))
    assert b'id="m365-binding"' in page.content and b"Pending" in page.content
    assert reverse("m365:user_unbind", args=[dan.pk]).encode() in page.content


def test_the_users_list_binds_the_selected_users_and_says_why_others_were_refused(
    admin, acme, alice, contoso
):
    eve = person(acme, alice, "eve@contoso.example")
    fox = person(acme, alice, "fox@contoso.example")
    stranger = person(acme, alice, "gil@elsewhere.example")
    listing = admin.get(reverse("console:users"))
    assert b'id="bulk-bind"' in listing.content and b'name="user_ids"' in listing.content
    ids = [eve.pk, fox.pk, stranger.pk]

    dialog = admin.post(reverse("m365:users_bind"), {"user_ids": ids})
    assert dialog.status_code == 200 and b"Microsoft may email the employee" in dialog.content
    assert not UserBinding.objects.exists()
    done = admin.post(reverse("m365:users_bind"), {"user_ids": ids, "confirm": "1"})

    assert done.status_code == 200
    assert set(UserBinding.objects.values_list("user__email", flat=True)) == {eve.email, fox.email}
    text = done.content.decode()
    assert "2 users bound" in text and "gil@elsewhere.example" in text
    assert "elsewhere.example" in text and "verified domain" in text


def test_a_user_bound_to_another_tenant_is_refused_with_the_reason(acme, alice, contoso):
    other = tenant_row(acme, "fabrikam.example", name="Fabrikam")
    hoa = person(acme, alice, "hoa@contoso.example")
    services.user_bind(actor=alice, tenant=contoso, user=hoa)

    [result] = services.users_bind(actor=alice, tenant=other, users=[hoa])

    assert not result.ok and result.code == "bound_elsewhere"
    assert "Contoso" in result.message
    [again] = services.users_bind(actor=alice, tenant=contoso, users=[hoa])
    assert again.ok and again.code == "already_bound"
    assert UserBinding.objects.count() == 1


def test_unbinding_from_the_console_asks_first_then_blocks(admin, acme, alice, contoso):
    ian = person(acme, alice, "ian@contoso.example")
    services.user_bind(actor=alice, tenant=contoso, user=ian)
    url = reverse("m365:user_unbind", args=[ian.pk])

    assert b"not deleted" in admin.get(url).content
    admin.post(url)

    assert UserBinding.objects.get(user=ian).bound is False


def test_the_tenant_page_shows_counts_failures_with_retry_and_bulk_progress(
    admin, acme, alice, contoso
):
    users = [person(acme, alice, f"p{i}@contoso.example") for i in range(3)]
    services.users_bind(actor=alice, tenant=contoso, users=users)
    UserBinding.objects.filter(user=users[0]).update(
        state="error",
        needs_sync=False,
        last_error_code="Request_BadRequest",
        last_error_message="The domain portion of the userPrincipalName property is invalid.",
        last_error_request_id="req-1",
    )
    UserBinding.objects.filter(user=users[1]).update(state="provisioned", needs_sync=False)

    page = admin.get(reverse("m365:tenant", args=[contoso.pk]))
    text = page.content.decode()
    assert 'id="binding-problems"' in text and "userPrincipalName property is invalid" in text
    assert reverse("m365:retry_failed", args=[contoso.pk]) in text
    status = admin.get(reverse("m365:tenant_status", args=[contoso.pk])).json()
    assert status["counts"]["error"] == 1 and status["counts"]["provisioned"] == 1
    assert status["progress"]["total"] == 3 and status["progress"]["done"] == 1
    assert status["progress"]["failed"] == 1 and not status["progress"]["finished"]

    admin.post(reverse("m365:retry_failed", args=[contoso.pk]))
    assert UserBinding.objects.get(user=users[0]).needs_sync


def test_the_user_page_shows_microsofts_reason_and_a_retry_button(admin, acme, alice, contoso):
    jay = person(acme, alice, "jay@contoso.example")
    binding = services.user_bind(actor=alice, tenant=contoso, user=jay)
    UserBinding.objects.filter(pk=binding.pk).update(
        state="error",
        needs_sync=False,
        last_error_code="Request_BadRequest",
        last_error_message="Invalid value specified for property 'mailNickname'.",
    )

    page = admin.get(reverse("console:user_detail", args=[jay.pk]))

    assert b"Invalid value specified for property" in page.content
    assert reverse("m365:binding_retry", args=[binding.pk]).encode() in page.content
    admin.post(reverse("m365:binding_retry", args=[binding.pk]), {"next": "user"})
    assert UserBinding.objects.get(pk=binding.pk).needs_sync


def test_bound_users_page_follows_the_real_account_through_graphsim(admin, acme, alice, ms, tenant):
    kai = employee(acme, alice, ms, "kai")
    admin.post(reverse("m365:user_bind", args=[kai.pk]))
    directory_services.user_set_password(actor=alice, user=kai, password=EMPLOYEE_PASSWORD)
    sync(tenant)

    page = admin.get(reverse("console:user_detail", args=[kai.pk])).content.decode()
    binding = UserBinding.objects.get(user=kai)
    assert "Provisioned" in page and binding.microsoft_id in page
    assert EMPLOYEE_PASSWORD not in page


# --- the API ------------------------------------------------------------------------------------


def test_the_api_binds_a_list_of_users_with_a_result_each(admin, acme, alice, contoso):
    lea = person(acme, alice, "lea@contoso.example")
    out = person(acme, alice, "max@elsewhere.example")

    response = admin.post(
        f"/api/v1/m365/tenants/{contoso.pk}/users",
        {"user_ids": [lea.pk, out.pk, 999999]},
        content_type="application/json",
    )

    assert response.status_code == 200
    body = response.json()
    assert body["bound"] == 1 and body["refused"] == 2
    by_id = {r["user_id"]: r for r in body["results"]}
    assert by_id[lea.pk]["ok"] and by_id[lea.pk]["binding"]["state"] == "pending"
    assert by_id[out.pk]["code"] == "no_tenant_for_domain"
    assert by_id[999999]["code"] == "not_found"
    listed = admin.get(f"/api/v1/m365/tenants/{contoso.pk}/users").json()
    assert [b["email"] for b in listed["results"]] == ["lea@contoso.example"]


def test_the_api_refuses_a_bind_request_without_user_ids(admin, contoso):
    response = admin.post(
        f"/api/v1/m365/tenants/{contoso.pk}/users",
        {"user_ids": "x"},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "user_ids" in response.json()["error"]["fields"]


def test_the_api_unbinds_a_user_and_never_returns_a_password(admin, acme, alice, contoso):
    mo = person(acme, alice, "mo@contoso.example")
    services.user_bind(actor=alice, tenant=contoso, user=mo)
    directory_services.user_set_password(actor=alice, user=mo, password=EMPLOYEE_PASSWORD)
    url = f"/api/v1/m365/tenants/{contoso.pk}/users/{mo.pk}"

    shown = admin.get(url)
    response = admin.delete(url)

    assert shown.status_code == 200 and response.status_code == 202
    assert response.json()["bound"] is False
    for body in (shown.content, response.content):
        assert EMPLOYEE_PASSWORD.encode() not in body and b"password_encrypted" not in body
    assert json.loads(shown.content)["state"] == "pending"


def test_a_groups_page_binds_all_its_members_after_the_dialog(admin, acme, alice, contoso):
    from directory import services as directory

    team = directory.group_create(actor=alice, organization=acme, name="Field team")
    members = [person(acme, alice, f"{name}@contoso.example") for name in ("jo", "kim")]
    outsider = person(acme, alice, "lee@contoso.example")
    for member in members:
        directory.group_member_add(actor=alice, group=team, user=member)
    page = admin.get(reverse("console:group_detail", args=[team.pk]))
    assert b'id="group-bind"' in page.content

    dialog = admin.post(reverse("m365:users_bind"), {"group_id": team.pk})
    assert b"Microsoft may email the employee" in dialog.content
    admin.post(reverse("m365:users_bind"), {"group_id": team.pk, "confirm": "1"})

    bound = set(UserBinding.objects.values_list("user__email", flat=True))
    assert bound == {m.email for m in members} and outsider.email not in bound


def test_another_organizations_group_cannot_be_bound(client, charlie, acme, alice, contoso):
    from directory import services as directory

    team = directory.group_create(actor=alice, organization=acme, name="Secret team")
    directory.group_member_add(
        actor=alice, group=team, user=person(acme, alice, "mo@contoso.example")
    )
    client.force_login(charlie)
    response = client.post(reverse("m365:users_bind"), {"group_id": team.pk, "confirm": "1"})
    assert response.status_code == 404
    assert not UserBinding.objects.exists()


def test_the_bind_dialog_names_the_default_licence_a_tenant_assigns(admin, acme, alice, contoso):
    contoso.licence_sku_id = "6fd2c87f-b296-42f0-b197-1e91e994b900"
    contoso.licence_sku_part_number = "ENTERPRISEPACK"
    contoso.save(update_fields=["licence_sku_id", "licence_sku_part_number"])
    dan = person(acme, alice, "dan@contoso.example")

    page = admin.get(reverse("m365:user_bind", args=[dan.pk])).content.decode()

    assert "New accounts in Contoso get its default licence, ENTERPRISEPACK." in page
