"""Licences against graphsim over HTTPS (P8): off by default; when a tenant has a default
licence and usage location, each account Stratus creates gets them; running out of
seats puts only that binding in error, naming the SKU and the seats, and a retry
assigns it once a seat is free. The licence form is for the organization's admins."""

import pytest
from django.urls import reverse

from audit.models import Event
from directory import services as directory_services
from m365bridge import licences, services
from m365bridge.capabilities import APPLICATION_PERMISSIONS
from m365bridge.models import Tenant, UserBinding

from .conftest import unique_domain
from .factories import tenant_row
from .provisioning import EMPLOYEE_PASSWORD, account, employee, graph_log, log_mark, sync

pytest_plugins = ["tests.m365bridge.provisioning"]  # its fixtures: tenant, queued, ...

SEATS = 2


@pytest.fixture
def ms(m365, stratus_app):
    """A tenant subscribed to ENTERPRISEPACK with two seats (overrides the plain one)."""
    domain = unique_domain()
    created = m365.control.create_tenant(
        display_name="Contoso",
        domains=[domain],
        skus=[
            {"skuPartNumber": "ENTERPRISEPACK", "seats": SEATS},
            {"skuPartNumber": "EMS", "seats": 10},
        ],
    )
    m365.control.grant(
        created["id"],
        stratus_app["clientId"],
        application_permissions=APPLICATION_PERMISSIONS,
        directory_roles=["User Administrator"],
    )
    return {
        "id": created["id"],
        "domain": domain,
        "control": m365.control,
        "sim": m365,
        "client_id": stratus_app["clientId"],
    }


def enterprise_pack(tenant) -> licences.Sku:
    return next(s for s in licences.tenant_skus(tenant=tenant) if s.part_number == "ENTERPRISEPACK")


@pytest.fixture
def licensed(alice, tenant):
    skus = licences.tenant_skus(tenant=tenant)
    sku = next(s for s in skus if s.part_number == "ENTERPRISEPACK")
    licences.tenant_licence_update(
        actor=alice, tenant=tenant, sku_id=sku.sku_id, usage_location="de", skus=skus
    )
    return sku


def bind(acme, alice, ms, tenant, *names, **attrs):
    users = []
    for name in names:
        user = employee(acme, alice, ms, name, **attrs)
        services.user_bind(actor=alice, tenant=tenant, user=user)
        directory_services.user_set_password(actor=alice, user=user, password=EMPLOYEE_PASSWORD)
        users.append(user)
    return users


def test_no_licence_is_assigned_by_default(acme, alice, ms, tenant):
    mark = log_mark(ms)
    (ann,) = bind(acme, alice, ms, tenant, "ann")

    sync(tenant)

    assert account(ms, ann.email)["assignedLicenses"] == []
    assert [r["method"] for r in graph_log(ms, mark)] == ["POST"]  # the create, nothing else
    assert UserBinding.objects.get(user=ann).licence_pending == ""


def test_a_created_account_gets_the_default_licence_and_usage_location(
    acme, alice, ms, tenant, licensed
):
    (ann,) = bind(acme, alice, ms, tenant, "ann")
    (ben,) = bind(acme, alice, ms, tenant, "ben", usage_location="FR")
    mark = log_mark(ms)

    sync(tenant)

    assert [(r["method"], r["path"].rsplit("/", 1)[-1]) for r in graph_log(ms, mark)] == [
        ("POST", "users"),
        ("POST", "users"),
        ("POST", "assignLicense"),
        ("POST", "assignLicense"),
    ]
    remote = account(ms, ann.email)
    assert remote["usageLocation"] == "DE"  # the tenant's default: ann has none
    assert account(ms, ben.email)["usageLocation"] == "FR"  # ben's own
    assert [a["skuId"] for a in remote["assignedLicenses"]] == [licensed.sku_id]
    binding = UserBinding.objects.get(user=ann)
    assert binding.state == "provisioned" and binding.licence_pending == ""
    assert binding.known_properties["usageLocation"] == "DE"  # no drift on the next read
    assigned = Event.objects.filter(type="user_update_provision", target_label=ann.email).get()
    assert assigned.details == {"microsoft_id": binding.microsoft_id, "licence": "ENTERPRISEPACK"}
    assert enterprise_pack(tenant).in_use == 2


def test_running_out_of_seats_fails_only_that_binding_naming_the_sku_and_seats(
    acme, alice, ms, tenant, licensed
):
    users = bind(acme, alice, ms, tenant, "ann", "ben", "cid")

    result = sync(tenant)

    bindings = {b.user.first_name: b for b in UserBinding.objects.select_related("user")}
    states = sorted(b.state for b in bindings.values())
    assert states == ["error", "provisioned", "provisioned"] and result.failed == 1
    failed = next(b for b in bindings.values() if b.state == "error")
    assert failed.last_error_message == (
        f"No free seats for licence ENTERPRISEPACK ({SEATS} of {SEATS} in use)."
    )
    assert failed.last_error_code == licences.NO_SEATS_CODE
    assert failed.microsoft_id and failed.licence_pending == licensed.sku_id  # created, unlicensed
    assert account(ms, failed.user.email)["assignedLicenses"] == []
    assert all(account(ms, u.email)["accountEnabled"] for u in users)
    failure = Event.objects.get(outcome="failure")
    assert failure.type == "user_update_provision" and failure.target_label == failed.user.email
    assert failure.details["licence"] == "ENTERPRISEPACK"
    assert failure.details["message"] == failed.last_error_message


