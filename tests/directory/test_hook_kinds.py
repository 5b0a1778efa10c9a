"""A hook kind names a change bridges subscribe to; an event type names a line of the
audit log. One concept, one name: no hook kind may be spelled like an event type."""

import ast
from pathlib import Path

from directory import hooks

ROOT = Path(__file__).resolve().parents[2]
APPS = ["directory", "m365bridge", "audit", "workers", "config"]


def _hook_kinds() -> dict[str, str]:
    return {
        name: value
        for name, value in vars(hooks).items()
        if name.isupper() and name.startswith(("USER_", "GROUP_")) and isinstance(value, str)
    }


def _event_types() -> set[str]:
    """Every literal `type="..."` passed to a call in the apps (event_record, tenant_event,
    Event.objects.filter ...): the event types the code can record or look for."""
    types = set()
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if isinstance(node, ast.Call):
                    types.update(
                        keyword.value.value
                        for keyword in node.keywords
                        if keyword.arg == "type"
                        and isinstance(keyword.value, ast.Constant)
                        and isinstance(keyword.value.value, str)
                    )
    return types


def test_every_hook_kind_has_its_own_value():
    kinds = _hook_kinds()
    assert len(kinds) >= 11
    assert len(set(kinds.values())) == len(kinds)


def test_no_hook_kind_is_spelled_like_an_event_type():
    events = _event_types()
    assert "user_password_set" in events  # the walk does find the event types
    clashes = {name: value for name, value in _hook_kinds().items() if value in events}
    assert not clashes, f"hook kinds spelled like event types: {clashes}"
