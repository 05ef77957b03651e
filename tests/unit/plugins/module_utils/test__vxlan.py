# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for flannel's vxlan data plane: parsing iproute2's JSON (captured on a testbed host), desired state,
plans and diff summaries."""

from __future__ import annotations

import ipaddress
import typing as t

from pathlib import Path

import pytest

from ansible_collections.containerhost.platform.plugins.module_utils import _vxlan as vx

FIXTURES = Path(__file__).parent / "fixtures" / "vxlan"
H1, H2, H3 = "172.29.219.11", "172.29.219.12", "172.29.219.13"
MAC1, MAC2, MAC3 = "0e:fc:ac:1d:db:0b", "0e:fc:ac:1d:db:0c", "0e:fc:ac:1d:db:0d"
PEERS = [{"name": "h2", "subnet": "10.5.2.0/24", "public_ip": H2},
         {"name": "h3", "subnet": "10.5.3.0/24", "public_ip": H3}]
FORWARDING = {"ipv4/ip_forward": "1", "ipv6/conf/flannel.1/accept_ra": "0", "ipv6/conf/default/accept_ra": "1"}


def fixture(name: str) -> str:
    """Captured output of ip/bridge on testbed host h1 (iproute2 6.1, Debian 12)."""
    return (FIXTURES / name).read_text()


def links(name: str = "addr-two-peers.json") -> list[dict[str, t.Any]]:
    """The links of a captured ``ip -j -d addr show``."""
    return vx.parse_links(fixture(name))


def base_links() -> list[dict[str, t.Any]]:
    """h1's links without the overlay device (lo and eth0)."""
    return [link for link in links() if link["ifname"] != "flannel.1"]


def params(**overrides: t.Any) -> dict[str, t.Any]:
    """Module parameters for h1 with h2 and h3 as peers."""
    return {"device": None, "vni": 1, "port": 8472, "local_ip": H1, "underlay_dev": None, "vtep_mac": None,
            "mtu": None, "subnet": "10.5.1.0/24", "peers": PEERS, "ip_forward": True, **overrides}


def captured_state(routes: str = "route-two-peers.json", neigh: str = "neigh-two-peers.json",
                   fdb: str = "fdb-two-peers.json", sysctls: dict[str, str | None] | None = None) -> vx.NetState:
    """h1's state as captured after the overlay was programmed for h2 and h3."""
    link = vx.find_link(links(), "flannel.1")
    assert link is not None
    return vx.NetState(device=vx.device_from_link(link), kind=vx.link_kind(link), routes=vx.parse_routes(fixture(routes)),
                       neighbours=vx.parse_neighbours(fixture(neigh)), fdb=vx.parse_fdb(fixture(fdb)),
                       sysctls=dict(FORWARDING if sysctls is None else sysctls))


def argvs(ops: list[vx.Op]) -> list[str]:
    """The plan's commands as text."""
    return [" ".join(op.argv) for op in ops]


# --- MACs -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("address", "mac"), [
    (H1, MAC1), ("10.0.0.11", "0e:fc:0a:00:00:0b"), ("255.255.255.255", "0e:fc:ff:ff:ff:ff"), ("0.0.0.0", "0e:fc:00:00:00:00"),
])
def test_vtep_mac_for_is_locally_administered_unicast_from_the_ip(address, mac):
    assert vx.vtep_mac_for(address) == mac
    first = int(mac[:2], 16)
    assert first & 0b10 and not first & 0b01


def test_vtep_mac_for_refuses_ipv6():
    with pytest.raises(vx.VxlanError, match="public_ip: 'fd00::1' is not an IPv4 address"):
        vx.vtep_mac_for("fd00::1")


@pytest.mark.parametrize(("text", "result"), [("0E-FC-AC-1D-DB-0B", MAC1), ("0e:fc:ac:1d:db:0b", MAC1)])
def test_normalize_mac(text, result):
    assert vx.normalize_mac(text, "vtep_mac") == result


@pytest.mark.parametrize(("text", "message"), [
    ("01:00:5e:00:00:01", "vtep_mac: 01:00:5e:00:00:01 is a multicast MAC address"),
    ("0e:fc:ac:1d:db", "is not a MAC address; accepted: six hex pairs"),
    (None, "vtep_mac: None is not a MAC address"),
])
def test_normalize_mac_refuses(text, message):
    with pytest.raises(vx.VxlanError, match=message):
        vx.normalize_mac(text, "vtep_mac")


# --- parsing captured output --------------------------------------------------------------------------------

