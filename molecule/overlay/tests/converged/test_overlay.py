"""The daemonless overlay converged on h1, h2 and h3: leases in etcd in flannel's format, VXLAN devices, the lease
files, the podman network on each node's subnet, the iptables rules, and containers reaching each other across it."""

from __future__ import annotations

import ipaddress
import json
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# pylint: disable=wrong-import-position
from overlay import DEVICE, FINGERPRINT, PREFIX, RUNNER, address, etcd_range, host_of, link, subnet_env  # noqa: E402

NODES = ["h1", "h2", "h3"]
testinfra_hosts = NODES
NETWORK = ipaddress.ip_network("10.5.0.0/16")
IMAGE = "localhost/chtest/busybox:overlay"
RECORDS = Path(RUNNER.get_variables("h1")["overlay_test_dir"])


def vtep_mac(ip: str) -> str:
    """The VTEP MAC flannel_lease and vxlan_overlay derive from a public IP: 0e:fc: and the four octets."""
    return "0e:fc:" + ":".join(f"{int(octet):02x}" for octet in ip.split("."))


def node_subnet(name: str) -> ipaddress.IPv4Network:
    """The subnet of a node's lease file."""
    return ipaddress.ip_interface(subnet_env(host_of(name))["FLANNEL_SUBNET"]).network


def test_configuration_in_flannels_format() -> None:
    """<prefix>/config is compact JSON in flannel's key order, as flanneld reads it."""
    config = etcd_range(f"{PREFIX}/config")[f"{PREFIX}/config"]
    assert config == ('{"Network":"10.5.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan","VNI":1,"Port":8472,'
                      '"DirectRouting":false}}')


def test_leases_decode_to_flannels_lease_format() -> None:
    """One reservation per node under <prefix>/subnets/, keyed by subnet, valued as flanneld writes vxlan leases."""
    leases = etcd_range(f"{PREFIX}/subnets/")
    assert len(leases) == 3
    by_ip = {}
    for key, value in leases.items():
        network, length = key.rsplit("/", 1)[1].split("-")
        subnet = ipaddress.ip_network(f"{network}/{length}")
        assert subnet.prefixlen == 24 and subnet.subnet_of(NETWORK) and subnet != ipaddress.ip_network("10.5.0.0/24")
        lease = json.loads(value)
        assert list(lease) == ["PublicIP", "PublicIPv6", "BackendType", "BackendData"]
        assert lease["PublicIPv6"] is None and lease["BackendType"] == "vxlan"
        assert lease["BackendData"] == {"VNI": 1, "VtepMAC": vtep_mac(lease["PublicIP"])}
        by_ip[lease["PublicIP"]] = subnet
    assert sorted(by_ip) == sorted(address(name) for name in NODES)
    for name in NODES:
        assert node_subnet(name) == by_ip[address(name)]
    # The leases are reservations: no etcd lease (TTL) behind them.
    raw = host_of("h1").check_output(
        "ETCDCTL_API=3 etcdctl --cacert=/etc/etcd/pki/ca.crt --cert=/etc/etcd/pki/client.crt "
        f"--key=/etc/etcd/pki/client.key --endpoints=https://{address('h1')}:2379 get --prefix {PREFIX}/subnets/ -w json")
    assert all(kv.get("lease", 0) == 0 for kv in json.loads(raw)["kvs"])


def test_vxlan_device(host) -> None:
    """flannel.1: VXLAN id 1, port 8472, no learning, this node's public IP and VTEP MAC, MTU 1450, the subnet's /32."""
    name = host.backend.get_hostname()
    shown = host.check_output(f"ip -d link show {DEVICE}")
    assert "vxlan id 1 " in shown and "dstport 8472 " in shown and "nolearning" in shown
    device = link(host)
    data = device["linkinfo"]["info_data"]
    assert device["linkinfo"]["info_kind"] == "vxlan"
    assert (data["id"], data["port"], data["local"], data["learning"]) == (1, 8472, address(name), False)
    assert device["address"] == vtep_mac(address(name))
    assert device["mtu"] == 1450 and "UP" in device["flags"]
    addresses = json.loads(host.check_output(f"ip -j -4 addr show dev {DEVICE}"))[0]["addr_info"]
    subnet = node_subnet(name)
    assert [(a["local"], a["prefixlen"]) for a in addresses] == [(str(subnet.network_address), 32)]


