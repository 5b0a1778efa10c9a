"""Provisioning: make each tenant's Microsoft 365 objects equal to the directory.

Imports go one way, top to bottom:

- `reconcile` reads Microsoft back and marks drift as intent (users and groups);
- `runner` runs one tenant's sync task over the kinds, and the sweep;
- `users`, `groups`, `licences` are the kinds: each plans its rows' requests and reads
  the replies, through
- `engine`, the generic part every synced row goes through (claim, lease, send, record,
  release, retry), and `restore`, the rules for accounts deleted in Microsoft (P7);
- `plan` holds the pure planners; `intent` marks rows for sync and sends the task;
- below them all, `m365bridge.graph` talks to Microsoft.

See the glossary at the top of `m365bridge/README.md` for the words used here.
"""