def test_device_from_the_captured_vxlan_link():
    link = vx.find_link(links(), "flannel.1")
    assert link is not None and vx.link_kind(link) == "vxlan"
    assert vx.device_from_link(link) == vx.Device(
        name="flannel.1", vni=1, port=8472, local_ip=H1, underlay="eth0", mac=MAC1, mtu=1450, up=True,
        addresses=("10.5.1.0/32",), learning=False, gbp=False)


def test_underlay_is_the_link_holding_the_address():
    underlay = vx.underlay_of(links(), H1)
    assert underlay is not None and underlay["ifname"] == "eth0" and underlay["mtu"] == 1500
    assert vx.underlay_of(links(), "10.5.1.0") is not None  # the overlay's own /32
    assert vx.underlay_of(links(), H2) is None


def test_other_captured_links():
    gbp = vx.device_from_link(links("addr-gbp-learning.json")[0])
    assert (gbp.vni, gbp.port, gbp.learning, gbp.gbp, gbp.up, gbp.mtu, gbp.addresses) == (2, 4789, True, True, False,
                                                                                          1400, ())
    bare = vx.device_from_link(links("addr-no-local.json")[0])
    assert bare.local_ip is None and bare.underlay is None and bare.learning is True
    bridge = links("addr-bridge.json")[0]
    assert vx.link_kind(bridge) == "bridge" and vx.device_from_link(bridge).vni is None


def test_routes_neighbours_fdb_from_captured_output():
    assert vx.parse_routes(fixture("route-extra.json")) == [
        vx.Route("10.5.2.0/24", "10.5.2.0", True), vx.Route("10.5.3.0/24", "10.5.3.0", True),
        vx.Route("10.5.9.0/24", "10.5.9.0", True), vx.Route("10.6.0.0/16", None, False)]
    neighbours = vx.parse_neighbours(fixture("neigh-extra.json"))
    assert [(n.dst, n.lladdr, n.permanent) for n in neighbours] == [
        ("10.5.3.0", MAC3, True), ("10.5.2.0", MAC2, True), ("10.5.7.0", "0e:fc:00:00:00:07", False)]
    assert vx.parse_fdb(fixture("fdb-extra.json")) == [
        vx.FdbEntry("00:00:00:00:00:00", "172.29.219.99", True, "permanent"),
        vx.FdbEntry(MAC3, H3, True, "permanent"), vx.FdbEntry(MAC2, H2, True, "permanent")]


def test_empty_and_bad_output():
    assert vx.parse_routes("") == [] and vx.parse_routes("[]\n") == []
    with pytest.raises(vx.VxlanError, match="could not read the JSON ip -j route show printed"):
        vx.parse_routes("Cannot find device")
    with pytest.raises(vx.VxlanError, match="printed dict, not a JSON array"):
        vx.parse_fdb("{}")


# --- desired state ------------------------------------------------------------------------------------------

def test_desired_overlay_defaults_like_flanneld():
    overlay, skipped = vx.desired_overlay(params(), base_links())
    assert skipped == []
    assert overlay.device == vx.Device(name="flannel.1", vni=1, port=8472, local_ip=H1, underlay="eth0", mac=MAC1,
                                       mtu=1450, up=True, addresses=("10.5.1.0/32",))
    assert [(str(p.subnet), str(p.gateway), str(p.public_ip), p.vtep_mac) for p in overlay.peers] == [
        ("10.5.2.0/24", "10.5.2.0", H2, MAC2), ("10.5.3.0/24", "10.5.3.0", H3, MAC3)]


def test_own_entry_is_dropped_and_other_backends_skipped():
    entries = [{"name": "h3", "subnet": "10.5.3.0/24", "public_ip": H3, "backend": "vxlan", "key": "/x", "gateway": "x"},
               {"name": "h1", "subnet": "10.5.1.0/24", "public_ip": H1, "vtep_mac": MAC1},
               {"name": "gw", "subnet": "10.5.8.0/24", "public_ip": "172.29.219.18", "backend": "host-gw"}]
    overlay, skipped = vx.desired_overlay(params(peers=entries, device="vx0", mtu=1400, vtep_mac="0E:00:00:00:00:01"),
                                          base_links())
    assert [p.name for p in overlay.peers] == ["h3"]
    assert skipped == [{"name": "gw", "subnet": "10.5.8.0/24", "backend": "host-gw"}]
    assert (overlay.device.name, overlay.device.mtu, overlay.device.mac) == ("vx0", 1400, "0e:00:00:00:00:01")


