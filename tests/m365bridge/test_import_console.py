"""The console's Import page against graphsim over HTTPS: every mirrored user with its
status, search, filters and sorts; a nonsense filter is named and cleared; the preview
writes nothing; an import shows its progress and then each failure with its reason; a
conflict is linked; the page's query count does not grow with the mirror; another
organization's admin gets 404 on every import page and a member gets no access."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audit.models import Event
from m365bridge import services
from m365bridge.console import urls
from m365bridge.models import GroupBinding, ImportJob, MirroredGroup, MirroredUser, UserBinding

from .importing import mirrored, mirrored_group

pytest_plugins = ["tests.m365bridge.provisioning", "tests.m365bridge.importing"]


def page_of(client, tenant, **params):
    response = client.get(reverse("m365:import", args=[tenant.pk]), params)
    assert response.status_code == 200
    return response.content.decode()


def test_the_import_page_lists_searches_filters_and_sorts(client, alice, mirror):
    client.force_login(alice)
    html = page_of(client, mirror)
    assert "Ann Archer" in html and "Syd Synced" in html and "Synced from on-premises" in html
    sales = page_of(client, mirror, department="Sales")
    assert "Ann Archer" in sales and "Bea Baker" not in sales
    assert "Bea Baker" in page_of(client, mirror, enabled="false")
    assert "Ann Archer" not in page_of(client, mirror, enabled="false")
    conflicts = page_of(client, mirror, status="conflict")
    assert "Cal Carter" in conflicts and "Link…" in conflicts
    descending = page_of(client, mirror, department="Sales", sort="-name")
    assert descending.index("Cal Carter") < descending.index("Ann Archer")
    assert "Ann Archer" in page_of(client, mirror, q="archer")


def test_a_nonsense_filter_is_named_and_cleared(client, alice, mirror):
    client.force_login(alice)
    html = page_of(client, mirror, status="maybe")
    assert "status: Must be one of" in html and "Ann Archer" in html


def test_preview_then_import_then_the_results_list(client, alice, mirror, ms):
    client.force_login(alice)
    events = Event.objects.count()
    selection = {"all": "1", "department": "Sales"}
    preview = client.post(reverse("m365:import_preview", args=[mirror.pk]), selection)
    assert preview.status_code == 200
    assert Event.objects.count() == events and not ImportJob.objects.exists()
    html = preview.content.decode()
    assert 'data-count="to_import">1<' in html and 'data-count="conflicts">1 ' in html

    started = client.post(reverse("m365:import_start", args=[mirror.pk]), selection)
    job = ImportJob.objects.get()
    assert started["Location"] == reverse("m365:import_job", args=[mirror.pk, job.pk])
    running = client.get(started["Location"]).content.decode()
    assert "0 of 2 done" in running
    services.import_run(job_id=job.pk)
    done = client.get(started["Location"]).content.decode()
    assert "2 of 2 done" in done
    assert "An account with this email already exists in Stratus." in done
    assert f"cal@{ms['domain']}" in done and "Link to the Stratus user" in done


def test_a_conflict_is_linked_from_the_console(client, alice, mirror, ms, acme):
    client.force_login(alice)
    row = mirrored(mirror, f"cal@{ms['domain']}")
    cal = acme.users.get(email=f"cal@{ms['domain']}")
    url = reverse("m365:import_link", args=[mirror.pk, row.microsoft_id])
    assert cal.email in client.get(url).content.decode()
    response = client.post(url, {"user": cal.pk})
    assert response.status_code == 302
    assert UserBinding.objects.get(user=cal).microsoft_id == row.microsoft_id


def _more_mirrored(tenant, count, start=0):
    MirroredUser.objects.bulk_create(
        MirroredUser(
            organization=tenant.organization,
            tenant=tenant,
            microsoft_id=f"00000000-0000-0000-0000-{n:012d}",
            user_principal_name=f"extra{n}@{tenant.domains.first().name}",
            email=f"extra{n}@{tenant.domains.first().name}",
            display_name=f"Extra {n}",
            department=f"Dept {n % 7}",
        )
        for n in range(start, start + count)
    )


def test_the_import_page_costs_the_same_queries_with_a_larger_mirror(client, alice, mirror):
    client.force_login(alice)

    def queries(**params):
        with CaptureQueriesContext(connection) as captured:
            page_of(client, mirror, **params)
        return len(captured)

    _more_mirrored(mirror, 400)  # each query matches more than a page, so each counts
    small = [queries(), queries(q="a"), queries(department="Dept 1", sort="-created")]
    _more_mirrored(mirror, 2000, start=400)
    large = [queries(), queries(q="a"), queries(department="Dept 1", sort="-created")]
    assert large == small


# --- tenancy ----------------------------------------------------------------------------


@pytest.fixture
def acme_pages(alice, mirror, ms):
    row = mirrored(mirror, f"cal@{ms['domain']}")
    job = services.import_start(actor=alice, tenant=mirror, microsoft_ids=[row.microsoft_id])
    group = mirrored_group(mirror, "Finance")
    return {
        "get": [
            reverse("m365:import", args=[mirror.pk]),
            reverse("m365:import_job", args=[mirror.pk, job.pk]),
            reverse("m365:import_link", args=[mirror.pk, row.microsoft_id]),
            reverse("m365:import_groups", args=[mirror.pk]),
            reverse("m365:import_group_link", args=[mirror.pk, group.microsoft_id]),
        ],
        "post": [
            reverse("m365:import_preview", args=[mirror.pk]),
            reverse("m365:import_start", args=[mirror.pk]),
            reverse("m365:import_link", args=[mirror.pk, row.microsoft_id]),
            reverse("m365:import_groups_preview", args=[mirror.pk]),
            reverse("m365:import_group_link", args=[mirror.pk, group.microsoft_id]),
        ],
    }


def test_charlie_gets_404_on_every_import_page(client, charlie, acme_pages, acme, ms):
    client.force_login(charlie)
    cal = acme.users.get(email=f"cal@{ms['domain']}")
    for url in acme_pages["get"]:
        assert client.get(url).status_code == 404, url
    for url in acme_pages["post"]:
        assert client.post(url, {"all": "1", "all_groups": "1", "user": cal.pk}).status_code == 404
    assert ImportJob.objects.count() == 1 and not UserBinding.objects.exists()
    assert not GroupBinding.objects.exists()


def test_bob_the_member_gets_no_access_to_the_import_pages(client, bob, acme_pages):
    client.force_login(bob)
    for url in acme_pages["get"]:
        assert client.get(url).status_code == 403, url
    for url in acme_pages["post"]:
        assert client.post(url).status_code == 403, url


def test_every_import_page_is_walked():
    names = {p.name for p in urls.urlpatterns if "import" in p.name}
    assert names == {
        "import",
        "import_preview",
        "import_start",
        "import_job",
        "import_link",
        "import_groups",
        "import_groups_preview",
        "import_group_link",
    }


# --- groups (I3) ------------------------------------------------------------------------


def groups_page(client, tenant, **params):
    response = client.get(reverse("m365:import_groups", args=[tenant.pk]), params)
    assert response.status_code == 200
    return response.content.decode()


def test_the_groups_tab_lists_searches_and_filters(client, alice, mirror):
    client.force_login(alice)
    html = groups_page(client, mirror)
    assert "Sales team" in html and "Finance" in html and "Link…" in html
    assert "Finance" not in groups_page(client, mirror, status="new")
    assert "Sales team" not in groups_page(client, mirror, q="fin")
    assert "status: Must be one of" in groups_page(client, mirror, status="maybe")


def test_groups_are_previewed_then_imported_with_their_members_from_the_console(
    client, alice, mirror, ms
):
    client.force_login(alice)
    sales = mirrored_group(mirror, "Sales team")
    selection = {"group_ids": [sales.microsoft_id]}
    preview = client.post(reverse("m365:import_groups_preview", args=[mirror.pk]), selection)
    assert preview.status_code == 200 and not ImportJob.objects.exists()
    assert 'data-count="to_import">1<' in preview.content.decode()

    started = client.post(
        reverse("m365:import_start", args=[mirror.pk]),
        {**selection, "kind": "groups", "with_members": "1"},
    )

    job = ImportJob.objects.get()
    assert started.status_code == 302 and (job.total, job.groups) == (2, 1)
    services.import_run(job_id=job.pk)
    html = client.get(reverse("m365:import_job", args=[mirror.pk, job.pk])).content.decode()
    assert "Group Sales team" in html and "1 member left out" in html
    assert f"cal@{ms['domain']}" in html
    assert mirrored_group(mirror, "Sales team").status == "imported"


def test_a_group_conflict_is_linked_from_the_console(client, alice, mirror, acme):
    client.force_login(alice)
    finance = mirrored_group(mirror, "Finance")
    url = reverse("m365:import_group_link", args=[mirror.pk, finance.microsoft_id])
    assert "Finance" in client.get(url).content.decode()

    response = client.post(url)

    assert response.status_code == 302
    binding = GroupBinding.objects.get(group__name="Finance")
    assert binding.microsoft_id == finance.microsoft_id
    assert mirrored_group(mirror, "Finance").status == MirroredGroup.IMPORTED


def test_the_groups_tab_costs_the_same_queries_with_more_groups(client, alice, mirror):
    client.force_login(alice)

    def queries(**params):
        with CaptureQueriesContext(connection) as captured:
            groups_page(client, mirror, **params)
        return len(captured)

    def three():
        return [queries(), queries(q="g"), queries(status="new", sort="-members")]

    _more_groups(mirror, 8)  # 10 groups: one page, so the pager needs no count
    ten = three()
    _more_groups(mirror, 52, start=8)  # 60: more than a page, the count bounded
    sixty = three()
    _more_groups(mirror, 440, start=60)
    assert three() == sixty and all(t <= s <= t + 1 for t, s in zip(ten, sixty, strict=True))


def _more_groups(tenant, count, start=0):
    MirroredGroup.objects.bulk_create(
        MirroredGroup(
            organization_id=tenant.organization_id,
            tenant=tenant,
            microsoft_id=f"00000000-0000-4000-8000-{i:012d}",
            display_name=f"Group {i}",
            security_enabled=True,
            members=[f"m{j}" for j in range(i % 30)],
            member_count=i % 30,
        )
        for i in range(start, start + count)
    )
