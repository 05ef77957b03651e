# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for the containerhost.platform.flannel_lease module, run through main() against a fake etcdctl."""

from __future__ import annotations

import base64
import json
import typing as t

import pytest

from ansible_collections.containerhost.platform.plugins.modules import flannel_lease

ETCDCTL = "/usr/bin/etcdctl"
PREFIX = "/coreos.com/network"
SUBNETS = f"{PREFIX}/subnets"
CONFIG = '{"Network":"10.5.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan","VNI":1}}'
H1, H2, H3 = "172.29.219.11", "172.29.219.12", "172.29.219.13"
NODES = [{"name": "h1", "public_ip": H1}, {"name": "h2", "public_ip": H2}, {"name": "h3", "public_ip": H3}]
DAEMON = '{"PublicIP":"192.168.64.3","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}}'


def b64(text: str) -> str:
    """Base64 as etcdctl's v3 JSON output encodes keys and values."""
    return base64.b64encode(text.encode()).decode()


def lease_value(ip: str, mac: str) -> str:
    """A vxlan lease value as flanneld writes it."""
    return (f'{{"PublicIP":"{ip}","PublicIPv6":null,"BackendType":"vxlan",'
            f'"BackendData":{{"VNI":1,"VtepMAC":"{mac}"}}}}')


class FakeEtcdctl:
    """etcdctl 3.4 against separate v3 and v2 keyspaces; keys in ``ttl`` carry an etcd lease / a TTL."""

    def __init__(self) -> None:
        self.v3: dict[str, str] = {}
        self.v2: dict[str, str] = {}
        self.ttl: set[str] = set()
        self.calls: list[tuple[str, list[str]]] = []
        self.stdin: list[t.Any] = []

    def run_command(self, argv: t.Any, data: t.Any = None, **kwargs: t.Any) -> tuple[int, str, str]:
        """Stand-in for AnsibleModule.run_command."""
        assert isinstance(argv, list) and argv[0] == ETCDCTL
        api = kwargs["environ_update"]["ETCDCTL_API"]
        flags = [arg for arg in argv[1:] if arg.startswith("--") and arg != "--"]
        args = [arg for arg in argv[1:] if arg not in flags]
        self.calls.append((api, args))
        self.stdin.append(data)
        verb, positional = args[0], args[args.index("--") + 1:]
        if api == "3":
            assert "--write-out=json" in flags
            return self.v3_answer(verb, positional, data, "--prefix" in flags)
        assert "--output=json" in flags and "--no-sync" in flags
        return self.v2_answer(verb, positional, data)

    def v3_answer(self, verb: str, positional: list[str], data: t.Any, prefix: bool) -> tuple[int, str, str]:
        """get --prefix / put / del as etcdctl -w json prints them (``lease`` on keys with one)."""
        key = positional[0]
        header = {"header": {"cluster_id": 1, "member_id": 2, "revision": 9, "raft_term": 2}}
        if verb == "get":
            assert prefix
            kvs = [{"key": b64(k), "create_revision": 3, "mod_revision": 3, "version": 1, "value": b64(v),
                    **({"lease": 7668682643680216388} if k in self.ttl else {})}
                   for k, v in sorted(self.v3.items()) if k.startswith(key)]
            return 0, json.dumps({**header, **({"kvs": kvs, "count": len(kvs)} if kvs else {})}), ""
        if verb == "put":
            assert len(positional) == 1 and data
            self.v3[key] = data
            self.ttl.discard(key)
            return 0, json.dumps(header), ""
        if verb == "del":
            deleted = int(self.v3.pop(key, None) is not None)
            return 0, json.dumps({**header, **({"deleted": deleted} if deleted else {})}), ""
        raise AssertionError(f"unexpected etcdctl v3 call {verb}")

    def v2_answer(self, verb: str, positional: list[str], data: t.Any) -> tuple[int, str, str]:
        """get / ls / set / rm as etcdctl -o json prints them (``ttl`` on keys with one)."""
        key = positional[0]
        missing = f"Error:  100: Key not found ({key}) [7]\n"
        if verb == "get":
            if key not in self.v2:
                return 4, "", missing
            node = {"key": key, "value": self.v2[key], "nodes": None, "createdIndex": 4, "modifiedIndex": 4}
            return 0, json.dumps({"action": "get", "node": node, "prevNode": None}), ""
        if verb == "ls":
            children = [{"key": k, "value": v, "nodes": None, "createdIndex": 4, "modifiedIndex": 4,
                         **({"expiration": "2026-12-04T12:36:27Z", "ttl": 86400} if k in self.ttl else {})}
                        for k, v in sorted(self.v2.items()) if k.startswith(key + "/")]
            if not children:
                return 4, "", missing
            return 0, json.dumps({"action": "get", "node": {"key": key, "dir": True, "value": "", "nodes": children},
                                  "prevNode": None}), ""
        if verb == "set":
            self.v2[key] = data
            return 0, json.dumps({"action": "set", "node": {"key": key, "value": data}, "prevNode": None}), ""
        if verb == "rm":
            self.v2.pop(key)
            return 0, json.dumps({"action": "delete", "node": {"key": key}, "prevNode": None}), ""
        raise AssertionError(f"unexpected etcdctl v2 call {verb}")

    def verbs(self) -> list[str]:
        """The API and command of each etcdctl call so far."""
        return [f"v{api} {args[0]}" for api, args in self.calls]