@pytest.mark.parametrize(("overrides", "message"), [
    ({"vni": 1 << 24}, "vni: 16777216 is out of range; accepted: 0 to 16777215"),
    ({"vni": 12345678}, "device: 'flannel.12345678' is not a usable interface name"),
    ({"port": 70000}, "port: 70000 is out of range"),
    ({"local_ip": H2}, f"local_ip: {H2} is not an address of any interface on this host"),
    ({"local_ip": "fd00::1"}, "local_ip: 'fd00::1' is not an IPv4 address"),
    ({"subnet": "10.5.1.1/24"}, "subnet: '10.5.1.1/24' is not an IPv4 subnet with its host bits clear"),
    ({"mtu": 1451}, "mtu: 1451 does not fit: eth0 has MTU 1500, less 50 bytes of VXLAN headers leaves 1450"),
    ({"underlay_dev": "eth9"}, "underlay_dev: eth9 does not exist on this host"),
    ({"vtep_mac": "ff:ff:ff:ff:ff:ff"}, "vtep_mac: ff:ff:ff:ff:ff:ff is a multicast MAC address"),
    ({"peers": [{"subnet": "10.5.2.0/24"}]}, r"peers\[0\].public_ip: missing"),
    ({"peers": [{"subnet": "10.5.1.0/25", "public_ip": H2}]}, "h2|overlaps this node's subnet 10.5.1.0/24"),
    ({"peers": [*PEERS, {"subnet": "10.5.2.0/24", "public_ip": "172.29.219.14"}]},
     "h2 \\(10.5.2.0/24\\) and 172.29.219.14 \\(10.5.2.0/24\\) have the same subnet"),
    ({"peers": [*PEERS, {"subnet": "10.5.0.0/16", "public_ip": "172.29.219.14"}]}, "overlap"),
    ({"peers": [*PEERS, {"subnet": "10.5.4.0/24", "public_ip": H2}]}, f"have the same public_ip {H2}"),
    ({"peers": [*PEERS, {"subnet": "10.5.4.0/24", "public_ip": "172.29.219.14", "vtep_mac": MAC3}]},
     f"have the same vtep_mac {MAC3}"),
    ({"peers": [{"subnet": "10.5.4.0/24", "public_ip": "172.29.219.14", "vtep_mac": MAC1}]},
     "is this node's own vtep_mac"),
    ({"peers": [{"subnet": "10.5.9.0/24", "public_ip": H1}]},
     "this node's own entry \\(public_ip 172.29.219.11\\) has subnet 10.5.9.0/24 but subnet is 10.5.1.0/24"),
    ({"peers": ["h2"]}, r"peers\[0\]: 'h2' is not a dict"),
])
def test_desired_overlay_refuses_bad_input(overrides, message):
    with pytest.raises(vx.VxlanError, match=message):
        vx.desired_overlay(params(**overrides), base_links())


def test_longest_default_name_and_default_port():
    overlay, dummy = vx.desired_overlay(params(vni=1234567, port=None), base_links())
    assert overlay.device.name == "flannel.1234567" and overlay.device.port == 8472


def test_the_device_cannot_be_its_own_underlay():
    with pytest.raises(vx.VxlanError, match="underlay_dev: flannel.1 is the overlay device itself"):
        vx.desired_overlay(params(underlay_dev="flannel.1"), links())


def test_every_problem_is_reported_at_once():
    with pytest.raises(vx.VxlanError) as exc_info:
        vx.desired_overlay(params(vni=-1, port=70000, local_ip="x", subnet="nope"), base_links())
    text = str(exc_info.value)
    for part in ("vni: -1", "port: 70000", "local_ip: 'x'", "subnet: 'nope'"):
        assert part in text


# --- plans --------------------------------------------------------------------------------------------------

def test_plan_on_a_bare_node_is_what_flanneld_programs():
    overlay, dummy = vx.desired_overlay(params(), base_links())
    sysctls = {"ipv4/ip_forward": "0", "ipv6/conf/default/accept_ra": "1", "ipv6/conf/flannel.1/accept_ra": None}
    ops, recreated = vx.plan(overlay, vx.NetState(sysctls=sysctls))
    assert recreated == []
    assert argvs(ops) == [
        f"ip link add flannel.1 address {MAC1} mtu 1450 type vxlan id 1 local {H1} dev eth0 dstport 8472 nolearning",
        "ip addr add 10.5.1.0/32 dev flannel.1",
        "ip link set dev flannel.1 up",
        "sysctl -w net.ipv6.conf.flannel/1.accept_ra=0",
        f"ip neigh replace 10.5.2.0 lladdr {MAC2} dev flannel.1 nud permanent",
        f"bridge fdb replace {MAC2} dev flannel.1 dst {H2} self permanent",
        "ip route replace 10.5.2.0/24 via 10.5.2.0 dev flannel.1 onlink",
        f"ip neigh replace 10.5.3.0 lladdr {MAC3} dev flannel.1 nud permanent",
        f"bridge fdb replace {MAC3} dev flannel.1 dst {H3} self permanent",
        "ip route replace 10.5.3.0/24 via 10.5.3.0 dev flannel.1 onlink",
        "sysctl -w net.ipv4.ip_forward=1",
    ]


