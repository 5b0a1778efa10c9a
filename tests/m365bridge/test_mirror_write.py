"""How a page is written into the import mirror (issue 12, the first read within 1.2x a
minimal client): on PostgreSQL the page goes as one JSON document unpacked by the
server (`mirror.mirrored_users_upsert_json`), elsewhere through Django's `bulk_create`
(`mirrored_users_upsert_orm`). Both must write exactly what Microsoft holds, whatever
characters its values carry, and the same rows."""

from datetime import UTC, datetime

from m365bridge.import_selectors import MirrorFilter, mirrored_users_list
from m365bridge.models import MirroredUser
from m365bridge.sync import mirror, reconcile

from .conftest import unique_domain
from .factories import tenant_row
from .importing import add_account, mirrored

pytest_plugins = ["tests.m365bridge.provisioning", "tests.m365bridge.importing"]

# Quotes, a backslash, control characters, accents, emoji and placeholders of SQL,
# Python and JSON: each must come through the JSON document unchanged.
AWKWARD = {
    "displayName": 'Chloé O\'Brien \\ "the boss" 🎉',
    "department": "R&D\tLab\nNorth %s $1",
    "jobTitle": "{} %(name)s \\u0041 ☃",
    "city": "Zürich\r\n",
}


def test_awkward_values_are_mirrored_exactly_as_microsoft_holds_them(ms, tenant):
    domain = ms["domain"]
    account = add_account(
        ms,
        "chloe",
        proxyAddresses=[f"SMTP:chloe@{domain}", f"smtp:Chloé.Alias@{domain}"],
        **AWKWARD,
    )

    run = reconcile.tenant_reconcile(tenant_id=tenant.pk)

    assert run.outcome == "succeeded", run.note
    row = mirrored(tenant, f"chloe@{domain}")
    held = ms["control"].admin_get_user(ms["id"], account["id"])
    assert {name: row.properties[name] for name in AWKWARD} == AWKWARD
    assert (row.display_name, row.department, row.job_title) == (
        AWKWARD["displayName"],
        AWKWARD["department"],
        AWKWARD["jobTitle"],
    )
    assert row.proxy_addresses == [f"SMTP:chloe@{domain}", f"smtp:Chloé.Alias@{domain}"]
    assert row.addresses == [f"chloe@{domain}", f"chloé.alias@{domain}"]
    assert row.created_in_microsoft == mirror.moment_parse(held["createdDateTime"])
    assert row.organization_id == tenant.organization_id and row.status == MirroredUser.NEW


def accounts_of(domain: str, *, department: str) -> list[dict]:
    return [
        {
            "id": "00000000-0000-0000-0000-000000000001",
            "userPrincipalName": f"ann@{domain}",
            "mail": f"Ann@{domain}",
            "displayName": AWKWARD["displayName"] + "x" * 300,  # cut to the column's 256
            "department": department,
            "accountEnabled": False,
            "assignedLicenses": [{"skuId": "sku", "disabledPlans": []}],
            "createdDateTime": "2026-01-02T03:04:05Z",
            "proxyAddresses": [f"smtp:a@{domain}", 7],
        },
        {
            "id": "00000000-0000-0000-0000-000000000002",
            "userPrincipalName": f"guest_x#EXT#@{domain}",
            "userType": "Guest",
            "createdDateTime": None,
        },
        {"id": "00000000-0000-0000-0000-000000000003", "userPrincipalName": "not an address"},
    ]


def written(tenant) -> list[dict]:
    return list(
        MirroredUser.objects.filter(tenant=tenant)
        .order_by("microsoft_id")
        .values(
            *(f.name for f in MirroredUser._meta.concrete_fields if f.name not in ("id", "tenant"))
        )
    )


def test_the_orm_upsert_writes_what_the_postgresql_statement_writes(acme):
    read_at = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    results = []
    for write in (mirror.mirrored_users_upsert_json, mirror.mirrored_users_upsert_orm):
        domain = unique_domain()
        tenant = tenant_row(acme, domain)
        for department in ("Sales", "Finance"):  # the second write updates every row
            rows = [
                mirror.mirrored_user_values(a, domains={domain})
                for a in accounts_of(domain, department=department)
            ]
            write(tenant=tenant, read_at=read_at, rows=rows)
        results.append((domain, written(tenant)))

    (json_domain, by_json), (orm_domain, by_orm) = results
    assert len(by_json) == 3 and by_json[0]["department"] == "Finance"
    assert len(by_json[0]["display_name"]) == 256
    assert by_json[0]["created_in_microsoft"] == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert str(by_json).replace(json_domain, "") == str(by_orm).replace(orm_domain, "")


def test_a_search_matches_within_one_column_never_across_two(acme):
    domain = unique_domain()
    tenant = tenant_row(acme, domain)
    account = {"id": "00000000-0000-0000-0000-00000000000a", "displayName": "Ann Smith"}
    account["userPrincipalName"] = f"ann.smith@{domain}"
    mirror.mirrored_users_write(
        tenant=tenant,
        read_at=datetime(2026, 12, 7, tzinfo=UTC),
        rows=[mirror.mirrored_user_values(account, domains={domain})],
    )

    def found(search: str) -> int:
        return mirrored_users_list(tenant=tenant, filter=MirrorFilter(search=search)).count()

    assert (found("SMITH"), found("h@" + domain[:5]), found("ann.smith@")) == (1, 1, 1)
    # The search text runs the three columns together (one trigram index): the end of
    # the name and the start of the email are no match.
    assert found("smith ann.smith") == 0


def test_graphs_annotations_are_not_kept_with_the_account(acme):
    domain = unique_domain()
    tenant = tenant_row(acme, domain)
    round_ = mirror.MirrorRound(tenant=tenant, select=reconcile.SELECT_TEXT)
    round_.begin(full=True)
    plain = {"id": "00000000-0000-0000-0000-0000000000b1", "userPrincipalName": f"b1@{domain}"}
    annotated = {
        "id": "00000000-0000-0000-0000-0000000000b2",
        "userPrincipalName": f"b2@{domain}",
        "@odata.type": "#microsoft.graph.user",
    }

    round_.page_write([plain, annotated])

    kept = dict(
        MirroredUser.objects.filter(tenant=tenant).values_list("microsoft_id", "properties")
    )
    assert kept == {plain["id"]: plain, annotated["id"]: {k: annotated[k] for k in plain}}
