"""Claims and lease renewals of user bindings update the row in place.

A claim sets only `claim_token` and `claimed_until`, which no index holds, so
PostgreSQL can write the new version of the row in the same page without touching any
of its indexes (a heap-only tuple), but only where the page has room: at the default
fill factor a bulk bind's 5,000 new rows fill their pages and every claim wrote all
eleven index entries anew. Pages are now filled to 70 %, leaving room for those
updates. The tenant's own index goes: every other index of the row but the keys begins
with the tenant, so it only cost each write."""

import django.db.models.deletion
from django.db import migrations, models

FILL_FACTOR = 70


def fill_factor(value: int):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return  # SQLite (make run) has no fill factor
        table = schema_editor.quote_name(apps.get_model("m365bridge", "UserBinding")._meta.db_table)
        schema_editor.execute(f"ALTER TABLE {table} SET (fillfactor = {int(value)})")

    return apply


class Migration(migrations.Migration):
    dependencies = [
        ("m365bridge", "0018_mirror_write_cheaper_indexes"),
    ]

    operations = [
        migrations.AlterField(
            model_name="userbinding",
            name="tenant",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="user_bindings",
                to="m365bridge.tenant",
            ),
        ),
        migrations.RunPython(fill_factor(FILL_FACTOR), fill_factor(100)),
    ]
