"""Unit tests for the testbed CLI's pure parts."""

from __future__ import annotations

import json

import pytest

import testbed

MOUNTINFO = """\
22 1 252:0 / / rw,relatime - ext4 /dev/vda rw
40 22 0:35 / /proc rw - proc proc rw
90 22 0:50 / /var/cache/containerhost-testbed/vmroot-x/rootfs/proc rw - proc proc rw
91 22 0:51 / /var/cache/containerhost-testbed-other rw - tmpfs tmpfs rw
92 22 0:52 / /work/main/.testbed/mnt rw - tmpfs tmpfs rw
"""


def test_mounts_under_finds_only_mounts_below_the_roots(tmp_path):
    roots = [testbed.Path("/var/cache/containerhost-testbed"), testbed.Path("/work/main/.testbed")]
    assert testbed.mounts_under(MOUNTINFO, roots) == [
        "/var/cache/containerhost-testbed/vmroot-x/rootfs/proc",
        "/work/main/.testbed/mnt",
    ]
    assert testbed.mounts_under(MOUNTINFO, [tmp_path]) == []


def test_render_inventory_groups_hosts_by_kind():
    hosts = [
        {"name": "h1", "kind": "container", "ansible_host": "172.29.213.11", "ansible_port": 22},
        {"name": "vm1", "kind": "vm", "ansible_host": "127.0.0.1", "ansible_port": 2301},
    ]
    text = testbed.render_inventory(hosts)
    assert text.startswith("#")
    inventory = json.loads(text.split("\n", 1)[1])
    groups = inventory["all"]["children"]["testbed"]["children"]
    assert groups["testbed_containers"]["hosts"] == {
        "h1": {"ansible_host": "172.29.213.11", "ansible_port": 22, "testbed_kind": "container"}}
    assert groups["testbed_vms"]["hosts"]["vm1"]["ansible_port"] == 2301
    assert inventory["all"]["vars"]["ansible_user"] == "root"
    assert "testbed_selinux" not in groups["testbed_vms"]["hosts"]["vm1"]


def test_render_inventory_marks_selinux_vms():
    hosts = [{"name": "vm1", "kind": "vm", "ansible_host": "127.0.0.1", "ansible_port": 2301, "selinux": "enforcing"}]
    inventory = json.loads(testbed.render_inventory(hosts).split("\n", 1)[1])
    vm1 = inventory["all"]["children"]["testbed"]["children"]["testbed_vms"]["hosts"]["vm1"]
    assert vm1["testbed_selinux"] == "enforcing"


@pytest.mark.parametrize(
    ("hosts", "vms", "expected"),
    [
        (2, 0, [("container", "h1", 1), ("container", "h2", 2)]),
        (0, 1, [("vm", "vm1", 1)]),
        (1, 2, [("container", "h1", 1), ("vm", "vm1", 1), ("vm", "vm2", 2)]),
        (0, 0, []),
    ],
)
def test_wanted_names(hosts, vms, expected):
    assert testbed.wanted_names(hosts, vms) == expected
