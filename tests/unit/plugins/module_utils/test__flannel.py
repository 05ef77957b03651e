# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for flannel's configuration and leases: validation, rendering, decoding, allocation, etcdctl v2."""

from __future__ import annotations

import ipaddress
import json
import typing as t

from pathlib import Path

import pytest

from ansible_collections.containerhost.platform.plugins.module_utils import _etcdctl as ec
from ansible_collections.containerhost.platform.plugins.module_utils import _flannel as fl

FIXTURES = Path(__file__).parent / "fixtures" / "flannel"
PREFIX = "/coreos.com/network"


def fixture(name: str) -> str:
    """The text of a captured output or documented sample."""
    return (FIXTURES / name).read_text()


def net(network: str = "10.5.0.0/16", **kwargs: t.Any) -> fl.NetworkConfig:
    """A configuration; backend settings as ``backend=dict(...)``."""
    backend = fl.Backend(**kwargs.pop("backend", {}))
    return fl.NetworkConfig(network=network, backend=backend, **kwargs)


# flannel's documented configuration keys (Documentation/configuration.md, backends.md) and their JSON types.
SCHEMA: dict[str, type | tuple[type, ...]] = {
    "Network": str, "IPv6Network": str, "EnableIPv4": bool, "EnableIPv6": bool, "SubnetLen": int, "SubnetMin": str,
    "SubnetMax": str, "IPv6SubnetLen": int, "IPv6SubnetMin": str, "IPv6SubnetMax": str, "Backend": dict,
}
BACKEND_SCHEMA: dict[str, dict[str, type]] = {
    "vxlan": {"Type": str, "VNI": int, "Port": int, "GBP": bool, "DirectRouting": bool},
    "host-gw": {"Type": str},
    "udp": {"Type": str, "Port": int},
}


def schema_problems(text: str) -> list[str]:
    """What in a configuration text is not in flannel's documented schema (exact key names, JSON types)."""
    data = json.loads(text)
    problems = []

    def check(obj: dict[str, t.Any], schema: dict[str, t.Any], where: str) -> None:
        for key, value in obj.items():
            if key not in schema:
                problems.append(f"{where}{key}: not a documented key")
            elif isinstance(value, bool) and schema[key] is not bool or not isinstance(value, schema[key]):
                problems.append(f"{where}{key}: {type(value).__name__} is not {schema[key].__name__}")

    if not isinstance(data, dict):
        return ["not an object"]
    check(data, SCHEMA, "")
    if "Network" not in data:
        problems.append("Network: missing")
    backend = data.get("Backend")
    if isinstance(backend, dict):
        kind = backend.get("Type")
        if kind not in BACKEND_SCHEMA:
            problems.append(f"Backend.Type: {kind!r} is not a documented backend")
        else:
            check(backend, BACKEND_SCHEMA[kind], "Backend.")
    return problems


# --- the schema check itself must be able to fail ------------------------------------------------------------

@pytest.mark.parametrize("text, problem", [
    ('{"Network":"10.5.0.0/16","MTU":1450}', "MTU: not a documented key"),
    ('{"network":"10.5.0.0/16"}', "network: not a documented key"),
    ('{"Network":"10.5.0.0/16","SubnetLen":"24"}', "SubnetLen: str is not int"),
    ('{"Network":"10.5.0.0/16","SubnetLen":true}', "SubnetLen: bool is not int"),
    ('{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan","MTU":1400}}', "Backend.MTU: not a documented key"),
    ('{"Network":"10.5.0.0/16","Backend":{"Type":"host-gw","Port":1}}', "Backend.Port: not a documented key"),
    ('{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan","DirectRouting":"yes"}}',
     "Backend.DirectRouting: str is not bool"),
])
def test_schema_check_rejects_what_flannel_does_not_document(text, problem):
    assert problem in schema_problems(text)


# --- rendering --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("config, text", [
    (net(), '{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan"}}'),
    (net(subnet_len=24, subnet_min="10.5.10.0", subnet_max="10.5.99.0",
         backend={"vni": 4096, "port": 4789, "gbp": False, "direct_routing": True, "mtu": 1400}),
     '{"Network":"10.5.0.0/16","SubnetLen":24,"SubnetMin":"10.5.10.0","SubnetMax":"10.5.99.0",'
     '"Backend":{"Type":"vxlan","VNI":4096,"Port":4789,"GBP":false,"DirectRouting":true}}'),
    (net("10.0.0.0/8", subnet_len=20, subnet_min="10.10.0.0", subnet_max="10.99.0.0",
         backend={"type": "udp", "port": 7890}),
     '{"Network":"10.0.0.0/8","SubnetLen":20,"SubnetMin":"10.10.0.0","SubnetMax":"10.99.0.0",'
     '"Backend":{"Type":"udp","Port":7890}}'),
    (net("172.30.0.0/16", backend={"type": "host-gw", "mtu": 1500}),
     '{"Network":"172.30.0.0/16","Backend":{"Type":"host-gw"}}'),
])
def test_render_config_byte_for_byte(config, text):
    assert fl.validate(config) == []
    assert fl.render_config(config) == text
    assert schema_problems(text) == []


