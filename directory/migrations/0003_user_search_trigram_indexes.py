"""Trigram indexes so that searching users by any part of their name or email stays
fast at 100,000 users (bench/console_users.py). PostgreSQL only; SQLite, used by
`make run`, searches small demo data without them."""

from django.db import migrations

COLUMNS = ("email", "display_name", "first_name", "last_name")


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for column in COLUMNS:
        # Django's icontains compiles to UPPER(col::text) LIKE UPPER(%s): index that expression.
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS directory_user_{column}_trgm ON directory_user "
            f"USING gin (UPPER({column}::text) gin_trgm_ops)"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for column in COLUMNS:
        schema_editor.execute(f"DROP INDEX IF EXISTS directory_user_{column}_trgm")


class Migration(migrations.Migration):
    dependencies = [("directory", "0002_account_lifecycle")]

    operations = [migrations.RunPython(create, drop)]
