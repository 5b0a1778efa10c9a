"""The SQLite database of `make run` under web and worker writing at once (issue 11
§4): processes that each read then write in a transaction, on one SQLite file, with
Stratus's settings. The rest of the suite runs on PostgreSQL."""

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WRITERS = 4
TRANSACTIONS = 60


def test_concurrent_writers_on_sqlite_never_see_database_is_locked(tmp_path):
    path = tmp_path / "db.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE writes (id INTEGER PRIMARY KEY, writer INTEGER, number INTEGER)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env["DATABASE_URL"] = f"sqlite:///{path}"

    writers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.config.sqlite_writer", str(TRANSACTIONS)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(WRITERS)
    ]
    outputs = [writer.communicate(timeout=120)[0] for writer in writers]

    text = "".join(outputs)
    assert all(writer.returncode == 0 for writer in writers), text
    assert "database is locked" not in text, text
    assert text.count("journal_mode=wal failed=0") == WRITERS, text
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT COUNT(*) FROM writes").fetchone()[0] == WRITERS * TRANSACTIONS