def test_rendering_of_the_documented_udp_example_means_the_same_to_flanneld():
    documented = fixture("doc-config-udp.json")
    ours = fl.render_config(net("10.0.0.0/8", subnet_len=20, subnet_min="10.10.0.0", subnet_max="10.99.0.0",
                                backend={"type": "udp", "port": 7890}))
    assert json.loads(ours) == json.loads(documented)
    assert ours != documented and fl.same_meaning(documented, ours)
    assert schema_problems(documented) == []


@pytest.mark.parametrize("kind", fl.BACKEND_TYPES)
@pytest.mark.parametrize("subnet_len", [None, 20, 26])
def test_every_rendering_passes_the_documented_schema(kind, subnet_len):
    options = {"vxlan": {"vni": 7, "port": 4789, "gbp": True, "direct_routing": False, "mtu": 1400},
               "udp": {"port": 8285, "mtu": 1400}, "host-gw": {"mtu": 1400}}[kind]
    config = net(subnet_len=subnet_len, backend={"type": kind, **options})
    text = fl.render_config(config)
    assert schema_problems(text) == []
    assert "MTU" not in text and " " not in text and not text.endswith("\n")
    assert fl.decode_config(text)["Backend"]["Type"] == kind


def test_render_keeps_flannel_key_order():
    data = fl.config_data(net(subnet_len=24, subnet_min="10.5.1.0", subnet_max="10.5.2.0",
                              backend={"vni": 1, "port": 8472, "gbp": True, "direct_routing": True}))
    assert list(data) == ["Network", "SubnetLen", "SubnetMin", "SubnetMax", "Backend"]
    assert list(data["Backend"]) == ["Type", "VNI", "Port", "GBP", "DirectRouting"]


# --- decoding the way flanneld does -------------------------------------------------------------------------------

def test_decode_documented_udp_example():
    decoded = fl.decode_config(fixture("doc-config-udp.json"))
    assert decoded == {"EnableIPv4": True, "EnableIPv6": False, "Network": "10.0.0.0/8", "SubnetLen": 20,
                       "SubnetMin": "10.10.0.0", "SubnetMax": "10.99.0.0",
                       "Backend": {"Type": "udp", "Port": 7890}}


@pytest.mark.parametrize("network, length, low, high", [
    ("10.5.0.0/16", 24, "10.5.1.0", "10.5.255.0"),
    ("10.0.0.0/8", 24, "10.0.1.0", "10.255.255.0"),
    ("10.5.0.0/22", 24, "10.5.1.0", "10.5.3.0"),
    ("10.5.0.0/23", 25, "10.5.0.128", "10.5.1.128"),
    ("10.5.0.0/24", 26, "10.5.0.64", "10.5.0.192"),
    ("10.5.0.0/28", 30, "10.5.0.4", "10.5.0.12"),
])
def test_decode_applies_flannel_subnet_defaults(network, length, low, high):
    decoded = fl.decode_config(json.dumps({"Network": network, "Backend": {"Type": "vxlan"}}))
    assert (decoded["SubnetLen"], decoded["SubnetMin"], decoded["SubnetMax"]) == (length, low, high)
    assert decoded["Backend"] == {"Type": "vxlan", "VNI": 1, "Port": 8472, "GBP": False, "Learning": False,
                                  "DirectRouting": False}


def test_decode_matches_keys_like_go_case_insensitive_last_wins_unknown_ignored():
    text = ('{"network":"10.1.0.0/16","Network":"10.2.0.0/16","subnetlen":20,"MTU":1400,'
            '"backend":{"type":"vxlan","vni":2,"PORT":4789,"directrouting":true,"Bogus":1}}')
    decoded = fl.decode_config(text)
    assert decoded["Network"] == "10.2.0.0/16" and decoded["SubnetLen"] == 20
    assert decoded["Backend"] == {"Type": "vxlan", "VNI": 2, "Port": 4789, "GBP": False, "Learning": False,
                                  "DirectRouting": True}
    assert fl.unknown_keys(text) == ["MTU", "Backend.Bogus"]


