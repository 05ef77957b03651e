# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for the containerhost.platform.flannel_network module, run through main() against a fake etcdctl."""

from __future__ import annotations

import base64
import json
import typing as t

from pathlib import Path

import pytest

from ansible_collections.containerhost.platform.plugins.modules import flannel_network

FIXTURES = Path(__file__).parents[1] / "module_utils" / "fixtures"
ETCDCTL = "/usr/bin/etcdctl"
KEY = "/coreos.com/network/config"
CANONICAL = '{"Network":"10.5.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan","VNI":1}}'
PARAMS = {"network": "10.5.0.0/16", "subnet_len": 24, "backend": {"type": "vxlan", "vni": 1}}


def b64(text: str) -> str:
    """Base64 as etcdctl's v3 JSON output encodes keys and values."""
    return base64.b64encode(text.encode()).decode()


class FakeEtcdctl:
    """etcdctl against two separate keyspaces (v2 and v3, as etcd keeps them), answering in etcdctl 3.4's formats."""

    def __init__(self) -> None:
        self.v3: dict[str, str] = {}
        self.v2: dict[str, str] = {}
        self.calls: list[tuple[str, list[str]]] = []
        self.argv: list[list[str]] = []
        self.stdin: list[t.Any] = []
        self.v2_enabled = True
        self.fail_with: str | None = None

    def run_command(self, argv: t.Any, data: t.Any = None, **kwargs: t.Any) -> tuple[int, str, str]:
        """Stand-in for AnsibleModule.run_command."""
        assert isinstance(argv, list) and argv[0] == ETCDCTL
        api = kwargs["environ_update"]["ETCDCTL_API"]
        args = [arg for arg in argv[1:] if not arg.startswith("--") or arg == "--"]
        self.calls.append((api, args))
        self.argv.append(argv)
        self.stdin.append(data)
        if self.fail_with:
            return 1, "", self.fail_with
        verb, positional = args[0], args[args.index("--") + 1:]
        if api == "3":
            return self.v3_answer(verb, positional, data)
        assert api == "2" and "--output=json" in argv and "--no-sync" in argv
        if not self.v2_enabled:
            return 4, "", (FIXTURES / "flannel" / "v2-disabled.txt").read_text()
        return self.v2_answer(verb, positional, data)

    def v3_answer(self, verb: str, positional: list[str], data: t.Any) -> tuple[int, str, str]:
        """etcdctl -w json get/put/del."""
        key = positional[0]
        if verb == "get":
            kvs = [{"key": b64(key), "create_revision": 2, "mod_revision": 2, "version": 1,
                    "value": b64(self.v3[key])}] if key in self.v3 else []
            return 0, json.dumps({"header": {"revision": 3}, **({"kvs": kvs, "count": 1} if kvs else {})}), ""
        if verb == "put":
            assert len(positional) == 1 and data
            self.v3[key] = data
            return 0, json.dumps({"header": {"revision": 4}}), ""
        if verb == "del":
            deleted = int(self.v3.pop(key, None) is not None)
            return 0, json.dumps({"header": {"revision": 5}, **({"deleted": deleted} if deleted else {})}), ""
        raise AssertionError(f"unexpected etcdctl v3 call {verb}")

    def v2_answer(self, verb: str, positional: list[str], data: t.Any) -> tuple[int, str, str]:
        """etcdctl -o json get/set/rm, with the v2 error text for a missing key."""
        key = positional[0]
        missing = f"Error:  100: Key not found ({key}) [7]\n"
        node = {"key": key, "value": self.v2.get(key, ""), "nodes": None, "createdIndex": 4, "modifiedIndex": 4}
        if verb == "get":
            if key not in self.v2:
                return 4, "", missing
            return 0, json.dumps({"action": "get", "node": node, "prevNode": None}), ""
        if verb == "set":
            assert len(positional) == 1 and data
            self.v2[key] = data
            return 0, json.dumps({"action": "set", "node": {**node, "value": data}, "prevNode": None}), ""
        if verb == "rm":
            if key not in self.v2:
                return 4, "", missing
            del self.v2[key]
            return 0, json.dumps({"action": "delete", "node": {**node, "value": ""}, "prevNode": node}), ""
        raise AssertionError(f"unexpected etcdctl v2 call {verb}")

    def verbs(self) -> list[str]:
        """The API and command of each etcdctl call so far."""
        return [f"v{api} {args[0]}" for api, args in self.calls]


@pytest.fixture
def etcd(fake_commands) -> FakeEtcdctl:
    """A fake etcdctl with empty keyspaces."""
    return fake_commands(FakeEtcdctl())