@pytest.fixture
def etcd(fake_commands) -> FakeEtcdctl:
    """A fake etcdctl holding the overlay's configuration in the v3 keyspace."""
    fake = FakeEtcdctl()
    fake.v3[f"{PREFIX}/config"] = CONFIG
    return fake_commands(fake)


@pytest.fixture
def run(etcd, run_main) -> t.Callable[..., dict[str, t.Any]]:
    """Run the module; ``fail=True`` expects a failure. Returns the result."""

    def _run(check: bool = False, diff: bool = False, fail: bool = False, **params: t.Any) -> dict[str, t.Any]:
        return run_main(flannel_lease.main, {"endpoints": ["http://127.0.0.1:23790"], **params},
                        check=check, diff=diff, fail=fail)

    return _run


def test_writes_reservations_in_flanneld_format_with_one_read(etcd, run):
    result = run(nodes=NODES)
    assert result["changed"] is True
    assert etcd.verbs() == ["v3 get", "v3 put", "v3 put", "v3 put"]
    assert etcd.calls[0][1] == ["get", "--", f"{PREFIX}/"]
    assert etcd.v3[f"{SUBNETS}/10.5.2.0-24"] == lease_value(H2, "0e:fc:ac:1d:db:0c")
    assert etcd.ttl == set()
    assert result["added"] == [f"{SUBNETS}/10.5.1.0-24", f"{SUBNETS}/10.5.2.0-24", f"{SUBNETS}/10.5.3.0-24"]
    assert result["removed"] == [] and result["updated"] == []
    assert result["leases"]["h1"] == {"name": "h1", "key": f"{SUBNETS}/10.5.1.0-24", "subnet": "10.5.1.0/24",
                                      "gateway": "10.5.1.0", "public_ip": H1, "vtep_mac": "0e:fc:ac:1d:db:0b",
                                      "backend": "vxlan", "reservation": True}
    assert result["network"]["Backend"] == {"Type": "vxlan", "VNI": 1, "Port": 8472, "GBP": False,
                                            "Learning": False, "DirectRouting": False}
    assert [peer["name"] for peer in result["peers"]] == ["h1", "h2", "h3"]