def test_decode_drops_host_bits_as_flanneld_does_while_validate_refuses_them():
    assert fl.decode_config('{"Network":"10.5.3.7/16"}')["Network"] == "10.5.0.0/16"
    assert fl.validate(net("10.5.3.7/16")) == [
        "network: '10.5.3.7/16' has host bits set; accepted: its network address, 10.5.0.0/16"]


def test_decode_backend_defaults():
    assert fl.decode_config('{"Network":"10.5.0.0/16"}')["Backend"] == {"Type": "udp", "Port": 8285}
    assert fl.decode_config('{"Network":"10.5.0.0/16","Backend":{"Type":"host-gw"}}')["Backend"] == {
        "Type": "host-gw"}
    other = fl.decode_config('{"Network":"10.5.0.0/16","Backend":{"Type":"wireguard","PSK":"x"}}')
    assert other["Backend"] == {"Type": "wireguard", "PSK": "x"}


def test_decode_zero_subnet_min_means_unset_as_in_flanneld():
    decoded = fl.decode_config('{"Network":"10.5.0.0/16","SubnetLen":0,"SubnetMin":"0.0.0.0"}')
    assert (decoded["SubnetLen"], decoded["SubnetMin"]) == (24, "10.5.1.0")


def test_decode_ipv6_defaults_and_ipv4_disabled():
    decoded = fl.decode_config('{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00:42::/56",'
                               '"Backend":{"Type":"vxlan"}}')
    assert decoded["IPv6SubnetLen"] == 64
    assert decoded["IPv6SubnetMin"] == "fd00:42:0:1::" and decoded["IPv6SubnetMax"] == "fd00:42:0:ff::"
    assert "Network" not in decoded


@pytest.mark.parametrize("text, message", [
    ("not json", "the flannel configuration is not JSON"),
    ("[1]", "the flannel configuration: list is not a JSON object"),
    ('{"Backend":{"Type":"vxlan"}}', "Network: missing"),
    ('{"Network":"10.5.0.0"}', "Network: '10.5.0.0' is not an IPv4 network in CIDR form"),
    ('{"Network":"fd00::/64"}', "Network: 'fd00::/64' is not an IPv4 network"),
    ('{"Network":null}', "Network: null is not a network in CIDR form"),
    ('{"Network":"10.5.0.0/29"}', "Network: 10.5.0.0/29 is too small"),
    ('{"Network":"10.5.0.0/16","SubnetLen":31}', "SubnetLen: /31 leaves no room"),
    ('{"Network":"10.5.0.0/16","SubnetLen":17}', "SubnetLen: /17 splits 10.5.0.0/16 into fewer than four"),
    ('{"Network":"10.5.0.0/16","SubnetLen":"24"}', 'SubnetLen: "24" cannot be decoded as a Go uint'),
    ('{"Network":"10.5.0.0/16","SubnetLen":24.0}', "SubnetLen: 24.0 cannot be decoded as a Go uint"),
    ('{"Network":"10.5.0.0/16","SubnetLen":-1}', "SubnetLen: -1 cannot be decoded as a Go uint"),
    ('{"Network":"10.5.0.0/16","SubnetMin":"10.6.1.0"}', "SubnetMin: 10.6.1.0 is outside 10.5.0.0/16"),
    ('{"Network":"10.5.0.0/16","SubnetMax":"10.5.1.7"}', "SubnetMax: 10.5.1.7 is not on a /24 boundary"),
    ('{"Network":"10.5.0.0/16","SubnetMin":null}', "SubnetMin: null is not an IPv4 address"),
    ('{"Network":"10.5.0.0/16","EnableIPv6":"yes"}', 'EnableIPv6: "yes" cannot be decoded as a Go bool'),
    ('{"Network":"10.5.0.0/16","Backend":null}', "Backend: null names no backend type"),
    ('{"Network":"10.5.0.0/16","Backend":"vxlan"}', "Backend: str is not a JSON object"),
    ('{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan","VNI":"1"}}', 'Backend.VNI: "1" cannot be decoded'),
    ('{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan","GBP":1}}', "Backend.GBP: 1 cannot be decoded as a Go bool"),
])
def test_decode_refuses_what_flanneld_refuses(text, message):
    with pytest.raises(fl.FlannelError) as exc_info:
        fl.decode_config(text)
    assert message in str(exc_info.value)


@pytest.mark.parametrize("stored, same", [
    ('{ "Network": "10.5.0.0/16",\n  "Backend": {"Type": "vxlan"} }', True),
    ('{"Network":"10.5.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan","VNI":1,"Port":8472}}', True),
    ('{"network":"10.5.0.0/16","backend":{"type":"vxlan"},"Comment":"x"}', True),
    ('{"Network":"10.6.0.0/16","Backend":{"Type":"vxlan"}}', False),
    ('{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan","VNI":2}}', False),
    ('{"Network":"10.5.0.0/16"}', False),
    ("garbage", False),
    (None, False),
])
def test_same_meaning(stored, same):
    assert fl.same_meaning(stored, '{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan"}}') is same


