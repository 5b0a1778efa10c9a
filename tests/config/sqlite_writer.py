"""One writer of the SQLite concurrency test, run as its own process with Stratus's
settings (DATABASE_URL names the SQLite file): transactions that read, then write, the
shape of a service. Prints one line per failed transaction and a summary."""

import os
import sys
import time

import django


def main(transactions: int) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from django.db import OperationalError, connection, transaction

    failed = 0
    for number in range(transactions):
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT COUNT(*) FROM writes")
                time.sleep(0.002)  # the work a service does between its read and its write
                cursor.execute(
                    "INSERT INTO writes (writer, number) VALUES (%s, %s)", [os.getpid(), number]
                )
        except OperationalError as exc:
            failed += 1
            print(f"failed: {exc}", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        print(f"journal_mode={cursor.fetchone()[0]} failed={failed}", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]))