def test_captured_state_after_programming_needs_nothing():
    overlay, dummy = vx.desired_overlay(params(), links())
    current = captured_state()
    assert vx.plan(overlay, current) == ([], [])
    assert vx.current_summary(current) == vx.desired_summary(overlay, "1")


def test_a_removed_peer_loses_its_route_neighbour_and_fdb_entry():
    overlay, dummy = vx.desired_overlay(params(peers=PEERS[1:]), links())
    ops, dummy = vx.plan(overlay, captured_state())
    assert argvs(ops) == ["ip route del 10.5.2.0/24 dev flannel.1", "ip neigh del 10.5.2.0 dev flannel.1",
                          f"bridge fdb del {MAC2} dev flannel.1 dst {H2} self"]


def test_stale_entries_go_learnt_neighbours_stay():
    overlay, dummy = vx.desired_overlay(params(), links())
    ops, dummy = vx.plan(overlay, captured_state("route-extra.json", "neigh-extra.json", "fdb-extra.json"))
    assert argvs(ops) == ["ip route del 10.5.9.0/24 dev flannel.1", "ip route del 10.6.0.0/16 dev flannel.1",
                          "bridge fdb del 00:00:00:00:00:00 dev flannel.1 dst 172.29.219.99 self"]


def test_a_peer_with_a_new_mac_and_address():
    peers = [{"name": "h2", "subnet": "10.5.2.0/24", "public_ip": "172.29.219.22", "vtep_mac": "0e:00:00:00:00:22"},
             PEERS[1]]
    overlay, dummy = vx.desired_overlay(params(peers=peers), links())
    ops, dummy = vx.plan(overlay, captured_state())
    assert argvs(ops) == [
        f"bridge fdb del {MAC2} dev flannel.1 dst {H2} self",
        "ip neigh replace 10.5.2.0 lladdr 0e:00:00:00:00:22 dev flannel.1 nud permanent",
        "bridge fdb replace 0e:00:00:00:00:22 dev flannel.1 dst 172.29.219.22 self permanent",
    ]


def test_a_moved_subnet_replaces_address_and_entries():
    peers = [{"name": "h2", "subnet": "10.5.12.0/24", "public_ip": H2}, PEERS[1]]
    overlay, dummy = vx.desired_overlay(params(subnet="10.5.11.0/24", peers=peers), links())
    ops, dummy = vx.plan(overlay, captured_state())
    assert argvs(ops) == [
        "ip addr del 10.5.1.0/32 dev flannel.1", "ip addr add 10.5.11.0/32 dev flannel.1",
        "ip route del 10.5.2.0/24 dev flannel.1", "ip neigh del 10.5.2.0 dev flannel.1",
        f"ip neigh replace 10.5.12.0 lladdr {MAC2} dev flannel.1 nud permanent",
        "ip route replace 10.5.12.0/24 via 10.5.12.0 dev flannel.1 onlink",
    ]


def test_mac_and_mtu_change_in_place():
    overlay, dummy = vx.desired_overlay(params(vtep_mac="0e:00:00:00:00:01", mtu=1400), links())
    ops, recreated = vx.plan(overlay, captured_state())
    assert recreated == []
    assert argvs(ops) == ["ip link set dev flannel.1 address 0e:00:00:00:00:01", "ip link set dev flannel.1 mtu 1400"]


@pytest.mark.parametrize(("overrides", "reasons"), [
    ({"vni": 2, "device": "flannel.1"}, ["vni 1 -> 2"]),
    ({"port": 4789}, ["port 8472 -> 4789"]),
    ({"underlay_dev": "lo", "mtu": 1450}, ["underlay eth0 -> lo"]),
])
def test_what_ip_link_set_cannot_change_recreates_the_device(overrides, reasons):
    overlay, dummy = vx.desired_overlay(params(**overrides), links())
    ops, recreated = vx.plan(overlay, captured_state())
    assert recreated == reasons
    device = overlay.device
    assert argvs(ops)[:2] == ["ip link del dev flannel.1", f"ip link add flannel.1 address {MAC1} mtu 1450 type vxlan "
                              f"id {device.vni} local {H1} dev {device.underlay} dstport {device.port} nolearning"]
    # A new device starts empty: every peer is programmed again, no stale entry is deleted one by one.
    assert len([op for op in ops if op.argv[:3] in (("ip", "route", "replace"), ("ip", "neigh", "replace"))]) == 4
    assert not [op for op in ops if op.argv[2] == "del" and op.argv[1] != "link"]


