"""Trigram indexes so that searching the import mirror by any part of a name, email or
UPN stays fast at 50,000 users (bench/import.py), as directory/0003 does for users.
PostgreSQL only; SQLite, used by `make run`, searches small demo data without them."""

from django.db import migrations

COLUMNS = ("display_name", "email", "user_principal_name")


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for column in COLUMNS:
        # Django's icontains compiles to UPPER(col::text) LIKE UPPER(%s): index that expression.
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS m365_mirror_{column}_trgm ON m365bridge_mirroreduser "
            f"USING gin (UPPER({column}::text) gin_trgm_ops)"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for column in COLUMNS:
        schema_editor.execute(f"DROP INDEX IF EXISTS m365_mirror_{column}_trgm")


class Migration(migrations.Migration):
    dependencies = [
        ("m365bridge", "0011_import_mirror_and_jobs"),
        ("directory", "0003_user_search_trigram_indexes"),
    ]

    operations = [migrations.RunPython(create, drop)]