@pytest.fixture
def run(etcd, warnings, run_main) -> t.Callable[..., dict[str, t.Any]]:
    """Run the module; ``fail=True`` expects a failure. Returns the result."""

    def _run(check: bool = False, diff: bool = False, fail: bool = False, **params: t.Any) -> dict[str, t.Any]:
        return run_main(flannel_network.main, {"endpoints": ["https://127.0.0.1:23790"], **params},
                        check=check, diff=diff, fail=fail)

    return _run


def test_creates_the_configuration_through_v3_on_stdin(etcd, run, warnings):
    result = run(**PARAMS, expected_nodes=3)
    assert result["changed"] is True and result["semantic_change"] is True
    assert etcd.verbs() == ["v3 get", "v3 put"]
    assert etcd.calls[1][1] == ["put", "--", KEY]
    assert etcd.stdin[1] == CANONICAL
    assert etcd.v3 == {KEY: CANONICAL} and etcd.v2 == {}
    assert result["key"] == KEY and result["etcd_api"] == "v3" and result["before"] is None
    assert result["value"] == CANONICAL
    assert result["config"] == {"Network": "10.5.0.0/16", "SubnetLen": 24, "Backend": {"Type": "vxlan", "VNI": 1}}
    assert result["effective"] == {
        "network": "10.5.0.0/16", "subnet_len": 24, "subnet_min": "10.5.1.0", "subnet_max": "10.5.255.0",
        "subnet_count": 255, "overlay_mtu": 1450,
        "backend": {"type": "vxlan", "vni": 1, "port": 8472, "gbp": False, "learning": False, "direct_routing": False}}
    assert warnings == []


def test_second_run_only_reads(etcd, run):
    run(**PARAMS)
    etcd.calls.clear()
    result = run(**PARAMS)
    assert result["changed"] is False and result["semantic_change"] is False
    assert etcd.verbs() == ["v3 get"] and result["before"] == CANONICAL


def test_check_mode_predicts_exactly_and_writes_nothing(etcd, run):
    etcd.v3[KEY] = '{"Network":"10.4.0.0/16","Backend":{"Type":"vxlan"}}'
    predicted = run(**PARAMS, check=True, diff=True)
    assert etcd.verbs() == ["v3 get"] and etcd.v3[KEY] == '{"Network":"10.4.0.0/16","Backend":{"Type":"vxlan"}}'
    real = run(**PARAMS, diff=True)
    assert predicted == real
    assert real["diff"] == {"before_header": KEY, "after_header": KEY,
                            "before": '{"Network":"10.4.0.0/16","Backend":{"Type":"vxlan"}}\n',
                            "after": CANONICAL + "\n"}
    assert etcd.v3[KEY] == CANONICAL


def test_formatting_only_difference_is_rewritten_without_a_semantic_change(etcd, run, warnings):
    etcd.v3[KEY] = '{ "network": "10.5.0.0/16", "SubnetLen": 24,\n  "Backend": {"Type": "vxlan"} }'
    result = run(**PARAMS)
    assert result["changed"] is True and result["semantic_change"] is False
    assert etcd.v3[KEY] == CANONICAL and warnings == []


def test_semantic_change_warns_to_restart_flanneld(etcd, run, warnings):
    etcd.v3[KEY] = '{"Network":"10.5.0.0/16","SubnetLen":25,"Backend":{"Type":"vxlan"}}'
    result = run(**PARAMS)
    assert result["semantic_change"] is True
    assert len(warnings) == 1 and "restart flanneld on every host" in warnings[0]


def test_a_stored_value_flanneld_refuses_is_replaced_with_a_warning(etcd, run, warnings):
    etcd.v3[KEY] = "{not json"
    result = run(**PARAMS)
    assert result["changed"] is True and result["before"] == "{not json" and etcd.v3[KEY] == CANONICAL
    assert len(warnings) == 1 and "held a configuration flanneld refuses" in warnings[0]


def test_v2_writes_the_v2_keyspace_only(etcd, run):
    result = run(**PARAMS, etcd_api="v2", prefix="/cluster-a/network/", dial_timeout=2, command_timeout=9)
    key = "/cluster-a/network/config"
    assert result["changed"] is True and result["key"] == key and result["etcd_api"] == "v2"
    assert etcd.verbs() == ["v2 get", "v2 set"]
    assert etcd.calls[1][1] == ["set", "--", key] and etcd.stdin[1] == CANONICAL
    assert etcd.argv[1][:5] == [ETCDCTL, "--endpoints=https://127.0.0.1:23790", "--no-sync", "--timeout=2s",
                                "--total-timeout=9s"]
    assert etcd.v2 == {key: CANONICAL} and etcd.v3 == {}
    etcd.calls.clear()
    again = run(**PARAMS, etcd_api="v2", prefix="/cluster-a/network/")
    assert again["changed"] is False and etcd.verbs() == ["v2 get"]