def test_decode_the_captured_v3_value():
    found = ec.parse_get(fixture("v3-get-config.json"))
    value = found["/coreos.com/network/config"]["value"]
    assert value == '{"Network":"10.5.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan","VNI":1}}'
    assert fl.same_meaning(value, fl.render_config(net(subnet_len=24, backend={"vni": 1})))


# --- validation ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("config, error", [
    (net("10.5.0.0"), "network: '10.5.0.0' is not an IPv4 network in CIDR form; accepted: an IPv4 network in CIDR "
                      "form such as 10.5.0.0/16"),
    (net("ten/8"), "network: 'ten/8' is not an IPv4 network; accepted:"),
    (net("fd00::/64"), "network: 'fd00::/64' is an IPv6 network; accepted:"),
    (net("10.5.0.1/16"), "network: '10.5.0.1/16' has host bits set; accepted: its network address, 10.5.0.0/16"),
    (net("10.5.0.0/29"), "network: 10.5.0.0/29 is too small: flannel needs four subnets of at least /30; accepted: "
                         "a network of /28 or larger"),
    (net(subnet_len=31), "subnet_len: /31 leaves no room for the tunnel and bridge addresses of a host; accepted: "
                         "18 to 30"),
    (net(subnet_len=17), "subnet_len: /17 splits 10.5.0.0/16 into fewer than four subnets (flannel never hands out "
                         "the first); accepted: 18 to 30"),
    (net(subnet_min="10.5"), "subnet_min: '10.5' is not an IPv4 address; accepted: a subnet address such as "
                             "10.5.1.0"),
    (net(subnet_max="10.6.0.0"), "subnet_max: 10.6.0.0 is outside 10.5.0.0/16; accepted: a /24 subnet address "
                                 "from 10.5.1.0 to 10.5.255.0"),
    (net(subnet_min="10.5.1.128"), "subnet_min: 10.5.1.128 is not on a /24 boundary; accepted: a /24 subnet "
                                   "address such as 10.5.1.0"),
    (net(subnet_min="10.5.9.0", subnet_max="10.5.8.0"), "subnet_min: 10.5.9.0 is above subnet_max 10.5.8.0; "
                                                        "accepted: subnet_min <= subnet_max"),
    (net(backend={"type": "geneve"}), "backend.type: 'geneve' is not supported; accepted: vxlan, host-gw, udp"),
    (net(backend={"vni": -1}), "backend.vni: -1 is out of range; accepted: 0 to 16777215 (24 bits)"),
    (net(backend={"vni": 16777216}), "backend.vni: 16777216 is out of range; accepted: 0 to 16777215 (24 bits)"),
    (net(backend={"port": 0}), "backend.port: 0 is out of range; accepted: 1 to 65535"),
    (net(backend={"port": 65536}), "backend.port: 65536 is out of range; accepted: 1 to 65535"),
    (net(backend={"type": "host-gw", "vni": 1}), "backend.vni: not used by backend.type host-gw; accepted with: "
                                                 "vxlan (remove it for host-gw)"),
    (net(backend={"type": "host-gw", "port": 1}), "backend.port: not used by backend.type host-gw; accepted with: "
                                                  "vxlan, udp (remove it for host-gw)"),
    (net(backend={"type": "udp", "direct_routing": True}), "backend.direct_routing: not used by backend.type udp; "
                                                           "accepted with: vxlan (remove it for udp)"),
    (net(backend={"type": "udp", "gbp": False}), "backend.gbp: not used by backend.type udp"),
])
def test_validate_names_the_field_and_accepted_values(config, error):
    errors = fl.validate(config)
    assert len(errors) == 1
    assert errors[0].startswith(error)


@pytest.mark.parametrize("config", [
    net(subnet_len=18), net(subnet_len=30), net("10.5.0.0/28", subnet_len=30), net("10.5.0.0/28"),
    net(backend={"vni": 0}), net(backend={"vni": 16777215}), net(backend={"port": 1}),
    net(backend={"port": 65535}), net(backend={"type": "udp", "port": 8285}),
    net(subnet_min="10.5.0.0"), net(subnet_min="10.5.7.0", subnet_max="10.5.7.0"),
])
def test_validate_accepts_the_edges(config):
    assert fl.validate(config) == []


