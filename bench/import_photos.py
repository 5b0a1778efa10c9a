"""The photo step of an import (issue 12, I5): an import of N users of a graphsim tenant
where a share of them have a profile photo, then the follow-up step that reads each
imported user's photo. The users' import must stay as fast as without photos (the step
runs after it, as its own task), the step reads 20 photos per `$batch`, and neither
writes anything to Microsoft.

    .venv/bin/python bench/import_photos.py [--users 5000] [--photo-share 0.2]

Like bench/import.py it uses a dedicated PostgreSQL database
(`stratus_bench_import_photos`, dropped and migrated afresh; BENCH_DATABASE_URL
overrides it, its name must contain "bench") and its own graphsim;
the import and the photo step run in this process, as one worker would run them.
"""

from __future__ import annotations

import argparse
import importlib
import math
import secrets
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench._stack import bench_database_url, bench_organization  # noqa: E402

DATABASE_URL = bench_database_url("import_photos")
IMPORT_TARGET_S = 30
BATCH = 20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=5_000)
    parser.add_argument("--photo-share", type=float, default=0.2)
    args = parser.parse_args()
    base = importlib.import_module("bench.import")  # its Django, tenant and counter helpers
    base.DATABASE_URL = DATABASE_URL

    from graphsim.testing import running_graphsim

    media = tempfile.mkdtemp(prefix="bench-photos-")
    with running_graphsim() as sim:
        app = sim.control.register_app(
            display_name="Stratus bench",
            secret=f"bench-{secrets.token_urlsafe(16)}",
            application_permissions=["User.ReadWrite.All"],
        )
        base.setup_django(sim, app)
        from django.conf import settings

        settings.MEDIA_ROOT = media
        from m365bridge import services
        from m365bridge.capabilities import APPLICATION_PERMISSIONS
        from m365bridge.graph.tenant import tenant_graph
        from m365bridge.models import MirroredUser
        from m365bridge.sync import reconcile

        domain = f"bench-{secrets.token_hex(4)}.example"
        created = sim.control.create_tenant(
            display_name="Bench photos",
            domains=[domain],
            users=args.users,
            seed=7,
            photoShare=args.photo_share,
        )
        tid = created["id"]
        sim.control.grant(
            tid,
            app["clientId"],
            application_permissions=APPLICATION_PERMISSIONS,
            directory_roles=["User Administrator"],
        )
        with_photo = sum(1 for u in sim.control.users(tid) if u["hasPhoto"])
        organization, owner = bench_organization()
        tenant = base.stratus_tenant(organization, owner, tid, domain, "Bench photos")
        tenant_graph(tenant=tenant, budget=False).get("organization")
        assert reconcile.tenant_reconcile(tenant_id=tenant.pk).outcome == "succeeded"
        ids = list(
            MirroredUser.objects.filter(tenant=tenant, status=MirroredUser.NEW).values_list(
                "microsoft_id", flat=True
            )
        )
        # This process is the worker: the tasks sent after commit are not needed.
        services.imports.import_send = lambda *, job_id: None
        services.photo_imports.import_photos_send = lambda **kwargs: None

        def import_selected():
            job = services.import_start(actor=owner, tenant=tenant, microsoft_ids=ids)
            return services.import_run(job_id=job.pk)

        job, _, import_writes, import_seconds = base.counters(sim, tid, import_selected)
        photos_job, photo_requests, photo_writes, photo_seconds = base.counters(
            sim, tid, lambda: services.import_photos_run(job_id=job.pk, time_limit=3600)
        )
    shutil.rmtree(media, ignore_errors=True)

    batches = math.ceil(job.imported / BATCH)
    rows = [
        (f"users imported (of {len(ids):,} selected)", job.imported, f"== {len(ids):,}"),
        ("users import: seconds (one worker)", f"{import_seconds:.1f}", f"< {IMPORT_TARGET_S}"),
        ("users import: Graph writes", import_writes, "== 0"),
        ("photo step: photos stored", photos_job.photos_found, f"== {with_photo:,} in graphsim"),
        (
            "photo step: photos read / total",
            f"{photos_job.photos_done}/{photos_job.photos_total}",
            "all",
        ),
        ("photo step: Graph requests ($batch)", photo_requests, f"~ {batches} (+ token)"),
        ("photo step: seconds", f"{photo_seconds:.1f}", "(after the users; not in their time)"),
        ("photo step: Graph writes", photo_writes, "== 0"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"\nImport photos: {args.users:,} users, {args.photo_share:.0%} with a photo\n")
    print(f"{'measure'.ljust(width)}  {'value':>14}  target")
    for label, value, target in rows:
        print(f"{label.ljust(width)}  {str(value):>14}  {target}")
    ok = (
        job.imported == len(ids)
        and import_seconds < IMPORT_TARGET_S
        and import_writes == 0
        and photos_job.photos_found == with_photo
        and photos_job.photos_done == photos_job.photos_total
        and photo_requests <= batches + 2
        and photo_writes == 0
    )
    print(f"\n{'all targets met' if ok else 'TARGETS MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
