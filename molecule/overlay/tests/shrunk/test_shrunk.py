"""h2 left the overlay: its lease is gone from etcd and its entries from h1 and h3; h2 itself is reset."""

from __future__ import annotations

import ipaddress
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# pylint: disable=wrong-import-position
from overlay import DEVICE, PREFIX, address, etcd_range, host_of, subnet_env  # noqa: E402

testinfra_hosts = ["h1", "h2", "h3"]


def test_only_h1_and_h3_hold_leases() -> None:
    """The leases in etcd are h1's and h3's."""
    leases = [json.loads(value) for value in etcd_range(f"{PREFIX}/subnets/").values()]
    assert sorted(lease["PublicIP"] for lease in leases) == sorted([address("h1"), address("h3")])


def test_remaining_nodes_know_only_each_other(host) -> None:
    """On h1 and h3, flannel.1 routes to, and has neighbour and FDB entries for, the other remaining node only."""
    name = host.backend.get_hostname()
    if name == "h2":
        return
    other = "h3" if name == "h1" else "h1"
    subnet = ipaddress.ip_interface(subnet_env(host_of(other))["FLANNEL_SUBNET"]).network
    routes = json.loads(host.check_output(f"ip -j route show dev {DEVICE}"))
    assert [route["dst"] for route in routes] == [str(subnet)]
    neighbours = json.loads(host.check_output(f"ip -j neigh show dev {DEVICE} nud permanent"))
    assert [n["dst"] for n in neighbours] == [str(subnet.network_address)]
    fdb = json.loads(host.check_output(f"bridge -j fdb show dev {DEVICE}"))
    assert [entry["dst"] for entry in fdb if "dst" in entry] == [address(other)]


def test_h2_is_reset(host) -> None:
    """h2 has no VXLAN device, podman network, iptables chains, units or files of the role left."""
    if host.backend.get_hostname() != "h2":
        return
    assert host.run(f"ip link show {DEVICE}").rc != 0
    assert host.run("podman network exists flannel").rc != 0
    assert host.run("iptables -w -t nat -n -L CH-FLANNEL-POSTRTG").rc != 0
    assert host.run("iptables -w -n -L CH-FLANNEL-FWD").rc != 0
    for path in ("/etc/systemd/system/containerhost-flannel-iptables.service", "/etc/systemd/system/flanneld.service",
                 "/usr/local/bin/flanneld", "/etc/tmpfiles.d/containerhost-flannel.conf", "/run/flannel/subnet.env",
                 "/etc/containerhost/flannel", "/usr/local/libexec/containerhost/flannel-iptables"):
        assert not host.file(path).exists, path
    assert host.service("containerhost-flannel-iptables.service").systemd_properties["LoadState"] == "not-found"
