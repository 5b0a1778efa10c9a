"""The attribute map, field by field: every entry of `ATTRIBUTE_MAP` reaches Microsoft
Graph (graphsim over HTTPS) both when the account is created and when the field changes
later."""

from directory import services as directory_services
from m365bridge import services
from m365bridge.attributes import (
    ATTRIBUTE_MAP,
    changed_properties,
    desired_properties,
    mail_nickname,
)

from .provisioning import EMPLOYEE_PASSWORD, account, employee, sync

pytest_plugins = ["tests.m365bridge.provisioning"]  # its fixtures: ms, tenant, queued, ...

# What each Stratus field is set to, at creation and after a change.
PROFILE_AT_CREATE = {
    "first_name": "Bob",
    "last_name": "Brown",
    "display_name": "Bob Brown",
    "job_title": "Engineer",
    "department": "R&D",
    "employee_id": "E-1001",
    "company_name": "Acme GmbH",
    "office_location": "Building 7",
    "mobile_phone": "+49 170 1",
    "business_phones": ["+49 30 1234"],
    "street_address": "Hauptstr. 1",
    "city": "Berlin",
    "state": "BE",
    "postal_code": "10115",
    "country": "Germany",
    "usage_location": "DE",
}
PROFILE_AFTER_CHANGE = {
    "first_name": "Robert",
    "last_name": "Braun",
    "display_name": "Robert Braun",
    "job_title": "Architect",
    "department": "Platform",
    "employee_id": "E-2002",
    "company_name": "Acme SARL",
    "office_location": "Tower 2",
    "mobile_phone": "+33 6 2",
    "business_phones": ["+33 1 5678"],
    "street_address": "1 rue de Rivoli",
    "city": "Paris",
    "state": "IDF",
    "postal_code": "75001",
    "country": "France",
    "usage_location": "FR",
}


def expected_graph(email: str, profile: dict) -> dict:
    """The Graph property each map entry must produce, written out by hand."""
    return {
        "userPrincipalName": email,
        "mail": email,
        "mailNickname": email.split("@")[0],
        "displayName": profile["display_name"],
        "givenName": profile["first_name"],
        "surname": profile["last_name"],
        "jobTitle": profile["job_title"],
        "department": profile["department"],
        "employeeId": profile["employee_id"],
        "companyName": profile["company_name"],
        "officeLocation": profile["office_location"],
        "mobilePhone": profile["mobile_phone"],
        "businessPhones": profile["business_phones"],
        "streetAddress": profile["street_address"],
        "city": profile["city"],
        "state": profile["state"],
        "postalCode": profile["postal_code"],
        "country": profile["country"],
        "usageLocation": profile["usage_location"],
    }


def test_the_hand_written_table_covers_every_entry_of_the_map(bob):
    assert set(expected_graph(bob.email, PROFILE_AT_CREATE)) == {a.graph for a in ATTRIBUTE_MAP}
    assert set(PROFILE_AT_CREATE) >= {a.stratus for a in ATTRIBUTE_MAP} - {"email", "name"}
    assert all(PROFILE_AT_CREATE[key] != PROFILE_AFTER_CHANGE[key] for key in PROFILE_AT_CREATE)


def test_every_synced_attribute_maps_to_its_graph_property(bob):
    for key, value in PROFILE_AT_CREATE.items():
        setattr(bob, key, value)
    assert desired_properties(bob) == expected_graph("bob@acme.example", PROFILE_AT_CREATE)


def test_every_attribute_reaches_microsoft_on_create_and_on_change(
    acme, alice, ms, tenant, sent_batches
):
    user = employee(acme, alice, ms, "bob", **PROFILE_AT_CREATE)
    services.user_bind(actor=alice, tenant=tenant, user=user)
    directory_services.user_set_password(actor=alice, user=user, password=EMPLOYEE_PASSWORD)
    sync(tenant)
    [(method, _, created)] = sent_batches
    assert method == "POST"
    wanted = expected_graph(user.email, PROFILE_AT_CREATE)
    assert {key: created[key] for key in wanted} == wanted
    remote = account(ms, user.email)
    assert {key: remote[key] for key in wanted} == wanted

    sent_batches.clear()
    new_email = f"robert@{ms['domain']}"
    directory_services.user_update(actor=alice, user=user, email=new_email, **PROFILE_AFTER_CHANGE)
    sync(tenant)
    [(method, _, patched)] = sent_batches
    assert method == "PATCH"
    wanted = expected_graph(new_email, PROFILE_AFTER_CHANGE)
    assert patched == wanted  # every property changed, so every one is sent
    remote = account(ms, new_email)
    assert {key: remote[key] for key in wanted} == wanted


def test_empty_attributes_clear_the_property_instead_of_sending_an_empty_string(bob):
    assert desired_properties(bob)["department"] is None


def test_only_changed_properties_are_sent(bob):
    known = desired_properties(bob)
    bob.department = "Sales"
    assert changed_properties(desired_properties(bob), known) == {"department": "Sales"}
    assert changed_properties(known, known) == {}


def test_mail_nickname_keeps_only_characters_graph_accepts():
    assert mail_nickname("o'brien+test@acme.example") == "obrientest"
    assert mail_nickname("a.b-c_d@acme.example") == "a.b-c_d"
    assert len(mail_nickname("x" * 80 + "@acme.example")) == 64