def test_routes_neighbours_and_fdb_for_every_other_node(host) -> None:
    """Each other node's subnet routed on-link via its subnet address, its MAC permanent, its FDB entry to its IP."""
    name = host.backend.get_hostname()
    others = [other for other in NODES if other != name]
    routes = json.loads(host.check_output(f"ip -j route show dev {DEVICE}"))
    assert sorted((r["dst"], r["gateway"]) for r in routes) == sorted(
        (str(node_subnet(o)), str(node_subnet(o).network_address)) for o in others)
    neighbours = json.loads(host.check_output(f"ip -j neigh show dev {DEVICE} nud permanent"))
    assert sorted((n["dst"], n["lladdr"]) for n in neighbours) == sorted(
        (str(node_subnet(o).network_address), vtep_mac(address(o))) for o in others)
    fdb = json.loads(host.check_output(f"bridge -j fdb show dev {DEVICE}"))
    assert sorted((f["mac"], f["dst"]) for f in fdb if "dst" in f) == sorted(
        (vtep_mac(address(o)), address(o)) for o in others)


def test_lease_file_in_flanneld_format_kept_across_boots(host) -> None:
    """/run/flannel/subnet.env says what flanneld would; its /etc copy is what systemd-tmpfiles restores at boot."""
    name = host.backend.get_hostname()
    values = subnet_env(host)
    subnet = node_subnet(name)
    assert values == {"FLANNEL_NETWORK": "10.5.0.0/16", "FLANNEL_SUBNET": f"{subnet.network_address + 1}/24",
                      "FLANNEL_MTU": "1450", "FLANNEL_IPMASQ": "true"}
    live = host.file("/run/flannel/subnet.env")
    kept = host.file("/etc/containerhost/flannel/subnet.env")
    assert live.content_string == kept.content_string and FINGERPRINT in kept.content_string.splitlines()
    assert live.mode == kept.mode == 0o644
    tmpfiles = host.file("/etc/tmpfiles.d/containerhost-flannel.conf").content_string
    assert "C /run/flannel/subnet.env - - - - /etc/containerhost/flannel/subnet.env" in tmpfiles.splitlines()
    # What happens at boot, where /run starts empty: the file comes back as it was.
    host.check_output("mv /run/flannel/subnet.env /run/flannel/subnet.env.test")
    try:
        host.check_output("systemd-tmpfiles --create /etc/tmpfiles.d/containerhost-flannel.conf")
        assert host.file("/run/flannel/subnet.env").content_string == kept.content_string
    finally:
        host.run("mv -f /run/flannel/subnet.env.test /run/flannel/subnet.env")


def test_podman_network_on_the_nodes_subnet(host) -> None:
    """The podman network flannel: the node's subnet with .1 as gateway, MTU 1450, bridge flannelbr0."""
    name = host.backend.get_hostname()
    subnet = node_subnet(name)
    network = json.loads(host.check_output("podman network inspect flannel"))[0]
    assert network["subnets"] == [{"subnet": str(subnet), "gateway": str(subnet.network_address + 1)}]
    assert network["options"] == {"mtu": "1450"}
    assert network["network_interface"] == "flannelbr0"
    assert network["labels"] == {"io.containerhost.platform.managed-by": "engine_network"}


def test_iptables_rules_first_in_their_chains(host) -> None:
    """The unit is active and enabled; flanneld's masquerading rules and the forward rules jump first."""
    service = host.service("containerhost-flannel-iptables.service")
    assert service.is_enabled and service.systemd_properties["ActiveState"] == "active"
    before = service.systemd_properties["Before"].split()
    assert {"podman.service", "docker.service"} <= set(before)
    postrouting = host.check_output("iptables -w -t nat -S POSTROUTING").splitlines()
    assert postrouting[1] == "-A POSTROUTING -j CH-FLANNEL-POSTRTG"
    nat = host.check_output("iptables -w -t nat -S CH-FLANNEL-POSTRTG")
    subnet = node_subnet(host.backend.get_hostname())
    assert nat.splitlines()[1] == ('-A CH-FLANNEL-POSTRTG -s 10.5.0.0/16 -d 10.5.0.0/16 -m comment --comment '
                                   '"flannel overlay: no NAT inside" -j ACCEPT')
    assert f"! -s 10.5.0.0/16 -d {subnet} " in nat
    assert host.check_output("iptables -w -S FORWARD").splitlines()[1] == "-A FORWARD -j CH-FLANNEL-FWD"


