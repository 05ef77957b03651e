# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for subnet.env parsing, the subnet/MTU arithmetic, podman network files and docker's daemon.json."""

from __future__ import annotations

import ipaddress
import json

from pathlib import Path

import pytest

from ansible_collections.containerhost.platform.plugins.module_utils import _engine_network as e

FIXTURES = Path(__file__).parent / "fixtures" / "engine_network"


def target(subnet: str = "10.5.34.0/24", mtu: int = 1450, ip_masq: bool | None = True) -> e.Target:
    """A target with the subnet's first address as gateway, inside 10.5.0.0/16."""
    network = ipaddress.IPv4Network(subnet)
    return e.Target(network, network.network_address + 1, mtu, ip_masq, ipaddress.IPv4Network("10.5.0.0/16"))


def test_subnet_env_in_flanneld_format():
    values = e.parse_subnet_env((FIXTURES / "subnet.env").read_text())
    assert values == {"FLANNEL_NETWORK": "10.5.0.0/16", "FLANNEL_SUBNET": "10.5.34.1/24", "FLANNEL_MTU": "1450",
                      "FLANNEL_IPMASQ": "true"}
    found = e.target_from_env(values, "/run/flannel/subnet.env")
    assert found == e.Target(ipaddress.IPv4Network("10.5.34.0/24"), ipaddress.IPv4Address("10.5.34.1"), 1450, True,
                             ipaddress.IPv4Network("10.5.0.0/16"))
    assert found.bip == "10.5.34.1/24"
    assert found.as_dict() == {"subnet": "10.5.34.0/24", "gateway": "10.5.34.1", "mtu": 1450, "ip_masq": True,
                               "overlay_network": "10.5.0.0/16"}


def test_subnet_env_tolerates_comments_quotes_and_export():
    text = '# written by hand\n\nexport FLANNEL_SUBNET="10.1.17.1/24"\nFLANNEL_MTU = \'1472\'\n'
    assert e.parse_subnet_env(text) == {"FLANNEL_SUBNET": "10.1.17.1/24", "FLANNEL_MTU": "1472"}
    found = e.target_from_env(e.parse_subnet_env(text), "x")
    assert (found.ip_masq, found.overlay, found.mtu) == (None, None, 1472)


def test_subnet_env_of_early_flanneld_takes_the_first_address():
    found = e.target_from_env({"FLANNEL_SUBNET": "10.1.17.0/24", "FLANNEL_MTU": "1472"}, "x")
    assert str(found.gateway) == "10.1.17.1"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("FLANNEL_SUBNET\n", "line 1: 'FLANNEL_SUBNET' is not a KEY=VALUE assignment"),
        ("FLANNEL_MTU=1450\n9X=1\n", "line 2"),
    ],
)
def test_subnet_env_refuses_garbage(text, fragment):
    with pytest.raises(e.EngineNetworkError, match=fragment):
        e.parse_subnet_env(text)


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"FLANNEL_MTU": "1450"}, "FLANNEL_SUBNET is missing"),
        ({"FLANNEL_SUBNET": "10.5.34.1/24"}, "FLANNEL_MTU is missing"),
        ({"FLANNEL_SUBNET": "10.5.34.1", "FLANNEL_MTU": "1450"}, "FLANNEL_SUBNET: 10.5.34.1/32 leaves no address"),
        ({"FLANNEL_SUBNET": "10.5.34.300/24", "FLANNEL_MTU": "1450"}, "not an address with a prefix"),
        ({"FLANNEL_SUBNET": "fd00::1/64", "FLANNEL_MTU": "1450"}, "is IPv6"),
        ({"FLANNEL_SUBNET": "10.5.34.1/24", "FLANNEL_MTU": "jumbo"}, "FLANNEL_MTU: 'jumbo' is not a number"),
        ({"FLANNEL_SUBNET": "10.5.34.1/24", "FLANNEL_MTU": "67"},
         "FLANNEL_MTU: 67 is out of range; accepted: an MTU from 68 to 65535"),
        ({"FLANNEL_SUBNET": "10.5.34.255/24", "FLANNEL_MTU": "1450"}, "is the broadcast address of 10.5.34.0/24"),
        ({"FLANNEL_SUBNET": "10.6.34.1/24", "FLANNEL_MTU": "1450", "FLANNEL_NETWORK": "10.5.0.0/16"},
         "FLANNEL_SUBNET: 10.6.34.0/24 is not inside the overlay network 10.5.0.0/16"),
        ({"FLANNEL_SUBNET": "10.5.34.1/24", "FLANNEL_MTU": "1450", "FLANNEL_NETWORK": "10.5.0.1/16"},
         "FLANNEL_NETWORK: '10.5.0.1/16' is not an IPv4 network"),
        ({"FLANNEL_SUBNET": "10.5.34.1/24", "FLANNEL_MTU": "1450", "FLANNEL_IPMASQ": "maybe"},
         "FLANNEL_IPMASQ: 'maybe' is not a boolean"),
    ],
)
def test_subnet_env_refuses_bad_values_naming_the_key(values, fragment):
    with pytest.raises(e.EngineNetworkError, match=fragment) as caught:
        e.target_from_env(values, "/run/flannel/subnet.env")
    assert "subnet_env (/run/flannel/subnet.env)" in str(caught.value)