def test_v2_reads_values_exactly(etcd, run):
    etcd.v2[KEY] = CANONICAL + "\n"
    result = run(**PARAMS, etcd_api="v2")
    # The stored newline makes the bytes differ; flanneld reads the same network.
    assert result["changed"] is True and result["semantic_change"] is False and etcd.v2[KEY] == CANONICAL


def test_v2_disabled_server_fails_with_the_fix(etcd, run):
    etcd.v2_enabled = False
    result = run(**PARAMS, etcd_api="v2", fail=True)
    assert result["error_kind"] == "v2_disabled" and "--enable-v2=true" in result["msg"]
    assert etcd.verbs() == ["v2 get"] and etcd.v2 == {}


def test_connection_failure_names_the_endpoint(etcd, run):
    etcd.fail_with = (FIXTURES / "flannel" / "v2-refused.txt").read_text()
    result = run(**PARAMS, etcd_api="v2", fail=True)
    assert result["error_kind"] == "refused"
    assert result["msg"].startswith("cannot connect to etcd at https://127.0.0.1:23790: nothing accepts connections")
    assert result["key"] == KEY and result["rc"] == 1 and etcd.verbs() == ["v2 get"] and etcd.v2 == {}


@pytest.mark.parametrize("api, keyspace", [("v3", "v3"), ("v2", "v2")])
def test_absent_deletes_and_then_only_reads(etcd, run, api, keyspace):
    getattr(etcd, keyspace)[KEY] = CANONICAL
    predicted = run(state="absent", etcd_api=api, check=True, diff=True)
    assert predicted["changed"] is True and getattr(etcd, keyspace) == {KEY: CANONICAL}
    result = run(state="absent", etcd_api=api, diff=True)
    assert result == predicted
    assert result["value"] is None and result["config"] is None and result["semantic_change"] is True
    assert result["diff"]["before"] == CANONICAL + "\n" and result["diff"]["after"] == ""
    assert "effective" not in result and getattr(etcd, keyspace) == {}
    etcd.calls.clear()
    again = run(state="absent", etcd_api=api)
    assert again["changed"] is False and etcd.verbs() == [f"{api} get"]


def test_bad_input_fails_before_etcd_with_every_problem(etcd, run):
    result = run(network="10.5.0.0/22", subnet_len=24, expected_nodes=4, backend={"type": "vxlan", "mtu": 1480},
                 fail=True)
    assert result["errors"] == [
        "expected_nodes: 4 nodes do not fit: 10.5.0.0/22 in /24 subnets from 10.5.1.0 to 10.5.3.0 gives 3; "
        "accepted: at most 3 nodes, or a larger network, a longer subnet_len or a wider subnet_min..subnet_max",
        "backend.mtu: 1480 does not fit: link_mtu 1500 minus the vxlan overhead of 50 bytes leaves 1450; "
        "accepted: 68 to 1450"]
    assert result["msg"] == "; ".join(result["errors"]) and etcd.calls == []


@pytest.mark.parametrize("params, error", [
    ({"network": "10.5.0.0/16", "backend": {"type": "host-gw", "vni": 4}}, "backend.vni: not used by backend.type "
                                                                           "host-gw"),
    ({"network": "10.5.0.0/16", "backend": {"vni": 16777216}}, "backend.vni: 16777216 is out of range"),
    ({"network": "10.5.0.1/16"}, "network: '10.5.0.1/16' has host bits set"),
    ({"network": "10.5.0.0/16", "prefix": " "}, "prefix: must not be empty"),
    ({"network": "10.5.0.0/16", "client_cert": "/no/such/cert"}, "client_cert and client_key: give both or neither"),
    ({"network": "10.5.0.0/16", "link_mtu": 60}, "link_mtu: 60 minus the vxlan overhead"),
])
def test_each_bad_option_is_named(etcd, run, params, error):
    result = run(**params, fail=True)
    assert result["msg"].startswith(error) and etcd.calls == []


def test_network_is_required_for_present(etcd, run):
    result = run(fail=True)
    assert "network" in result["msg"] and etcd.calls == []


def test_backend_defaults_to_vxlan(etcd, run):
    result = run(network="10.5.0.0/16", link_mtu=9000)
    assert result["value"] == '{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan"}}'
    assert result["effective"]["overlay_mtu"] == 8950