def test_check_mode_predicted_the_configuration(host) -> None:
    """Check mode on the bare cluster predicted writing the configuration the real run wrote (and nothing else)."""
    name = host.backend.get_hostname()
    check = json.loads((RECORDS / f"{name}-check.json").read_text())
    converge = json.loads((RECORDS / f"{name}-converge.json").read_text())
    assert check["check_mode"] is True and converge["check_mode"] is False
    assert check["config_changed"] is converge["config_changed"] is True
    assert check["config"] == converge["config"] and check["effective"] == converge["effective"]
    # The leases follow from the written configuration: only the real run has them.
    assert check["lease"] is None and converge["lease"]["subnet"] == str(node_subnet(name))
    assert converge["vxlan_changed"] is True and converge["engine_changed"] is True


@pytest.fixture(scope="module")
def containers():
    """A web server container on h3 that answers with the client's address, a client container on h1."""
    h1, h3 = host_of("h1"), host_of("h3")
    script = "#!/bin/sh\\necho Content-Type: text/plain\\necho\\necho $REMOTE_ADDR\\n"
    h3.check_output(f"mkdir -p /root/ovl-www/cgi-bin && printf '{script}' > /root/ovl-www/cgi-bin/addr "
                    "&& chmod 755 /root/ovl-www/cgi-bin/addr")
    h3.check_output(f"podman run -d --name ovl-web --network flannel -v /root/ovl-www:/www:ro {IMAGE} "
                    "httpd -f -p 8080 -h /www")
    h1.check_output(f"podman run -d --name ovl-client --network flannel --cap-add NET_RAW {IMAGE} sleep 600")
    try:
        yield {name: json.loads(host.check_output(f"podman inspect {container}"))[0]
               ["NetworkSettings"]["Networks"]["flannel"]["IPAddress"]
               for name, host, container in (("h1", h1, "ovl-client"), ("h3", h3, "ovl-web"))}
    finally:
        h1.run("podman rm -f -t 0 ovl-client")
        h3.run("podman rm -f -t 0 ovl-web")


def test_containers_get_addresses_from_their_nodes_subnet(containers) -> None:
    """Each container's address is in its node's lease subnet."""
    for name, ip in containers.items():
        assert ipaddress.ip_address(ip) in node_subnet(name), (name, ip)


def test_containers_reach_each_other_over_the_overlay(containers) -> None:
    """h1's container pings h3's and fetches from it; h3 sees h1's container's own address (no NAT inside the
    overlay); flannel.1's counters rise on both ends and the no-NAT rule counts the packets."""
    h1, h3 = host_of("h1"), host_of("h3")
    tx_before = link(h1, stats=True)["stats64"]["tx"]["packets"]
    rx_before = link(h3, stats=True)["stats64"]["rx"]["packets"]
    ping = h1.run(f"podman exec ovl-client ping -c 3 -W 2 {containers['h3']}")
    assert ping.rc == 0 and " 0% packet loss" in ping.stdout, ping.stdout + ping.stderr
    for attempt in range(10):
        fetched = h1.run(f"podman exec ovl-client wget -q -O - http://{containers['h3']}:8080/cgi-bin/addr")
        if fetched.rc == 0:
            break
        time.sleep(1)
    assert fetched.rc == 0, fetched.stderr
    # busybox httpd listens on IPv6 and prints IPv4 peers mapped: [::ffff:10.5.1.2].
    assert fetched.stdout.strip().strip("[]").removeprefix("::ffff:") == containers["h1"]
    assert link(h1, stats=True)["stats64"]["tx"]["packets"] >= tx_before + 3
    assert link(h3, stats=True)["stats64"]["rx"]["packets"] >= rx_before + 3
    counters = h1.check_output("iptables -w -t nat -L CH-FLANNEL-POSTRTG -n -v -x").splitlines()
    no_nat = [line for line in counters if "ACCEPT" in line and line.split()[7:9] == ["10.5.0.0/16", "10.5.0.0/16"]]
    assert no_nat and int(no_nat[0].split()[0]) > 0, counters
