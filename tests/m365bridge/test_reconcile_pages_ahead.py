"""The reconcile's users/delta read fetches the next page while it writes this one
(issue 12, first read within 1.2x a minimal client), against graphsim over HTTPS: the
next page's request reaches Microsoft before this page's write ends, every page is
still read once and in order, and a lease lost meanwhile stops the run (the lease is
renewed on the reconcile's own thread, before each page)."""

import time

from m365bridge.models import MirroredUser, SyncRun, Tenant
from m365bridge.sync import mirror, reconcile

from .importing import add_account
from .provisioning import graph_log, log_mark

pytest_plugins = ["tests.m365bridge.provisioning", "tests.m365bridge.importing"]


def delta_requests(ms, since) -> list[dict]:
    return [r for r in graph_log(ms, since) if "users/delta" in r["path"]]


def test_the_next_page_is_asked_for_while_this_page_is_written(ms, tenant, monkeypatch):
    for n in range(5):
        add_account(ms, f"person{n}")
    monkeypatch.setattr(reconcile, "PAGE_HEADERS", {"Prefer": "odata.maxpagesize=2"})
    mark = log_mark(ms)
    seen_while_writing = []
    write = mirror.MirrorRound.page_write

    def slow_write(self, items):
        asked = len(delta_requests(ms, mark))
        deadline = time.monotonic() + 5  # the fetching thread has this long to ask
        while asked < len(seen_while_writing) + 2 and time.monotonic() < deadline:
            time.sleep(0.05)
            asked = len(delta_requests(ms, mark))
        seen_while_writing.append(asked)
        return write(self, items)

    monkeypatch.setattr(mirror.MirrorRound, "page_write", slow_write)

    run = reconcile.tenant_reconcile(tenant_id=tenant.pk)

    assert run.outcome == "succeeded", run.note
    pages = len(delta_requests(ms, mark))
    assert pages >= 3  # 5 accounts and the admin, 2 a page
    # While page k (1-based) was written, page k+1 had been asked for already.
    assert seen_while_writing[:-1] == list(range(2, pages + 1))
    assert MirroredUser.objects.filter(tenant=tenant).count() == run.read


def test_a_lease_lost_during_the_read_stops_it(ms, tenant, monkeypatch):
    for n in range(4):
        add_account(ms, f"person{n}")
    monkeypatch.setattr(reconcile, "PAGE_HEADERS", {"Prefer": "odata.maxpagesize=2"})
    write = mirror.MirrorRound.page_write

    def another_run_took_over(self, items):
        Tenant.objects.filter(pk=tenant.pk).update(reconcile_token="another-worker")
        return write(self, items)

    monkeypatch.setattr(mirror.MirrorRound, "page_write", another_run_took_over)

    run = reconcile.tenant_reconcile(tenant_id=tenant.pk)

    assert run.outcome == SyncRun.FAILED and "lease" in run.note
    assert Tenant.objects.get(pk=tenant.pk).delta_link == ""
