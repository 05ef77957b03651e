# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for daemonless flannel leases: etcdctl output with TTL information, node checks, allocation that never
touches flanneld's own leases, and the lease format."""

from __future__ import annotations

import json
import re
import typing as t

from pathlib import Path

import pytest

from ansible_collections.containerhost.platform.plugins.module_utils import _flannel as fl
from ansible_collections.containerhost.platform.plugins.module_utils import _flannel_lease as fll
from ansible_collections.containerhost.platform.plugins.module_utils import _vxlan as vx

FIXTURES = Path(__file__).parent / "fixtures"
PREFIX = "/coreos.com/network"
SUBNETS = f"{PREFIX}/subnets"
CONFIG = '{"Network":"10.5.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan","VNI":1}}'
H1, H2, H3 = "172.29.219.11", "172.29.219.12", "172.29.219.13"
NODES = [fll.Node("h1", H1), fll.Node("h2", H2), fll.Node("h3", H3)]


def fixture(name: str) -> str:
    """Captured etcdctl 3.4.23 output (flannel_lease/) or flannel's documented samples (flannel/)."""
    return (FIXTURES / name).read_text()


def network(text: str = CONFIG) -> tuple[dict[str, t.Any], fl.NetworkConfig]:
    """A stored configuration as plan_leases takes it."""
    return fll.network_of(text, f"{PREFIX}/config")


def plan(nodes: list[fll.Node] | None = None, stored: dict[str, fll.StoredLease] | None = None, config: str = CONFIG,
         purge: bool = True) -> fll.LeasePlan:
    """plan_leases with the default prefix (all three nodes unless given)."""
    decoded, layout = network(config)
    return fll.plan_leases(decoded, layout, NODES if nodes is None else nodes, stored or {}, PREFIX, purge)


def reservation(subnet: str, ip: str, mac: str | None = None, kind: str = "vxlan") -> fll.StoredLease:
    """A stored reservation as flanneld's format has it."""
    key = f"{SUBNETS}/{subnet}"
    return fll.StoredLease(key, fl.render_lease(ip, kind, mac or (vx.vtep_mac_for(ip) if kind == "vxlan" else None)))


def daemon_lease(subnet: str, ip: str, mac: str = "c6:d2:32:6f:8f:44") -> fll.StoredLease:
    """A lease a running flanneld holds (an etcd lease attached)."""
    key = f"{SUBNETS}/{subnet}"
    return fll.StoredLease(key, fl.render_lease(ip, "vxlan", mac), ttl=True, lease_id=7668682643680216327)


def stored_of(*leases: fll.StoredLease) -> dict[str, fll.StoredLease]:
    """Leases by key."""
    return {lease.key: lease for lease in leases}


def applied(stored: dict[str, fll.StoredLease], result: fll.LeasePlan) -> dict[str, fll.StoredLease]:
    """The leases after a plan ran."""
    return fll.after_state(stored, result)


# --- etcdctl output ----------------------------------------------------------------------------------------------

def test_v3_range_tells_flanneld_leases_from_reservations():
    found = fll.parse_v3_range(fixture("flannel_lease/v3-subnets-lease-and-reservation.json"))
    assert found == {
        "/x/network/subnets/10.5.1.0-24": fll.StoredLease(
            "/x/network/subnets/10.5.1.0-24",
            '{"PublicIP":"172.29.219.11","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,'
            '"VtepMAC":"0e:fc:ac:1d:db:0b"}}'),
        "/x/network/subnets/10.5.52.0-24": fll.StoredLease(
            "/x/network/subnets/10.5.52.0-24", fixture("flannel/doc-lease-vxlan.json"), ttl=True,
            lease_id=7668682643680216388),
    }
    assert fll.parse_v3_range(fixture("flannel_lease/v3-subnets-empty.json")) == {}
    with pytest.raises(fl.FlannelError, match="could not read the JSON etcdctl printed"):
        fll.parse_v3_range("Error: context deadline exceeded")


