"""Provisioning: make each tenant's Microsoft 365 accounts equal to the directory.

- `intent` records, inside the directory's own transaction, that a binding must be
  synced (durable intent in PostgreSQL) and sends a task after commit;
- `plan` compares one binding's desired state (the current user row) with what
  Microsoft was last told and says which single write would close the gap;
- `apply` claims dirty bindings of one tenant, sends their writes through `$batch`
  within the tenant's write budget, and records each outcome with its event in one
  transaction per binding.
"""