@pytest.mark.parametrize(("name", "reasons"), [
    ("addr-gbp-learning.json", ["vni 2 -> 1", "port 4789 -> 8472", "learning True -> False", "gbp True -> False"]),
    ("addr-no-local.json", [f"local_ip None -> {H1}", "underlay None -> eth0", "learning True -> False"]),
    ("addr-bridge.json", ["flannel.1 is a bridge link, not vxlan"]),
])
def test_captured_incompatible_links_are_recreated(name, reasons):
    link = links(name)[0]
    current = vx.NetState(device=vx.device_from_link(link), kind=vx.link_kind(link), sysctls=FORWARDING)
    overlay, dummy = vx.desired_overlay(params(), base_links())
    ops, recreated = vx.plan(overlay, current)
    assert recreated == reasons
    assert ops[0].argv == ("ip", "link", "del", "dev", "flannel.1") and ops[1].argv[:3] == ("ip", "link", "add")
    # accept_ra of a new device comes from the namespace's default (1 here).
    assert ("sysctl", "-w", "net.ipv6.conf.flannel/1.accept_ra=0") in [op.argv for op in ops]


@pytest.mark.parametrize(("sysctls", "expected"), [
    ({"ipv4/ip_forward": "0", "ipv6/conf/flannel.1/accept_ra": "2"},
     ["sysctl -w net.ipv6.conf.flannel/1.accept_ra=0", "sysctl -w net.ipv4.ip_forward=1"]),
    ({"ipv4/ip_forward": "1", "ipv6/conf/flannel.1/accept_ra": None}, []),
    ({"ipv4/ip_forward": None, "ipv6/conf/flannel.1/accept_ra": "0"}, ["sysctl -w net.ipv4.ip_forward=1"]),
])
def test_forwarding_and_router_advertisements(sysctls, expected):
    overlay, dummy = vx.desired_overlay(params(), links())
    assert argvs(vx.plan(overlay, captured_state(sysctls=sysctls))[0]) == expected


def test_ip_forward_false_leaves_forwarding_alone():
    overlay, dummy = vx.desired_overlay(params(ip_forward=False), links())
    assert vx.plan(overlay, captured_state(sysctls={"ipv4/ip_forward": "0"}))[0] == []
    assert vx.desired_summary(overlay, "0").endswith("net.ipv4.ip_forward = 0\n")


def test_absent_deletes_only_a_vxlan_device():
    assert argvs(vx.absent_plan(captured_state(), "flannel.1")) == ["ip link del dev flannel.1"]
    assert vx.absent_plan(vx.NetState(), "flannel.1") == []
    bridge = links("addr-bridge.json")[0]
    assert vx.absent_plan(vx.NetState(device=vx.device_from_link(bridge), kind="bridge"), "flannel.1") == []


def test_summaries():
    current = captured_state("route-extra.json", "neigh-extra.json", "fdb-extra.json")
    assert vx.current_summary(current) == (
        f"device flannel.1: vxlan id 1 local {H1} dev eth0 dstport 8472 nolearning address {MAC1} mtu 1450 up "
        "inet 10.5.1.0/32\n"
        "route 10.5.2.0/24 via 10.5.2.0 onlink\nroute 10.5.3.0/24 via 10.5.3.0 onlink\n"
        "route 10.5.9.0/24 via 10.5.9.0 onlink\nroute 10.6.0.0/16\n"
        f"neigh 10.5.2.0 lladdr {MAC2} permanent\nneigh 10.5.3.0 lladdr {MAC3} permanent\n"
        "fdb 00:00:00:00:00:00 dst 172.29.219.99 permanent\n"
        f"fdb {MAC2} dst {H2} permanent\nfdb {MAC3} dst {H3} permanent\n"
        "net.ipv4.ip_forward = 1\n")
    assert vx.current_summary(vx.NetState()) == "device: absent\n"
    bridge = links("addr-bridge.json")[0]
    assert vx.current_summary(vx.NetState(device=vx.device_from_link(bridge), kind="bridge")) == \
        "device flannel.1: bridge link\n"


def test_peer_describe():
    peer = vx.Peer(ipaddress.IPv4Network("10.5.3.0/24"), ipaddress.IPv4Address(H3), MAC3, "h3")
    assert peer.describe() == {"name": "h3", "subnet": "10.5.3.0/24", "gateway": "10.5.3.0", "public_ip": H3,
                               "vtep_mac": MAC3}
