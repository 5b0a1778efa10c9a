"""Cheaper page writes of the import mirror (issue 12, the first read within 1.2x a
minimal client): one trigram index over name, email and UPN together instead of one per
column (a row's email and UPN are mostly the same address, so about half the trigrams
to insert per row), and no index of its own on `tenant` (every other index of the
mirror begins with it). PostgreSQL only for the trigram index, as in 0012."""

import django.db.models.deletion
from django.db import migrations, models

OLD_COLUMNS = ("display_name", "email", "user_principal_name")
# The Import page's search text (import_selectors.MIRROR_SEARCH_TEXT), as Django's
# `icontains` compiles it: UPPER((…)::text) LIKE UPPER(%s).
SEARCH = (
    '"m365bridge_mirroreduser"."display_name" || \' \' || "m365bridge_mirroreduser"."email"'
    ' || \' \' || "m365bridge_mirroreduser"."user_principal_name"'
)


def one_search_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        "CREATE INDEX IF NOT EXISTS m365_mirror_search_trgm ON m365bridge_mirroreduser "
        f"USING gin (UPPER(({SEARCH})::text) gin_trgm_ops)"
    )
    for column in OLD_COLUMNS:
        schema_editor.execute(f"DROP INDEX IF EXISTS m365_mirror_{column}_trgm")


def one_index_per_column(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for column in OLD_COLUMNS:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS m365_mirror_{column}_trgm ON m365bridge_mirroreduser "
            f"USING gin (UPPER({column}::text) gin_trgm_ops)"
        )
    schema_editor.execute("DROP INDEX IF EXISTS m365_mirror_search_trgm")


class Migration(migrations.Migration):
    dependencies = [
        ("m365bridge", "0017_user_photos"),
    ]

    operations = [
        migrations.AlterField(
            model_name="mirroreduser",
            name="tenant",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="mirrored_users",
                to="m365bridge.tenant",
            ),
        ),
        migrations.RunPython(one_search_index, one_index_per_column),
    ]