def test_validate_reports_every_problem_at_once():
    errors = fl.validate(net(subnet_len=31, backend={"type": "host-gw", "vni": 5, "mtu": 1600}), 3, 1500)
    assert [error.split(":")[0] for error in errors] == ["subnet_len", "backend.vni", "backend.mtu"]


@pytest.mark.parametrize("config, nodes, fits", [
    (net(), 255, True),
    (net(), 256, False),
    (net("10.5.0.0/22", subnet_len=24), 3, True),
    (net("10.5.0.0/22", subnet_len=24), 4, False),
    (net("10.5.0.0/24"), 3, True),
    (net("10.5.0.0/24"), 4, False),
    (net(subnet_min="10.5.10.0", subnet_max="10.5.19.0"), 10, True),
    (net(subnet_min="10.5.10.0", subnet_max="10.5.19.0"), 11, False),
    (net("10.0.0.0/8", subnet_len=26), 2 ** 18 - 1, True),
    (net("10.0.0.0/8", subnet_len=26), 2 ** 18, False),
    (net(), 0, True),
])
def test_capacity_counts_subnets_without_the_first(config, nodes, fits):
    errors = fl.validate(config, nodes)
    assert (errors == []) is fits
    if not fits:
        assert errors[0].startswith(f"expected_nodes: {nodes} nodes do not fit: ")
        assert "; accepted: at most " in errors[0]


def test_capacity_message_gives_the_numbers():
    assert fl.validate(net("10.5.0.0/22", subnet_len=24), 5) == [
        "expected_nodes: 5 nodes do not fit: 10.5.0.0/22 in /24 subnets from 10.5.1.0 to 10.5.3.0 gives 3; accepted: "
        "at most 3 nodes, or a larger network, a longer subnet_len or a wider subnet_min..subnet_max"]
    assert fl.validate(net(), -1) == ["expected_nodes: -1 is negative; accepted: 0 or more"]


@pytest.mark.parametrize("kind, link, room", [
    ("vxlan", 1500, 1450), ("udp", 1500, 1472), ("host-gw", 1500, 1500), ("vxlan", 9000, 8950), ("vxlan", 1450, 1400),
])
def test_mtu_arithmetic(kind, link, room):
    assert fl.overlay_mtu(kind, link) == room
    assert fl.validate(net(backend={"type": kind, "mtu": room}), link_mtu=link) == []
    errors = fl.validate(net(backend={"type": kind, "mtu": room + 1}), link_mtu=link)
    overhead = link - room
    assert errors == [f"backend.mtu: {room + 1} does not fit: link_mtu {link} minus the {kind} overhead of "
                      f"{overhead} bytes leaves {room}; accepted: 68 to {room}"]


def test_mtu_below_ipv4_minimum_and_a_link_too_small_for_the_overhead():
    assert fl.validate(net(backend={"mtu": 67})) == [
        "backend.mtu: 67 does not fit: link_mtu 1500 minus the vxlan overhead of 50 bytes leaves 1450; accepted: "
        "68 to 1450"]
    assert fl.validate(net(), link_mtu=100) == [
        "link_mtu: 100 minus the vxlan overhead of 50 bytes leaves 50, below IPv4's minimum of 68; accepted: 118 or "
        "more"]
    assert fl.validate(net(backend={"type": "host-gw"}), link_mtu=100) == []


def test_describe_reports_flanneld_defaults():
    assert fl.describe(net(backend={"type": "udp"}), 9000) == {
        "network": "10.5.0.0/16", "subnet_len": 24, "subnet_min": "10.5.1.0", "subnet_max": "10.5.255.0",
        "subnet_count": 255, "backend": {"type": "udp", "port": 8285}, "overlay_mtu": 8972}


def test_layout_raises_naming_the_problem():
    with pytest.raises(fl.FlannelError, match="subnet_len: /31"):
        fl.layout(net(subnet_len=31))
    with pytest.raises(fl.FlannelError, match="network: 'x' is not"):
        fl.layout(net("x"))


# --- subnets and keys -----------------------------------------------------------------------------------------

def test_subnets_iterates_the_range():
    assert [str(subnet) for subnet in fl.subnets(net("10.5.0.0/22", subnet_len=24))] == [
        "10.5.1.0/24", "10.5.2.0/24", "10.5.3.0/24"]
    assert [str(subnet) for subnet in fl.subnets(net(subnet_min="10.5.254.0"))] == ["10.5.254.0/24", "10.5.255.0/24"]
    assert sum(1 for dummy in fl.subnets(net())) == 2 ** (24 - 16) - 1