def test_v2_listing_tells_ttl_keys_from_reservations():
    found = fll.parse_v2_dir(fixture("flannel_lease/v2-ls-subnets.json"))
    assert {key: (lease.ttl, json.loads(lease.value)["PublicIP"]) for key, lease in found.items()} == {
        "/x/network/subnets/10.5.52.0-24": (True, "192.168.64.3"),
        "/x/network/subnets/10.5.1.0-24": (False, "172.29.219.11"),
    }
    nested = {"node": {"key": "/a", "dir": True, "nodes": [{"key": "/a/b", "dir": True, "nodes": [
        {"key": "/a/b/c", "value": "v"}]}]}}
    assert fll.parse_v2_dir(json.dumps(nested)) == {"/a/b/c": fll.StoredLease("/a/b/c", "v")}
    with pytest.raises(fl.FlannelError, match=r"etcdctl \(v2\) printed"):
        fll.parse_v2_dir("Error:  100: Key not found")


def test_only_lease_keys_under_the_prefix_count():
    stored = stored_of(fll.StoredLease(f"{PREFIX}/config", CONFIG), reservation("10.5.1.0-24", H1),
                       fll.StoredLease(f"{SUBNETS}/notes", "x"), fll.StoredLease(f"{SUBNETS}/10.5.2.0-24/x", "x"),
                       fll.StoredLease("/other/network/subnets/10.5.3.0-24", "x"))
    assert list(fll.lease_records(stored, PREFIX)) == [f"{SUBNETS}/10.5.1.0-24"]


@pytest.mark.parametrize(("prefix", "subnets", "read"), [
    ("/coreos.com/network", "/coreos.com/network/subnets/", "/coreos.com/network/"),
    ("/cluster-a/network/", "/cluster-a/network/subnets/", "/cluster-a/network/"),
    ("/", "/subnets/", "/"),
])
def test_prefixes(prefix, subnets, read):
    assert fll.subnets_prefix(prefix) == subnets and fll.read_prefix(prefix) == read


# --- nodes and configuration -------------------------------------------------------------------------------------

def test_nodes_from_params():
    nodes, problems = fll.nodes_from_params([{"name": "h1", "public_ip": H1, "vtep_mac": "0E-00-00-00-00-01"},
                                             {"name": "h2", "public_ip": H2, "vtep_mac": None}])
    assert problems == []
    assert nodes == [fll.Node("h1", H1, "0e:00:00:00:00:01"), fll.Node("h2", H2)]
    assert nodes[1].mac == "0e:fc:ac:1d:db:0c"


def test_nodes_problems_are_all_reported():
    dummy, problems = fll.nodes_from_params([
        {"name": "", "public_ip": H1}, {"name": "a", "public_ip": "fd00::1"}, {"name": "b", "public_ip": H2},
        {"name": "b", "public_ip": H3}, {"name": "c", "public_ip": H3},
        {"name": "d", "public_ip": "10.0.0.4", "vtep_mac": "0e:fc:ac:1d:db:0c"},
        {"name": "e", "public_ip": "10.0.0.5", "vtep_mac": "nope"}])
    assert problems == [
        "nodes[0].name: missing; accepted: the node's inventory name",
        "nodes[1].public_ip: 'fd00::1' is not an IPv4 address; accepted: the node's public IPv4 address (flanneld's "
        "--public-ip)",
        "nodes: b and b have the same name b; each node needs its own",
        f"nodes: b and c have the same public_ip {H3}; each node needs its own",
        # c's MAC derives from the duplicated IP: not reported twice. d's is given and equals b's derived one.
        "nodes: b and d have the same vtep_mac 0e:fc:ac:1d:db:0c; each node needs its own",
        "nodes[6].vtep_mac: 'nope' is not a MAC address; accepted: six hex pairs such as 0e:fc:0a:00:00:01",
    ]


@pytest.mark.parametrize(("text", "message"), [
    (None, "/coreos.com/network/config does not exist: the overlay has no network configuration; write it with "
           "containerhost.platform.flannel_network first"),
    ("{", "holds a configuration flanneld refuses .*write it with containerhost.platform.flannel_network first"),
    ('{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00:42::/56"}', "has no IPv4 network"),
    ('{"Network":"10.5.0.0/16","Backend":{"Type":"wireguard"}}', "uses backend 'wireguard'; accepted: vxlan"),
])
def test_network_of_refuses(text, message):
    with pytest.raises(fl.FlannelError, match=message):
        fll.network_of(text, f"{PREFIX}/config")


def test_network_of_fills_flanneld_defaults():
    decoded, config = network('{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan","VNI":4097}}')
    assert decoded["Backend"] == {"Type": "vxlan", "VNI": 4097, "Port": 8472, "GBP": False, "Learning": False,
                                  "DirectRouting": False}
    assert (config.network, config.subnet_len, config.subnet_min, config.subnet_max) == (
        "10.5.0.0/16", 24, "10.5.1.0", "10.5.255.0")