def test_explicit_values_default_the_gateway():
    found = e.target_from_params("10.5.7.0/24", None, 1400, "10.5.0.0/16")
    assert (str(found.gateway), found.bip, found.mtu, found.ip_masq) == ("10.5.7.1", "10.5.7.1/24", 1400, None)
    assert str(e.target_from_params("192.168.9.0/30", "192.168.9.2", 1500).gateway) == "192.168.9.2"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("10.5.7.1/24", None, 1450), r"subnet: '10.5.7.1/24' is not an IPv4 network in CIDR form .*host bits"),
        (("10.5.7.0", None, 1450), "subnet: '10.5.7.0' is not an IPv4 network in CIDR form"),
        (("fd00::/64", None, 1450), "subnet: 'fd00::/64' is IPv6"),
        (("10.5.7.0/31", None, 1450), r"subnet: 10.5.7.0/31 leaves no address .* /30 or shorter"),
        (("10.5.7.0/24", "10.5.8.1", 1450), "gateway: 10.5.8.1 is not in the subnet 10.5.7.0/24; accepted: an address "
                                            "from 10.5.7.1 to 10.5.7.254"),
        (("10.5.7.0/24", "10.5.7.0", 1450), "gateway: 10.5.7.0 is the network address"),
        (("10.5.7.0/24", "ten", 1450), "gateway: 'ten' is not an IPv4 address"),
        (("10.5.7.0/24", None, 65536), "mtu: 65536 is out of range"),
        (("10.5.7.0/24", None, 1450, "10.6.0.0/16"),
         r"subnet: 10.5.7.0/24 is not inside the overlay network 10.6.0.0/16 \(overlay_network\)"),
    ],
)
def test_explicit_values_refused_naming_the_option(args, fragment):
    with pytest.raises(e.EngineNetworkError, match=fragment):
        e.target_from_params(*args)


@pytest.mark.parametrize("name", ["flannelbr0", "br-overlay.1", "a" * 15])
def test_interface_names_accepted(name):
    assert e.check_interface_name(name) == name


@pytest.mark.parametrize("name", ["", "a" * 16, "br 0", "br/0", "br:0", "..", None])
def test_interface_names_refused(name):
    with pytest.raises(e.EngineNetworkError, match="interface_name: .* accepted: 1 to 15"):
        e.check_interface_name(name)


@pytest.mark.parametrize("name", ["-x", "", "a b", "x/y"])
def test_network_names_refused(name):
    with pytest.raises(e.EngineNetworkError, match="name: .* not a podman network name"):
        e.check_network_name(name)


def test_captured_network_list_reads_as_the_created_network():
    networks = e.parse_network_list((FIXTURES / "podman-network-ls.json").read_text())
    assert [network["name"] for network in networks] == ["flannel", "podman"]
    state = e.network_state(networks[0])
    assert state == {"name": "flannel", "driver": "bridge", "interface_name": "podman1",
                     "subnets": [{"subnet": "10.5.34.0/24", "gateway": "10.5.34.1"}], "mtu": 1450,
                     "dns_enabled": True, "internal": False, "ipv6_enabled": False}
    desired = e.desired_network_state("flannel", target(), True, "flannelbr0")
    # podman named that bridge itself; everything else matches.
    assert e.network_differences(state, desired) == ["interface_name"]
    assert e.network_differences(state, {**desired, "interface_name": "podman1"}) == []
    assert e.network_differences(None, desired) == list(desired)
    default = e.network_state(networks[1])
    assert default["mtu"] is None and default["subnets"] == [{"subnet": "10.88.0.0/16", "gateway": "10.88.0.1"}]


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({"subnet": "10.5.35.0/24"}, ["subnets"]),
        ({"mtu": 1400}, ["mtu"]),
        ({"subnet": "10.5.35.0/24", "mtu": 1400}, ["subnets", "mtu"]),
    ],
)
def test_differences_name_the_fields(change, fields):
    state = e.network_state(e.parse_network_list((FIXTURES / "podman-network-ls.json").read_text())[0])
    desired = e.desired_network_state("flannel", target(**change), True, "podman1")
    assert e.network_differences(state, desired) == fields
    assert e.network_differences(state, e.desired_network_state("flannel", target(), False, "podman1")) == \
        ["dns_enabled"]


