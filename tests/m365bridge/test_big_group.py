"""A security group with thousands of members against graphsim (over HTTPS, the real
MSAL client): its preview is right and bounded (a fixed number of queries, no Graph
write, the first 100 members named and all counted), it binds and syncs with every
member sent exactly once (20 in the create's `members@odata.bind`, the rest as `$ref`
POSTs, 20 to a `$batch`), and a second sync sends nothing. The same scenario at 50,000
members is `bench/group_members.py` (too slow for the suite on a shared machine);
`STRATUS_BIG_GROUP_MEMBERS=50000` runs this test at that size."""

import os

import pytest

from m365bridge.models import GroupBinding
from m365bridge.sync import runner
from tests.support.big_group import (
    bind_and_sync,
    measured_preview,
    members_in_microsoft,
    seed_big_group,
)

from .conftest import unique_domain

MEMBERS = int(os.environ.get("STRATUS_BIG_GROUP_MEMBERS", "2000"))


@pytest.fixture
def big(m365, stratus_app, acme, alice, settings, monkeypatch):
    from m365bridge.sync import intent

    monkeypatch.setattr(intent, "sync_send", lambda **kwargs: None)
    monkeypatch.setattr(runner, "sync_send", lambda **kwargs: None)
    settings.M365_GRAPH_TIME_SCALE = 1000  # Microsoft's write windows, compressed
    return seed_big_group(
        control=m365.control,
        client_id=stratus_app["clientId"],
        organization=acme,
        actor=alice,
        members=MEMBERS,
        domain=unique_domain("big"),
    )


def test_a_big_group_previews_binds_and_syncs_each_member_once(big, m365):
    writes_before = m365.control.counters(big.microsoft_tenant_id)["writes"]

    preview, queries, peak, _ = measured_preview(big)

    [item] = preview.items
    assert item.action == "create" and item.changes["members"] == {"old": None, "new": MEMBERS}
    assert preview.totals == {
        "groups": 1,
        "create": 1,
        "members_added": MEMBERS,
        "members_removed": 0,
    }
    assert len(item.members_added) == 100  # named: the first 100; counted: all
    assert queries <= 8, queries  # the same at 2,000 and at 50,000 members
    assert peak < 64 * 2**20, f"the preview peaked at {peak / 2**20:.0f} MiB"
    assert m365.control.counters(big.microsoft_tenant_id)["writes"] == writes_before

    sent, _ = bind_and_sync(big)

    binding = GroupBinding.objects.get(tenant=big.tenant, group=big.group)
    assert binding.state == GroupBinding.PROVISIONED and binding.microsoft_id
    assert len(sent.at_create) == 20
    assert len(sent.refs) == MEMBERS - 20
    assert len(set(sent.refs + sent.at_create)) == MEMBERS  # each member exactly once
    assert set(sent.refs + sent.at_create) == big.member_ids
    assert sent.other_writes == []
    assert len(binding.known_members) == MEMBERS
    assert members_in_microsoft(big, binding.microsoft_id) == MEMBERS

    again, _ = bind_and_sync(big)
    assert again.create is None and again.refs == [] and again.other_writes == []