@pytest.mark.parametrize("prefix, key", [
    ("/coreos.com/network", "/coreos.com/network/config"),
    ("/coreos.com/network/", "/coreos.com/network/config"),
    ("//cluster-a//network", "/cluster-a/network/config"),
    ("cluster-a/network", "cluster-a/network/config"),
])
def test_config_key_joins_like_go_path_join(prefix, key):
    assert fl.config_key(prefix) == key


def test_lease_keys_round_trip():
    key = fl.lease_key(PREFIX, "10.5.34.0/24")
    assert key == "/coreos.com/network/subnets/10.5.34.0-24"
    assert fl.lease_key(PREFIX + "/", ipaddress.ip_network("10.5.34.0/24")) == key
    assert fl.parse_subnet_key(key) == ipaddress.ip_network("10.5.34.0/24")
    assert fl.parse_subnet_key(f"{PREFIX}/subnets/10.5.34.0-24&fd00:42:0:1::-64") == ipaddress.ip_network(
        "10.5.34.0/24")
    assert fl.parse_subnet_key(f"{PREFIX}/config") is None
    assert fl.parse_subnet_key(f"{PREFIX}/subnets/10.5.34.7-24") is None


# --- leases -------------------------------------------------------------------------------------------------------

def test_render_lease_matches_the_documented_vxlan_lease_byte_for_byte():
    assert fl.render_lease("192.168.64.3", "vxlan", "C6:D2:32:6F:8F:44") == fixture("doc-lease-vxlan.json")


@pytest.mark.parametrize("kind, mac, vni, text", [
    ("host-gw", None, 1, '{"PublicIP":"10.0.0.1","PublicIPv6":null,"BackendType":"host-gw"}'),
    ("udp", None, 1, '{"PublicIP":"10.0.0.1","PublicIPv6":null}'),
    ("vxlan", "0e-2a-5f-10-aa-01", 4096,
     '{"PublicIP":"10.0.0.1","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":4096,'
     '"VtepMAC":"0e:2a:5f:10:aa:01"}}'),
    # flanneld stores the lease's VNI as a 16-bit number.
    ("vxlan", "0e:2a:5f:10:aa:01", 70000,
     '{"PublicIP":"10.0.0.1","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":4464,'
     '"VtepMAC":"0e:2a:5f:10:aa:01"}}'),
])
def test_render_lease_formats(kind, mac, vni, text):
    assert fl.render_lease("10.0.0.1", kind, mac, vni) == text
    parsed = fl.parse_lease(text)
    assert parsed["public_ip"] == "10.0.0.1" and parsed["public_ipv6"] is None


@pytest.mark.parametrize("args, message", [
    (("10.0.0", "host-gw"), "public_ip: '10.0.0' is not an IPv4 address; accepted: the node's public IPv4 address"),
    (("10.0.0.1", "geneve"), "backend_type: 'geneve' is not supported"),
    (("10.0.0.1", "vxlan"), "vtep_mac: required for a vxlan lease"),
    (("10.0.0.1", "vxlan", "0e:2a"), "vtep_mac: '0e:2a' is not a MAC address"),
    (("10.0.0.1", "host-gw", "0e:2a:5f:10:aa:01"), "vtep_mac: only for vxlan leases"),
])
def test_render_lease_refuses_bad_input(args, message):
    with pytest.raises(fl.FlannelError, match=message):
        fl.render_lease(*args)


def test_parse_lease_documented_and_go_style():
    assert fl.parse_lease(fixture("doc-lease-vxlan.json")) == {
        "public_ip": "192.168.64.3", "public_ipv6": None, "backend_type": "vxlan",
        "backend_data": {"VNI": 1, "VtepMAC": "c6:d2:32:6f:8f:44"}, "vtep_mac": "c6:d2:32:6f:8f:44", "vni": 1}
    old = fl.parse_lease('{"publicip":"10.0.0.2","BackendType":"vxlan","BackendData":{"vtepmac":"AA:BB:CC:DD:EE:FF"}}')
    assert (old["public_ip"], old["vtep_mac"], old["vni"]) == ("10.0.0.2", "aa:bb:cc:dd:ee:ff", None)
    with pytest.raises(fl.FlannelError, match="the lease is not JSON"):
        fl.parse_lease("{")
    with pytest.raises(fl.FlannelError, match="PublicIP"):
        fl.parse_lease('{"PublicIP":"x"}')


# --- allocation -------------------------------------------------------------------------------------------------

NODES = {"h2": "172.29.213.12", "h1": "172.29.213.11", "h3": "172.29.213.13"}


def applied(keep: dict[str, str], add: dict[str, str], nodes: dict[str, str],
            before: dict[str, str] | None = None) -> dict[str, str]:
    """The leases after applying an allocation (host-gw values)."""
    after = {key: value for key, value in (before or {}).items() if key in keep.values()}
    after.update({key: fl.render_lease(nodes[node], "host-gw") for node, key in add.items()})
    return after