def test_network_file_has_the_layout_podman_writes():
    created = json.loads((FIXTURES / "podman-network-file-created.json").read_text())
    text = e.render_network_file("flannel", created["id"], created["created"], target(), True, "podman1")
    assert json.loads(text) == created
    # podman 4 indents its network files with five spaces.
    assert text.splitlines()[1] == '     "name": "flannel",'
    assert text.endswith("}\n")
    ours = json.loads(e.render_network_file("flannel", "ab" * 32, "2026-12-03T12:41:20.971811Z",
                                            target(mtu=1400), False, "flannelbr0"))
    assert e.network_state(ours) == e.desired_network_state("flannel", target(mtu=1400), False, "flannelbr0")


def test_conflicts_with_other_networks():
    networks = e.parse_network_list((FIXTURES / "podman-network-ls.json").read_text())
    assert e.network_conflicts(networks, "flannel", target(), "flannelbr0") == []
    assert e.network_conflicts(networks, "other", target(), "flannelbr0") == [
        "subnet: 10.5.34.0/24 overlaps the subnet 10.5.34.0/24 of the podman network flannel; remove that network or "
        "move it out of the overlay"]
    assert e.network_conflicts(networks, "other", target("10.5.35.0/24"), "podman0") == [
        "interface_name: podman0 is already the bridge of the podman network podman; choose another name"]
    inside_default = e.Target(ipaddress.IPv4Network("10.88.4.0/24"), ipaddress.IPv4Address("10.88.4.1"), 1450)
    assert e.network_conflicts(networks, "flannel", inside_default, "x0") == [
        "subnet: 10.88.4.0/24 overlaps the subnet 10.88.0.0/16 of the podman network podman; remove that network or "
        "move it out of the overlay"]


def test_network_list_edge_cases():
    assert e.parse_network_list("") == []
    assert e.parse_network_list("null") == []
    with pytest.raises(ValueError, match="JSON array"):
        e.parse_network_list("{}")
    assert e.network_state(None) is None


def test_container_names_from_captured_output():
    assert e.parse_container_names((FIXTURES / "podman-ps-names.txt").read_text()) == ["idle1", "web1"]
    assert e.parse_container_names("\n") == []


def test_daemon_json_merge_keeps_other_keys_and_order():
    current = e.parse_daemon_json('{"log-driver": "journald", "mtu": 1500, "storage-driver": "overlay2"}', "p")
    merged = e.desired_daemon_config(current, target(), e.docker_ip_masq(target(), None), "p")
    assert merged == {"log-driver": "journald", "mtu": 1450, "storage-driver": "overlay2", "bip": "10.5.34.1/24",
                      "ip-masq": False}
    assert list(merged) == ["log-driver", "mtu", "storage-driver", "bip", "ip-masq"]
    assert e.changed_keys(current, merged) == ["bip", "mtu", "ip-masq"]
    assert e.changed_keys(merged, e.desired_daemon_config(merged, target(), False, "p")) == []
    assert e.render_daemon_json(merged).startswith('{\n  "log-driver": "journald",\n')


def test_daemon_json_removal_and_masquerading():
    current = {"bip": "10.5.34.1/24", "mtu": 1450, "ip-masq": False, "debug": True}
    assert e.desired_daemon_config(current, None, None, "p") == {"debug": True}
    assert e.changed_keys(current, {"debug": True}) == ["bip", "mtu", "ip-masq"]
    # flanneld does not masquerade: docker keeps its own; unknown: the key is left alone; the option wins.
    assert e.docker_ip_masq(target(ip_masq=False), None) is True
    assert e.docker_ip_masq(target(ip_masq=None), None) is None
    assert e.docker_ip_masq(target(ip_masq=True), True) is True
    assert "ip-masq" not in e.desired_daemon_config({}, target(ip_masq=None), None, "p")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("{", r"daemon_json: /etc/docker/daemon.json is not valid JSON"),
        ("[]", "holds a JSON list, not an object"),
    ],
)
def test_daemon_json_refused(text, fragment):
    with pytest.raises(e.EngineNetworkError, match=fragment):
        e.parse_daemon_json(text, "/etc/docker/daemon.json")


def test_daemon_json_empty_or_absent_and_bridge_conflict():
    assert e.parse_daemon_json(None, "p") == {} and e.parse_daemon_json(" \n", "p") == {}
    with pytest.raises(e.EngineNetworkError, match="sets bridge, which docker refuses together with bip"):
        e.desired_daemon_config({"bridge": "br0"}, target(), None, "p")
