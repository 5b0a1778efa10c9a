"""State of every emulated tenant: kept in memory, written through to SQLite.

Reads are served from memory (fast, and Graph query semantics are easier in
Python than in SQL); every change is written to a small key/value table in the
data folder, so a restarted server comes back with the same tenants, users,
tokens and delta history.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (scope TEXT NOT NULL, key TEXT NOT NULL, data TEXT NOT NULL,
                               PRIMARY KEY (scope, key));
CREATE TABLE IF NOT EXISTS log (id INTEGER PRIMARY KEY, tenant_id TEXT, ts REAL, method TEXT,
                                path TEXT, status INTEGER, ru INTEGER, write INTEGER,
                                app_id TEXT, ms REAL, note TEXT);
CREATE INDEX IF NOT EXISTS log_tenant ON log (tenant_id, id);
"""


class Database:
    """A thin key/value layer over SQLite (WAL, synchronous=NORMAL)."""

    def __init__(self, path: str):
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.executescript(SCHEMA)
        self.lock = threading.RLock()
        self._in_tx = False
        self._log_buffer: list[tuple] = []
        self._last_flush = time.monotonic()

    @contextmanager
    def transaction(self):
        """Group many writes in one commit (tenant creation writes thousands of rows)."""
        with self.lock:
            if self._in_tx:
                yield
                return
            self.conn.execute("BEGIN")
            self._in_tx = True
            try:
                yield
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            else:
                self.conn.execute("COMMIT")
            finally:
                self._in_tx = False

    def put(self, scope: str, key: str, data: dict) -> None:
        with self.lock:
            self.conn.execute(
                "INSERT OR REPLACE INTO kv (scope, key, data) VALUES (?, ?, ?)",
                (scope, key, json.dumps(data, separators=(",", ":"))),
            )

    def delete(self, scope: str, key: str) -> None:
        with self.lock:
            self.conn.execute("DELETE FROM kv WHERE scope = ? AND key = ?", (scope, key))

    def drop_scope(self, scope: str) -> None:
        with self.lock:
            self.conn.execute("DELETE FROM kv WHERE scope = ?", (scope,))

    def get(self, scope: str, key: str) -> dict | None:
        row = self.conn.execute(
            "SELECT data FROM kv WHERE scope = ? AND key = ?", (scope, key)
        ).fetchone()
        return json.loads(row[0]) if row else None

    def load(self, scope: str) -> dict[str, dict]:
        rows = self.conn.execute("SELECT key, data FROM kv WHERE scope = ?", (scope,))
        return {key: json.loads(data) for key, data in rows}

    def load_ordered(self, scope: str) -> list[dict]:
        rows = self.conn.execute("SELECT data FROM kv WHERE scope = ? ORDER BY rowid", (scope,))
        return [json.loads(data) for (data,) in rows]

    # The request log is buffered: one INSERT per request would cost more than the
    # request itself under benchmark load.
    def log(self, row: tuple) -> None:
        self._log_buffer.append(row)
        if len(self._log_buffer) >= 500 or time.monotonic() - self._last_flush > 1.0:
            self.flush_log()

    def flush_log(self) -> None:
        with self.lock:
            rows, self._log_buffer = self._log_buffer, []
            self._last_flush = time.monotonic()
            if rows:
                self.conn.executemany(
                    "INSERT INTO log (tenant_id, ts, method, path, status, ru, write, app_id, "
                    "ms, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )

    def query(self, sql: str, args: tuple = ()) -> list[tuple]:
        self.flush_log()
        with self.lock:
            return list(self.conn.execute(sql, args))

    def delete_log(self, tenant_id: str) -> None:
        self.flush_log()
        with self.lock:
            self.conn.execute("DELETE FROM log WHERE tenant_id = ?", (tenant_id,))


@dataclass
class Runtime:
    """Per-tenant state that deliberately does not survive a restart."""

    ru_window: dict = field(default_factory=dict)  # app id -> [window start, used, length]
    write_window: dict = field(default_factory=dict)  # app id, "*" -> [start, used, length]
    write_most: dict = field(default_factory=dict)  # app id -> throttle.SlidingMost
    tenant_write_most: object = None  # throttle.SlidingMost of every app's writes
    priorities: dict = field(default_factory=dict)  # x-ms-throttle-priority -> writes
    lag: dict = field(default_factory=dict)  # object id -> reads left that 404
    outlook_window: dict = field(default_factory=dict)  # (app id, user id) -> [start, used]
    forced_429: int = 0


@dataclass
class Tenant:
    id: str
    info: dict
    users: dict = field(default_factory=dict)
    groups: dict = field(default_factory=dict)
    deleted: dict = field(default_factory=dict)
    upns: dict = field(default_factory=dict)
    changes: list = field(default_factory=list)
    seq: int = 0
    runtime: Runtime = field(default_factory=Runtime)

    @property
    def settings(self) -> dict:
        return self.info["settings"]

    @property
    def scale(self) -> float:
        return float(self.settings.get("time_scale") or 1.0)

    def verified_domains(self) -> list[dict]:
        return self.info["domains"]

    def domain(self, name: str) -> dict | None:
        for domain in self.info["domains"]:
            if domain["name"].lower() == name.lower():
                return domain
        return None

    def default_domain(self) -> str:
        for domain in self.info["domains"]:
            if domain.get("isDefault"):
                return domain["name"]
        return self.info["domains"][0]["name"]


class State:
    """All tenants, app registrations and sign-in artefacts, loaded at start-up."""

    def __init__(self, data_dir: str):
        os.makedirs(data_dir, exist_ok=True)
        self.data_dir = data_dir
        self.db = Database(os.path.join(data_dir, "graphsim.sqlite3"))
        self.tenants: dict[str, Tenant] = {}
        self.apps: dict[str, dict] = self.db.load("app")
        self.tokens: dict[str, dict] = self.db.load("token")
        # Application-wide throttling across tenants; like the tenants' windows, not kept.
        self.app_write_window: dict[str, list] = {}  # app id -> [start, used, length]
        self.app_write_most: dict[str, object] = {}  # app id -> throttle.SlidingMost
        self.app_ru_window: dict[str, list] = {}  # app id -> [start, used, length]
        # A lower application-wide write limit per app (a scaled benchmark of many tenants).
        self.app_write_limits: dict[str, int] = {}
        for info in self.db.load("tenant").values():
            self._load_tenant(info)

    def _load_tenant(self, info: dict) -> Tenant:
        tenant = Tenant(id=info["id"], info=info)
        for obj in self.db.load_ordered(f"obj:{tenant.id}"):
            self._index(tenant, obj)
        tenant.changes = self.db.load_ordered(f"chg:{tenant.id}")
        tenant.seq = tenant.changes[-1]["seq"] if tenant.changes else 0
        self.tenants[tenant.id] = tenant
        return tenant

    @staticmethod
    def _index(tenant: Tenant, obj: dict) -> None:
        if obj["_kind"] == "group":
            tenant.groups[obj["id"]] = obj
        elif obj.get("_deletedAt"):
            tenant.deleted[obj["id"]] = obj
        else:
            tenant.users[obj["id"]] = obj
        if obj["_kind"] == "user":
            tenant.upns[obj["userPrincipalName"].lower()] = obj["id"]

    # -- tenants ---------------------------------------------------------------
    def add_tenant(self, info: dict) -> Tenant:
        self.db.put("tenant", info["id"], info)
        return self._load_tenant(info)

    def save_tenant(self, tenant: Tenant) -> None:
        self.db.put("tenant", tenant.id, tenant.info)

    def drop_tenant(self, tenant: Tenant, *, keep_log: bool = False) -> None:
        with self.db.transaction():
            self.db.delete("tenant", tenant.id)
            self.db.drop_scope(f"obj:{tenant.id}")
            self.db.drop_scope(f"chg:{tenant.id}")
            self.db.drop_scope(f"photo:{tenant.id}")
        if not keep_log:
            self.db.delete_log(tenant.id)
        self.tenants.pop(tenant.id, None)

    def find_tenant(self, name: str) -> Tenant | None:
        """Resolve a tenant GUID or any of its verified domain names."""
        tenant = self.tenants.get(name.lower())
        if tenant:
            return tenant
        for candidate in self.tenants.values():
            if candidate.domain(name):
                return candidate
        return None

    # -- directory objects -----------------------------------------------------
    def save_object(self, tenant: Tenant, obj: dict) -> None:
        self.db.put(f"obj:{tenant.id}", obj["id"], obj)

    def forget_object(self, tenant: Tenant, object_id: str) -> None:
        self.db.delete(f"obj:{tenant.id}", object_id)

    def record_change(
        self, tenant: Tenant, kind: str, object_id: str, op: str, member: str | None = None
    ) -> None:
        """Append to the tenant's change feed, which is what delta queries read."""
        tenant.seq += 1
        change = {
            "seq": tenant.seq,
            "kind": kind,
            "id": object_id,
            "op": op,
            "member": member,
            "at": time.time(),
        }
        tenant.changes.append(change)
        self.db.put(f"chg:{tenant.id}", f"{tenant.seq:012d}", change)

    # -- apps and tokens -------------------------------------------------------
    def save_app(self, app: dict) -> None:
        self.apps[app["clientId"]] = app
        self.db.put("app", app["clientId"], app)

    def drop_app(self, client_id: str) -> None:
        self.apps.pop(client_id, None)
        self.db.delete("app", client_id)

    def save_token(self, key: str, data: dict) -> None:
        self.tokens[key] = data
        self.db.put("token", key, data)

    def drop_token(self, key: str) -> None:
        self.tokens.pop(key, None)
        self.db.delete("token", key)