def test_allocate_fresh_nodes_get_the_lowest_subnets_in_name_order():
    keep, add, remove = fl.allocate_subnets(net(), NODES, {})
    assert keep == {} and remove == []
    assert add == {"h1": f"{PREFIX}/subnets/10.5.1.0-24", "h2": f"{PREFIX}/subnets/10.5.2.0-24",
                   "h3": f"{PREFIX}/subnets/10.5.3.0-24"}


def test_allocate_is_stable_on_a_second_run():
    keep, add, dummy = fl.allocate_subnets(net(), NODES, {})
    leases = applied(keep, add, NODES)
    assert fl.allocate_subnets(net(), NODES, leases) == (add, {}, [])
    # Dict order does not matter.
    reordered = dict(reversed(list(leases.items())))
    assert fl.allocate_subnets(net(), dict(reversed(list(NODES.items()))), reordered) == (add, {}, [])


def test_removing_a_node_removes_only_its_lease_and_a_new_node_does_not_take_it():
    dummy, add, dummy = fl.allocate_subnets(net(), NODES, {})
    leases = applied({}, add, NODES)
    fewer = {node: ip for node, ip in NODES.items() if node != "h2"}
    keep, add2, remove = fl.allocate_subnets(net(), fewer, leases)
    assert keep == {"h1": add["h1"], "h3": add["h3"]} and add2 == {} and remove == [add["h2"]]
    other = {**fewer, "h4": "172.29.213.14"}
    keep, add3, remove = fl.allocate_subnets(net(), other, leases)
    assert add3 == {"h4": f"{PREFIX}/subnets/10.5.4.0-24"} and remove == [add["h2"]]


def test_released_subnets_are_reused_only_when_nothing_else_is_free():
    small = net("10.5.0.0/22", subnet_len=24)
    leases = {f"{PREFIX}/subnets/10.5.1.0-24": fl.render_lease("10.0.0.1", "host-gw"),
              f"{PREFIX}/subnets/10.5.2.0-24": fl.render_lease("10.0.0.2", "host-gw")}
    keep, add, remove = fl.allocate_subnets(small, {"b": "10.0.0.2", "c": "10.0.0.3"}, leases)
    assert add == {"c": f"{PREFIX}/subnets/10.5.3.0-24"} and remove == [f"{PREFIX}/subnets/10.5.1.0-24"]
    keep, add, remove = fl.allocate_subnets(small, {"b": "10.0.0.2", "c": "10.0.0.3", "d": "10.0.0.4"}, leases)
    assert add == {"c": f"{PREFIX}/subnets/10.5.3.0-24", "d": f"{PREFIX}/subnets/10.5.1.0-24"}


def test_allocate_drops_duplicates_out_of_range_unreadable_and_foreign_leases():
    config = net(subnet_min="10.5.10.0")
    leases = {
        f"{PREFIX}/subnets/10.5.12.0-24": fl.render_lease("172.29.213.11", "host-gw"),
        f"{PREFIX}/subnets/10.5.11.0-24": fl.render_lease("172.29.213.11", "host-gw"),
        f"{PREFIX}/subnets/10.5.3.0-24": fl.render_lease("172.29.213.12", "host-gw"),
        f"{PREFIX}/subnets/10.5.20.0-24": "not json",
        f"{PREFIX}/subnets/10.5.21.0-24": fl.render_lease("192.0.2.9", "host-gw"),
        f"{PREFIX}/config": '{"Network":"10.5.0.0/16"}',
    }
    keep, add, remove = fl.allocate_subnets(config, NODES, leases)
    assert keep == {"h1": f"{PREFIX}/subnets/10.5.11.0-24"}
    assert add == {"h2": f"{PREFIX}/subnets/10.5.10.0-24", "h3": f"{PREFIX}/subnets/10.5.13.0-24"}
    assert remove == [f"{PREFIX}/subnets/10.5.3.0-24", f"{PREFIX}/subnets/10.5.12.0-24",
                      f"{PREFIX}/subnets/10.5.20.0-24", f"{PREFIX}/subnets/10.5.21.0-24"]


def test_allocate_accepts_parsed_leases():
    key = f"{PREFIX}/subnets/10.5.7.0-24"
    keep, add, remove = fl.allocate_subnets(net(), {"h1": "172.29.213.11"}, {key: {"public_ip": "172.29.213.11"}})
    assert (keep, add, remove) == ({"h1": key}, {}, [])