# --- planning ----------------------------------------------------------------------------------------------------

DOC_SHAPE = re.compile(r'^\{"PublicIP":"[\d.]+","PublicIPv6":null,"BackendType":"vxlan",'
                       r'"BackendData":\{"VNI":\d+,"VtepMAC":"[0-9a-f:]{17}"\}\}$')


def test_fresh_nodes_get_reservations_in_flanneld_format():
    result = plan()
    assert result.deletes == [] and result.updated == []
    assert result.added == [f"{SUBNETS}/10.5.1.0-24", f"{SUBNETS}/10.5.2.0-24", f"{SUBNETS}/10.5.3.0-24"]
    assert result.writes[f"{SUBNETS}/10.5.2.0-24"] == (
        '{"PublicIP":"172.29.219.12","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,'
        '"VtepMAC":"0e:fc:ac:1d:db:0c"}}')
    # Every value has exactly the shape of the lease in flannel's Documentation/reservations.md.
    assert DOC_SHAPE.match(fixture("flannel/doc-lease-vxlan.json"))
    assert all(DOC_SHAPE.match(value) for value in result.writes.values())
    assert result.leases["h3"] == {"name": "h3", "key": f"{SUBNETS}/10.5.3.0-24", "subnet": "10.5.3.0/24",
                                   "gateway": "10.5.3.0", "public_ip": H3, "vtep_mac": "0e:fc:ac:1d:db:0d",
                                   "backend": "vxlan", "reservation": True}
    assert [peer["name"] for peer in result.peers] == ["h1", "h2", "h3"]


def test_second_run_changes_nothing():
    first = plan()
    again = plan(stored=applied({}, first))
    assert not again.changed and again.added == [] and again.deletes == []
    assert again.leases == first.leases and again.peers == first.peers


def test_a_removed_node_loses_its_reservation_and_a_new_one_does_not_take_the_subnet():
    stored = applied({}, plan())
    result = plan(nodes=[NODES[0], NODES[2], fll.Node("h4", "172.29.219.14")], stored=stored)
    assert result.deletes == [f"{SUBNETS}/10.5.2.0-24"]
    assert result.added == [f"{SUBNETS}/10.5.4.0-24"]
    assert [peer["name"] for peer in result.peers] == ["h1", "h3", "h4"]


def test_purge_off_keeps_reservations_of_unlisted_nodes_as_peers():
    stored = applied({}, plan())
    result = plan(nodes=[NODES[0]], stored=stored, purge=False)
    assert not result.changed
    assert [(peer["name"], peer["public_ip"]) for peer in result.peers] == [("h1", H1), (None, H2), (None, H3)]


def test_flanneld_leases_are_never_touched_and_their_subnets_never_reused():
    stored = stored_of(daemon_lease("10.5.1.0-24", "172.29.219.99"), reservation("10.5.7.0-24", "172.29.219.98"))
    result = plan(stored=stored)
    assert result.deletes == [f"{SUBNETS}/10.5.7.0-24"]
    assert f"{SUBNETS}/10.5.1.0-24" not in result.writes
    assert sorted(info["subnet"] for info in result.leases.values()) == ["10.5.2.0/24", "10.5.3.0/24", "10.5.4.0/24"]
    foreign = result.peers[0]
    assert foreign == {"name": None, "key": f"{SUBNETS}/10.5.1.0-24", "subnet": "10.5.1.0/24", "gateway": "10.5.1.0",
                       "public_ip": "172.29.219.99", "vtep_mac": "c6:d2:32:6f:8f:44", "backend": "vxlan",
                       "reservation": False}


def test_a_node_flanneld_serves_keeps_its_lease_as_it_is():
    stored = stored_of(daemon_lease("10.5.9.0-24", H2, "aa:bb:cc:dd:ee:ff"))
    result = plan(stored=stored)
    assert f"{SUBNETS}/10.5.9.0-24" not in result.writes and result.deletes == []
    assert result.leases["h2"]["vtep_mac"] == "aa:bb:cc:dd:ee:ff" and result.leases["h2"]["reservation"] is False
    assert result.leases["h1"]["subnet"] == "10.5.1.0/24" and result.leases["h3"]["subnet"] == "10.5.2.0/24"


