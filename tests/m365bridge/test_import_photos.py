"""The photo step of an import (I5) against graphsim over HTTPS: each imported user's
photo comes into Stratus, a user without one (404 ImageNotFound) simply has none, the
step has its own progress, writes nothing to Microsoft, is safe to run again and is
resumed after a dead worker; the users' import is done before it starts."""

from datetime import timedelta

import pytest
from django.utils import timezone

from directory.models import User
from m365bridge import services
from m365bridge.models import ImportItem, ImportJob, UserPhotoSync
from m365bridge.services import photo_imports
from m365bridge.sync import reconcile
from tests.photo_files import image

from .importing import add_account, mirrored
from .provisioning import graph_log, log_mark, sync

pytest_plugins = ["tests.m365bridge.provisioning", "tests.m365bridge.importing"]


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def sent_photo_tasks(monkeypatch):
    sent = []
    monkeypatch.setattr(
        photo_imports, "import_photos_send", lambda **kwargs: sent.append(kwargs["job_id"])
    )
    return sent


@pytest.fixture
def people(ms, tenant):
    """Three Microsoft 365 users: two with a photo (PNG and JPEG), one without."""
    photos = {"pia": image("PNG", size=(240, 240)), "quin": image("JPEG", size=(120, 90))}
    for name in ("pia", "quin", "ray"):
        account = add_account(ms, name, displayName=name.capitalize())
        if name in photos:
            ms["control"].set_user_photo(ms["id"], account["id"], photos[name])
    run = reconcile.tenant_reconcile(tenant_id=tenant.pk)
    assert run.outcome == "succeeded", run.note
    return photos


def import_users(alice, tenant, ms, *names) -> ImportJob:
    ids = [mirrored(tenant, f"{n}@{ms['domain']}").microsoft_id for n in names]
    job = services.import_start(actor=alice, tenant=tenant, microsoft_ids=ids)
    job = services.import_run(job_id=job.pk)
    assert job.status == ImportJob.DONE and job.imported == len(names)
    return job


def test_imported_users_get_their_photos_and_nothing_is_written(
    alice, ms, tenant, people, sent_photo_tasks
):
    job = import_users(alice, tenant, ms, "pia", "quin", "ray")
    mark = log_mark(ms)
    job = services.import_photos_run(job_id=job.pk)
    assert (job.photos_status, job.photos_total, job.photos_done) == ("done", 3, 3)
    assert (job.photos_found, job.photos_failed) == (2, 0)
    for name, data in people.items():
        user = User.objects.get(email=f"{name}@{ms['domain']}")
        with user.photo.open("rb") as stored:
            assert stored.read() == data
    ray = User.objects.get(email=f"ray@{ms['domain']}")
    assert ray.photo_sha256 == ""
    outcomes = dict(job.items.values_list("label", "photo"))
    assert outcomes[f"ray@{ms['domain']}"] == ImportItem.PHOTO_NONE
    log = graph_log(ms, mark)
    assert [r for r in log if r["write"]] == []
    assert {r["status"] for r in log if "/photo/" in r["path"]} == {200, 404}
    assert sum(1 for r in log if r["note"].startswith("batch:")) == 3  # one $batch
    # Microsoft holds these photos already: the next sync pushes nothing back.
    assert not UserPhotoSync.objects.filter(needs_sync=True).exists()
    mark = log_mark(ms)
    sync(tenant)
    assert [r for r in graph_log(ms, mark) if r["write"]] == []


def test_the_step_runs_after_the_users_import_and_twice_is_harmless(
    alice, ms, tenant, people, sent_photo_tasks
):
    job = import_users(alice, tenant, ms, "pia", "ray")
    assert job.photos_status == "" and job.photos_done == 0  # users first, photos after
    first = services.import_photos_run(job_id=job.pk)
    mark = log_mark(ms)
    again = services.import_photos_run(job_id=job.pk)
    assert (again.photos_done, again.photos_found) == (first.photos_done, first.photos_found)
    assert graph_log(ms, mark) == []


def test_a_dead_workers_photo_step_is_resumed(alice, ms, tenant, people, sent_photo_tasks):
    job = import_users(alice, tenant, ms, "pia", "quin")
    stale = timezone.now() - timedelta(minutes=5)
    ImportJob.objects.filter(pk=job.pk).update(
        photos_status="running", claim_token="dead", claimed_until=stale, ended_at=stale
    )
    assert services.import_photos_resume() == [job.pk]
    assert sent_photo_tasks == [job.pk]
    assert services.import_photos_run(job_id=job.pk).photos_found == 2


def test_a_held_lease_keeps_a_second_worker_out(alice, ms, tenant, people, sent_photo_tasks):
    job = import_users(alice, tenant, ms, "pia")
    ImportJob.objects.filter(pk=job.pk).update(
        claim_token="other", claimed_until=timezone.now() + timedelta(minutes=1)
    )
    mark = log_mark(ms)
    assert services.import_photos_run(job_id=job.pk).photos_done == 0
    assert graph_log(ms, mark) == []


def test_a_busy_microsoft_leaves_the_photos_for_a_later_task(
    alice, ms, tenant, people, sent_photo_tasks
):
    job = import_users(alice, tenant, ms, "pia", "quin")
    ms["control"].set_faults(ms["id"], error_rate=1.0, error_statuses=[503])
    try:
        job = services.import_photos_run(job_id=job.pk)
    finally:
        ms["control"].clear_faults(ms["id"])
    assert job.photos_status == "running" and job.photos_done == 0
    assert sent_photo_tasks == [job.pk]  # sent again, after a wait
    assert services.import_photos_run(job_id=job.pk).photos_found == 2


def test_the_jobs_page_and_api_show_the_photo_progress(
    client, alice, ms, tenant, people, sent_photo_tasks
):
    from django.urls import reverse
    from rest_framework.test import APIClient

    job = import_users(alice, tenant, ms, "pia", "quin", "ray")
    client.force_login(alice)
    page = client.get(reverse("m365:import_job", args=[tenant.pk, job.pk])).content.decode()
    assert "Photos: starting; 0 stored." in page and "data-finished" not in page
    services.import_photos_run(job_id=job.pk)
    page = client.get(reverse("m365:import_job", args=[tenant.pk, job.pk])).content.decode()
    assert "Photos: 3 of 3 read — finished; 2 stored." in page and "data-finished" in page
    api = APIClient()
    api.force_login(alice)
    body = api.get(f"/api/v1/m365/tenants/{tenant.pk}/imports/{job.pk}").json()
    assert body["photos"] == {"status": "done", "total": 3, "done": 3, "found": 2, "failed": 0}