def test_a_retry_assigns_the_licence_once_a_seat_is_free(acme, alice, ms, tenant, licensed):
    bind(acme, alice, ms, tenant, "ann", "ben", "cid")
    sync(tenant)
    failed = UserBinding.objects.get(state="error")
    other = UserBinding.objects.exclude(pk=failed.pk).select_related("user").first()
    ms["control"].admin_delete_user(ms["id"], other.user.email, permanent=True)  # frees a seat

    services.binding_retry(actor=alice, binding=failed)
    sync(tenant)

    failed.refresh_from_db()
    assert failed.state == "provisioned" and failed.licence_pending == ""
    assert failed.last_error_message == ""
    remote = account(ms, failed.user.email)
    assert [a["skuId"] for a in remote["assignedLicenses"]] == [licensed.sku_id]


# --- the form ---------------------------------------------------------------------------------


@pytest.fixture
def admin(client, alice):
    client.force_login(alice)
    return client


def test_the_form_lists_the_tenants_licences_with_free_seats(admin, tenant):
    page = admin.get(reverse("m365:licences", args=[tenant.pk]))

    assert page.status_code == 200
    text = page.content.decode()
    assert f"ENTERPRISEPACK — {SEATS} of {SEATS} free" in text and "EMS — 10 of 10 free" in text
    assert "No licence" in text
    detail = admin.get(reverse("m365:tenant", args=[tenant.pk])).content.decode()
    assert "None — Stratus assigns no licence" in detail


def test_an_admin_sets_and_turns_off_the_default_licence(admin, alice, tenant):
    sku = enterprise_pack(tenant)

    response = admin.post(
        reverse("m365:licences", args=[tenant.pk]), {"licence": sku.sku_id, "usage_location": "us"}
    )

    assert response.status_code == 302
    tenant.refresh_from_db()
    assert (
        tenant.licence_sku_id,
        tenant.licence_sku_part_number,
        tenant.default_usage_location,
    ) == (sku.sku_id, "ENTERPRISEPACK", "US")
    event = Event.objects.get(type="m365_tenant_update")
    assert event.actor == alice and event.details == {
        "licence": "ENTERPRISEPACK",
        "default_usage_location": "US",
    }
    assert "ENTERPRISEPACK" in admin.get(reverse("m365:tenant", args=[tenant.pk])).content.decode()

    admin.post(reverse("m365:licences", args=[tenant.pk]), {"licence": "", "usage_location": ""})
    tenant.refresh_from_db()
    assert (tenant.licence_sku_id, tenant.default_usage_location) == ("", "")


@pytest.mark.parametrize(
    "values, field, message",
    [
        ({"licence": "", "usage_location": "Germany"}, "usage_location", "two-letter country code"),
        ({"licence": "", "usage_location": "D1"}, "usage_location", "two-letter country code"),
        (
            {"licence": "00000000-0000-0000-0000-000000000000", "usage_location": ""},
            "licence",
            "Choose one of the tenant&#x27;s licences",
        ),
    ],
)
def test_bad_input_is_refused_naming_the_field(admin, tenant, values, field, message):
    response = admin.post(reverse("m365:licences", args=[tenant.pk]), values)

    assert response.status_code == 400
    assert message in response.content.decode()
    assert response.context["errors"].keys() == {field}
    tenant.refresh_from_db()
    assert tenant.licence_sku_id == "" and tenant.default_usage_location == ""


def test_charlie_gets_404_on_acmes_licence_form(client, charlie, acme, queued):
    acme_tenant = tenant_row(acme, "contoso.example", name="Contoso")
    client.force_login(charlie)
    url = reverse("m365:licences", args=[acme_tenant.pk])

    assert client.get(url).status_code == 404
    assert client.post(url, {"licence": "", "usage_location": "DE"}).status_code == 404
    assert Tenant.objects.get(pk=acme_tenant.pk).default_usage_location == ""


def test_bob_the_member_gets_no_access_to_the_licence_form(client, bob, acme, queued):
    acme_tenant = tenant_row(acme, "contoso.example", name="Contoso")
    client.force_login(bob)
    url = reverse("m365:licences", args=[acme_tenant.pk])

    assert client.get(url).status_code == 403
    assert client.post(url, {"licence": "", "usage_location": "DE"}).status_code == 403
    assert Tenant.objects.get(pk=acme_tenant.pk).default_usage_location == ""