@pytest.mark.parametrize("nodes, message", [
    ({"a": "10.0.0.1", "b": "10.0.0.1"}, "nodes: a and b share the public IP 10.0.0.1"),
    ({"a": "10.0.0"}, r"nodes\[a\]: '10.0.0' is not an IPv4 address"),
    ({name: f"10.0.0.{index}" for index, name in enumerate("abcd", start=1)}, "nodes: 4 nodes do not fit"),
])
def test_allocate_refuses(nodes, message):
    with pytest.raises(fl.FlannelError, match=message):
        fl.allocate_subnets(net("10.5.0.0/22", subnet_len=24), nodes, {})


# --- etcdctl v2 -------------------------------------------------------------------------------------------------

TLS = ec.Connection(("https://127.0.0.1:23790", "https://127.0.0.1:23791"), "/pki/ca.crt", "/pki/client.crt",
                    "/pki/client.key", 2, 5)


def test_v2_argv():
    assert fl.v2_argv("/usr/bin/etcdctl", TLS, ["get", "--", "/k"]) == [
        "/usr/bin/etcdctl", "--endpoints=https://127.0.0.1:23790,https://127.0.0.1:23791", "--no-sync",
        "--timeout=2s", "--total-timeout=5s", "--ca-file=/pki/ca.crt", "--cert-file=/pki/client.crt",
        "--key-file=/pki/client.key", "--output=json", "get", "--", "/k"]
    assert fl.v2_argv("etcdctl", ec.Connection(("http://127.0.0.1:2379",)), ["rm", "--", "/k"]) == [
        "etcdctl", "--endpoints=http://127.0.0.1:2379", "--no-sync", "--timeout=5s", "--total-timeout=15s",
        "--output=json", "rm", "--", "/k"]
    assert fl.V2_ENVIRON["ETCDCTL_API"] == "2"


def test_parse_v2_node_from_captured_output():
    node = fl.parse_v2_node(fixture("v2-get.json"))
    assert node == {"action": "get", "key": "/coreos.com/network/config",
                    "value": '{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan"}}', "dir": False,
                    "created_index": 4, "modified_index": 4}
    assert fl.parse_v2_node(fixture("v2-get-newline.json"))["value"] == "line\n"
    assert fl.parse_v2_node(fixture("v2-set-update.json"))["value"] == '{"Network":"10.6.0.0/16","Backend":{"Type":"vxlan"}}'
    assert fl.parse_v2_node(fixture("v2-rm.json"))["action"] == "delete"
    with pytest.raises(fl.FlannelError, match="printed no node"):
        fl.parse_v2_node('{"action":"get"}')
    with pytest.raises(fl.FlannelError, match="could not read the JSON"):
        fl.parse_v2_node("Error")


def test_v2_missing_key_detection():
    assert fl.v2_key_missing(fixture("v2-get-missing.txt"))
    assert fl.v2_key_missing(fixture("v2-rm-missing.txt"))
    assert fl.v2_key_missing('{"errorCode":100,"message":"Key not found","cause":"/k","index":3}\n')
    assert not fl.v2_key_missing(fixture("v2-refused.txt"))
    assert not fl.v2_key_missing(fixture("v2-disabled.txt"))


@pytest.mark.parametrize("name, kind, words", [
    ("v2-disabled.txt", "v2_disabled", ["does not serve the v2 API", "--enable-v2=true", "etcd_api=v3"]),
    ("v2-refused.txt", "refused", ["cannot connect to etcd at http://127.0.0.1:23999"]),
    ("v2-get-dir.txt", "is_directory", ["/coreos.com: is a directory"]),
    ("v2-set-empty.txt", "failed", ["value required"]),
])
def test_v2_failures_are_explained(name, kind, words):
    found_kind, message = fl.v2_failure(fixture(name), "", ["http://127.0.0.1:23999"])
    assert found_kind == kind
    for word in words:
        assert word in message


def test_ipv6_arithmetic_keeps_small_addresses_ipv6():
    decoded = fl.decode_config('{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"::100/120"}')
    assert (decoded["IPv6SubnetLen"], decoded["IPv6SubnetMin"], decoded["IPv6SubnetMax"]) == (122, "::140", "::1c0")
    plan, errors = fl.plan_subnets(ipaddress.ip_network("::100/120"), None, None, None)
    assert errors == [] and plan is not None
    assert [str(subnet) for subnet in plan.subnets()] == ["::140/122", "::180/122", "::1c0/122"]
    dummy, errors = fl.plan_subnets(ipaddress.ip_network("::100/120"), None, ipaddress.ip_address("::141"), None)
    assert errors == ["SubnetMin: ::141 is not on a /122 boundary; accepted: a /122 subnet address such as ::140"]