def test_check_mode_predicts_exactly_and_second_run_only_reads(etcd, run):
    predicted = run(nodes=NODES, check=True, diff=True)
    assert etcd.verbs() == ["v3 get"] and len(etcd.v3) == 1
    real = run(nodes=NODES, diff=True)
    assert predicted == real
    assert real["diff"]["before"] == "" and real["diff"]["after"].count("\n") == 3
    etcd.calls.clear()
    again = run(nodes=NODES, diff=True)
    assert again["changed"] is False and etcd.verbs() == ["v3 get"]
    assert again["diff"]["before"] == again["diff"]["after"] == real["diff"]["after"]
    assert again["leases"] == real["leases"]


def test_removing_a_node_deletes_its_reservation_but_never_a_flanneld_lease(etcd, run):
    run(nodes=NODES)
    etcd.v3[f"{SUBNETS}/10.5.9.0-24"] = DAEMON
    etcd.ttl.add(f"{SUBNETS}/10.5.9.0-24")
    result = run(nodes=[NODES[0], NODES[2]], diff=True)
    assert result["removed"] == [f"{SUBNETS}/10.5.2.0-24"] and result["added"] == []
    assert f"{SUBNETS}/10.5.2.0-24" not in etcd.v3 and etcd.v3[f"{SUBNETS}/10.5.9.0-24"] == DAEMON
    assert [(peer["name"], peer["reservation"]) for peer in result["peers"]] == [
        ("h1", True), ("h3", True), (None, False)]
    assert "10.5.9.0-24 " + DAEMON + "  # TTL: held by flanneld\n" in result["diff"]["after"]


def test_state_absent(etcd, run):
    run(nodes=NODES)
    result = run(nodes=NODES[:1], state="absent")
    assert result["removed"] == [f"{SUBNETS}/10.5.1.0-24"] and result["leases"] == {} and "network" not in result
    assert sorted(etcd.v3) == [f"{PREFIX}/config", f"{SUBNETS}/10.5.2.0-24", f"{SUBNETS}/10.5.3.0-24"]


def test_missing_configuration_fails_clearly(etcd, run):
    del etcd.v3[f"{PREFIX}/config"]
    result = run(nodes=NODES, fail=True)
    assert result["msg"] == (f"{PREFIX}/config does not exist: the overlay has no network configuration; write it with "
                             "containerhost.platform.flannel_network first")
    assert etcd.verbs() == ["v3 get"]


def test_bad_nodes_fail_before_etcd_is_asked(etcd, run):
    result = run(nodes=[{"name": "h1", "public_ip": "h1.example"}, {"name": "h2", "public_ip": H2,
                                                                    "vtep_mac": "01:00:5e:00:00:01"}], fail=True)
    assert result["errors"] == [
        "nodes[0].public_ip: 'h1.example' is not an IPv4 address; accepted: the node's public IPv4 address "
        "(flanneld's --public-ip)",
        "nodes[1].vtep_mac: 01:00:5e:00:00:01 is a multicast MAC address; accepted: a unicast one (even first octet)"]
    assert etcd.calls == []


def test_v2_reads_and_writes_the_v2_keyspace(etcd, run):
    etcd.v2[f"{PREFIX}/config"] = CONFIG
    etcd.v2[f"{SUBNETS}/10.5.1.0-24"] = DAEMON
    etcd.ttl.add(f"{SUBNETS}/10.5.1.0-24")
    result = run(nodes=NODES[:2], etcd_api="v2")
    assert etcd.verbs() == ["v2 get", "v2 ls", "v2 set", "v2 set"]
    assert etcd.calls[1][1] == ["ls", "--", SUBNETS]
    assert result["added"] == [f"{SUBNETS}/10.5.2.0-24", f"{SUBNETS}/10.5.3.0-24"]
    assert etcd.v2[f"{SUBNETS}/10.5.1.0-24"] == DAEMON and list(etcd.v3) == [f"{PREFIX}/config"]
    etcd.calls.clear()
    assert run(nodes=NODES[:2], etcd_api="v2")["changed"] is False
    assert etcd.verbs() == ["v2 get", "v2 ls"]
