"""After repair.yml: h4's member was replaced, and the change made while h2 was down reached every member."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# pylint: disable=wrong-import-position
from cluster import RUNNER, endpoint_statuses, etcd_environment, etcdctl, member_list  # noqa: E402

MEMBERS = RUNNER.get_hosts("etcd_shrunk")
testinfra_hosts = MEMBERS


def test_running_etcd_loaded_the_change(host) -> None:
    """Each member's file and its running process carry the snapshot count of the last run."""
    assert 'ETCD_SNAPSHOT_COUNT="6000"' in host.file("/etc/default/etcd").content_string
    assert etcd_environment(host)["ETCD_SNAPSHOT_COUNT"] == "6000"


def test_four_healthy_members_one_leader(host) -> None:
    """The member list is the group again and every endpoint answers with the same leader."""
    assert sorted(m["name"] for m in member_list(host)) == sorted(MEMBERS)
    statuses = endpoint_statuses(host, MEMBERS)
    assert len({s["Status"]["leader"] for s in statuses}) == 1


def test_lost_member_was_replaced(host) -> None:
    """h4 is a member under a new ID: the old one, whose data was lost, was removed."""
    if host.backend.get_hostname() != "h4":
        return
    old_id = int(host.file("/root/etcd-lost-member-id").content_string)
    ids = {m["name"]: m["ID"] for m in member_list(host)}
    assert ids["h4"] != old_id
    assert old_id not in ids.values()


def test_write_made_without_h2_is_kept(host) -> None:
    """The write made while h2 was down is on every member."""
    result = etcdctl(host, "get --print-value-only --consistency=s /repair/quorum")
    assert result.rc == 0 and result.stdout.strip() == "kept"
