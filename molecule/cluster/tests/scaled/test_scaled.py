"""After scale.yml: h4 and h5 joined, h5 left and was reset; the writer kept writing through it all."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# pylint: disable=wrong-import-position
from cluster import RUNNER, WRITE_FAILURE_WINDOW_S, endpoint_statuses, etcdctl, longest_failure_streak, member_list  # noqa: E402

MEMBERS = RUNNER.get_hosts("etcd_shrunk")
LEFT = "h5"
testinfra_hosts = [*MEMBERS, LEFT]


def test_members_are_the_shrunk_group(host) -> None:
    """Four started voting members, named after etcd_shrunk's hosts, on every member's view."""
    if host.backend.get_hostname() == LEFT:
        return
    members = member_list(host)
    assert sorted(m["name"] for m in members) == sorted(MEMBERS)
    assert all(m["clientURLs"] and not m.get("isLearner", False) for m in members)


def test_one_leader_among_four(host) -> None:
    """Every member's status names the same leader."""
    if host.backend.get_hostname() == LEFT:
        return
    statuses = endpoint_statuses(host, MEMBERS)
    assert len(statuses) == 4
    assert len({s["Status"]["leader"] for s in statuses}) == 1


def test_the_member_that_left_is_down_and_clean(host) -> None:
    """h5 is stopped and disabled, its data, certificates and the role's configuration are gone."""
    if host.backend.get_hostname() != LEFT:
        return
    service = host.service("etcd.service")
    assert not service.is_running
    assert not service.is_enabled
    for path in ("/var/lib/etcd/containerhost", "/etc/etcd/pki", "/etc/default/etcd"):
        assert not host.file(path).exists, path


def test_writer_saw_no_failure_beyond_the_window(host) -> None:
    """The writer on h1 wrote all along; failed writes, if any, fit within one leader election."""
    if host.backend.get_hostname() != "h1":
        return
    longest, succeeded, failed = longest_failure_streak(host.file("/var/log/etcd-writer.log").content_string)
    assert succeeded > 100, (succeeded, failed)
    assert longest <= WRITE_FAILURE_WINDOW_S, (longest, succeeded, failed)
    # The writer's last value is readable through every remaining member.
    assert etcdctl(host, "get --prefix /writer --keys-only").stdout.count("/writer/") == 50