def test_a_protected_subnet_is_not_handed_out_when_space_is_short():
    small = '{"Network":"10.5.0.0/22","SubnetLen":24,"Backend":{"Type":"vxlan"}}'  # subnets .1, .2, .3
    stored = stored_of(reservation("10.5.1.0-24", "172.29.219.97"), daemon_lease("10.5.2.0-24", "172.29.219.98"),
                       reservation("10.5.3.0-24", H1))
    # 10.5.1.0 is released by purging and goes to h2; 10.5.2.0 stays with its flanneld.
    result = plan(nodes=NODES[:2], stored=stored, config=small)
    assert result.deletes == [f"{SUBNETS}/10.5.1.0-24"] and result.added == [f"{SUBNETS}/10.5.1.0-24"]
    assert result.leases["h2"]["subnet"] == "10.5.1.0/24"
    with pytest.raises(fl.FlannelError, match="nodes: .* do not fit"):
        plan(nodes=NODES[:2], stored=stored, config=small, purge=False)


def test_a_protected_subnet_chosen_by_the_allocator_is_replaced():
    small = '{"Network":"10.5.0.0/22","SubnetLen":24,"Backend":{"Type":"vxlan"}}'
    stored = stored_of(daemon_lease("10.5.1.0-24", "172.29.219.98"), reservation("10.5.2.0-24", "172.29.219.97"))
    # allocate_subnets sees 10.5.1.0 and 10.5.2.0 as released and reuses the lowest; the flanneld one stays taken.
    result = plan(nodes=[NODES[0], NODES[1]], stored=stored, config=small)
    assert result.deletes == [f"{SUBNETS}/10.5.2.0-24"]
    assert sorted(info["subnet"] for info in result.leases.values()) == ["10.5.2.0/24", "10.5.3.0/24"]


def test_changed_mac_or_vni_rewrites_the_reservation_formatting_does_not():
    stored = applied({}, plan())
    result = plan(nodes=[fll.Node("h1", H1, "0e:00:00:00:00:01"), *NODES[1:]], stored=stored)
    assert result.updated == [f"{SUBNETS}/10.5.1.0-24"] and result.added == []
    assert json.loads(result.writes[f"{SUBNETS}/10.5.1.0-24"])["BackendData"]["VtepMAC"] == "0e:00:00:00:00:01"
    vni2 = plan(stored=stored, config='{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan","VNI":2}}')
    assert len(vni2.updated) == 3
    loose = dict(stored)
    key = f"{SUBNETS}/10.5.1.0-24"
    loose[key] = fll.StoredLease(key, '{"publicip": "172.29.219.11", "BackendType": "vxlan", '
                                      '"BackendData": {"VtepMAC": "0E:FC:AC:1D:DB:0B", "VNI": 1}}')
    assert not plan(stored=loose).changed


def test_host_gw_leases_carry_no_backend_data():
    result = plan(config='{"Network":"10.5.0.0/16","Backend":{"Type":"host-gw"}}')
    assert result.writes[f"{SUBNETS}/10.5.1.0-24"] == '{"PublicIP":"172.29.219.11","PublicIPv6":null,"BackendType":"host-gw"}'
    assert result.leases["h1"]["vtep_mac"] is None and result.leases["h1"]["backend"] == "host-gw"


def test_absent_deletes_only_reservations_of_the_listed_nodes():
    stored = stored_of(reservation("10.5.1.0-24", H1), daemon_lease("10.5.2.0-24", H2), reservation("10.5.3.0-24", H3))
    result = fll.plan_absent(NODES[:2], stored)
    assert result.deletes == [f"{SUBNETS}/10.5.1.0-24"] and result.writes == {}
    assert [peer["public_ip"] for peer in result.peers] == [H2, H3]


def test_diff_text():
    stored = stored_of(daemon_lease("10.5.12.0-24", "172.29.219.99"), reservation("10.5.2.0-24", H2))
    assert fll.render_state(stored) == (
        f"{SUBNETS}/10.5.2.0-24 {stored[f'{SUBNETS}/10.5.2.0-24'].value}\n"
        f"{SUBNETS}/10.5.12.0-24 {stored[f'{SUBNETS}/10.5.12.0-24'].value}  # TTL: held by flanneld\n")
    result = plan(nodes=NODES[:1], stored=stored)
    assert list(fll.after_state(stored, result)) == [f"{SUBNETS}/10.5.12.0-24", f"{SUBNETS}/10.5.1.0-24"]
