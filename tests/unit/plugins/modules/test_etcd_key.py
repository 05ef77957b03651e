# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for the containerhost.platform.etcd_key module, run through main() against a small fake etcdctl."""

from __future__ import annotations

import base64
import json
import typing as t

from pathlib import Path

import pytest

from ansible_collections.containerhost.platform.plugins.modules import etcd_key

FIXTURES = Path(__file__).parents[1] / "module_utils" / "fixtures" / "etcd"
ETCDCTL = "/usr/bin/etcdctl"


def b64(text: str) -> str:
    """Base64 as etcdctl's JSON output encodes keys and values."""
    return base64.b64encode(text.encode()).decode()


class FakeEtcdctl:
    """etcdctl get/put/del against a dict, answering in etcdctl 3.4's JSON format."""

    def __init__(self) -> None:
        self.data: dict[str, str] = {}
        self.calls: list[list[str]] = []
        self.stdin: list[t.Any] = []
        self.fail_with: str | None = None

    def run_command(self, argv: t.Any, data: t.Any = None, **kwargs: t.Any) -> tuple[int, str, str]:
        """Stand-in for AnsibleModule.run_command."""
        assert isinstance(argv, list) and argv[0] == ETCDCTL
        assert kwargs["environ_update"]["ETCDCTL_API"] == "3"
        args = [arg for arg in argv[1:] if not arg.startswith("--") or arg in ("--", "--prefix")]
        self.calls.append(args)
        self.stdin.append(data)
        if self.fail_with:
            return 1, "", self.fail_with
        verb, rest = args[0], args[1:]
        prefix = "--prefix" in rest
        positional = rest[rest.index("--") + 1:]
        if verb == "get":
            start = positional[0]
            if prefix:
                keys = [k for k in self.data if k.startswith(start)]
            elif len(positional) == 2:
                keys = [k for k in self.data if start <= k < positional[1]]
            else:
                keys = [k for k in self.data if k == start]
            kvs = [{"key": b64(k), "create_revision": 2, "mod_revision": 2, "version": 1,
                    **({"value": b64(self.data[k])} if self.data[k] else {})} for k in sorted(keys)]
            return 0, json.dumps({"header": {"revision": 3}, **({"kvs": kvs, "count": len(kvs)} if kvs else {})}), ""
        if verb == "put":
            value = positional[1] if len(positional) == 2 else data
            assert value is not None
            self.data[positional[0]] = value
            return 0, json.dumps({"header": {"revision": 4}}), ""
        if verb == "del":
            keys = [k for k in self.data if (k.startswith(positional[0]) if prefix else k == positional[0])]
            for key in keys:
                del self.data[key]
            return 0, json.dumps({"header": {"revision": 5}, **({"deleted": len(keys)} if keys else {})}), ""
        raise AssertionError(f"unexpected etcdctl call {args}")

    def verbs(self) -> list[str]:
        """The etcdctl commands run so far."""
        return [call[0] for call in self.calls]


@pytest.fixture
def etcd(fake_commands) -> FakeEtcdctl:
    """A fake etcdctl with an empty keyspace."""
    return fake_commands(FakeEtcdctl())


@pytest.fixture
def run(etcd, run_main) -> t.Callable[..., dict[str, t.Any]]:
    """Run the module; ``fail=True`` expects a failure. Returns the result."""

    def _run(check: bool = False, diff: bool = False, fail: bool = False, **params: t.Any) -> dict[str, t.Any]:
        return run_main(etcd_key.main, {"endpoints": ["https://127.0.0.1:23790"], **params},
                        check=check, diff=diff, fail=fail)

    return _run


NETWORK = [
    {"key": "/net/config", "value": {"Network": "10.1.0.0/16", "Backend": {"Type": "vxlan"}}},
    {"key": "/net/mode", "value": "fast\n"},
    {"key": "/net/old/", "prefix": True, "state": "absent"},
]


def test_writes_with_one_get_and_values_on_stdin(etcd, run):
    etcd.data["/net/old/a"] = "1"
    etcd.data["/net/other"] = "untouched"
    result = run(keys=NETWORK)
    assert result["changed"] is True
    # One ranged get covers every key sharing the /net/ prefix.
    assert etcd.verbs() == ["get", "put", "put", "del"]
    assert etcd.calls[0] == ["get", "--", "/net/config", "/net/old0"]
    assert etcd.data == {"/net/config": '{"Backend":{"Type":"vxlan"},"Network":"10.1.0.0/16"}',
                         "/net/mode": "fast\n", "/net/other": "untouched"}
    assert etcd.stdin[1] == '{"Backend":{"Type":"vxlan"},"Network":"10.1.0.0/16"}'
    assert all("fast\n" not in arg for call in etcd.calls for arg in call)
    assert result["keys"][2] == {"key": "/net/old/", "state": "absent", "prefix": True, "changed": True,
                                 "before": {"/net/old/a": "1"}, "after": {}}


def test_second_run_only_reads(etcd, run):
    run(keys=NETWORK)
    etcd.calls.clear()
    result = run(keys=NETWORK)
    assert result["changed"] is False and etcd.verbs() == ["get"]
    assert [entry["changed"] for entry in result["keys"]] == [False, False, False]


def test_check_mode_predicts_exactly_and_writes_nothing(etcd, run):
    etcd.data["/net/mode"] = "slow"
    result = run(keys=NETWORK, check=True, diff=True)
    assert result["changed"] is True and etcd.verbs() == ["get"] and etcd.data == {"/net/mode": "slow"}
    assert result["diff"] == {"before": {"/net/mode": "slow"},
                              "after": {"/net/config": '{"Backend":{"Type":"vxlan"},"Network":"10.1.0.0/16"}',
                                        "/net/mode": "fast\n"}}
    real = run(keys=NETWORK, diff=True)
    assert real["diff"] == result["diff"] and real["keys"] == result["keys"]


def test_json_value_compared_as_data(etcd, run):
    etcd.data["/net/config"] = '{ "Network": "10.1.0.0/16",\n  "Backend": {"Type": "vxlan"} }'
    result = run(key="/net/config", value={"Backend": {"Type": "vxlan"}, "Network": "10.1.0.0/16"})
    assert result["changed"] is False and etcd.verbs() == ["get"]
    assert etcd.calls[0] == ["get", "--", "/net/config"]


def test_json_value_differing_as_data_is_rewritten(etcd, run):
    etcd.data["/net/config"] = '{"Network": "10.2.0.0/16"}'
    result = run(key="/net/config", value={"Network": "10.1.0.0/16"})
    assert result["changed"] is True and etcd.data["/net/config"] == '{"Network":"10.1.0.0/16"}'


def test_string_value_that_looks_like_json_is_compared_exactly(etcd, run):
    etcd.data["/k"] = '{"a": 1}'
    assert run(key="/k", value='{"a":1}')["changed"] is True
    assert etcd.data["/k"] == '{"a":1}'


def test_number_is_stored_as_json(etcd, run):
    run(key="/count", value=3)
    assert etcd.data["/count"] == "3"
    assert run(key="/count", value=3)["changed"] is False


def test_empty_value(etcd, run):
    result = run(key="/empty", value="")
    assert result["changed"] is True and etcd.data["/empty"] == ""
    assert run(key="/empty", value="")["changed"] is False


def test_keys_without_common_prefix_are_read_one_by_one(etcd, run):
    etcd.data.update({"a": "1", "b": "2"})
    result = run(keys=[{"key": "a", "state": "read"}, {"key": "b", "value": "2"}, {"key": "c/", "prefix": True,
                                                                                   "state": "read"}])
    assert etcd.calls == [["get", "--", "a"], ["get", "--", "b"], ["get", "--prefix", "--", "c/"]]
    assert result["changed"] is False
    assert [entry["after"] for entry in result["keys"]] == ["1", "2", {}]


def test_absent_key(etcd, run):
    etcd.data["/gone"] = "x"
    result = run(key="/gone", state="absent", diff=True)
    assert result["changed"] is True and "/gone" not in etcd.data
    assert result["diff"] == {"before": {"/gone": "x"}, "after": {}}
    assert run(key="/gone", state="absent")["changed"] is False


def test_read_prefix(etcd, run):
    etcd.data.update({"/p/a": "1", "/p/b": "2", "/q": "3"})
    result = run(key="/p/", prefix=True, state="read")
    assert result["changed"] is False and result["keys"][0]["after"] == {"/p/a": "1", "/p/b": "2"}


@pytest.mark.parametrize("params, message", [
    ({"keys": [{"key": "/a"}]}, "keys[0] (/a): value: required with state present"),
    ({"keys": [{"key": "/a", "state": "absent", "value": "x"}]}, "keys[0] (/a): value: not used with state absent"),
    ({"keys": [{"key": "/a", "value": "x", "prefix": True}]}, "keys[0] (/a): prefix: only with state absent or read"),
    ({"keys": [{"key": "", "state": "absent", "prefix": True}]}, "keys[0] (): key: must not be empty"),
    ({"keys": [{"key": "/a", "value": "1"}, {"key": "/a", "value": "2"}]}, "keys[1] (/a): key: already declared"),
    ({"keys": [{"key": "/a/b", "value": "1"}, {"key": "/a/", "prefix": True, "state": "absent"}]},
     "keys[0] (/a/b): key: is below the prefix /a/"),
    ({"keys": [{"key": "/a", "vaule": "1"}]}, "keys[0] (/a): unsupported option"),
    ({"key": "/a", "value": "1", "endpoints": ["https://a:1,https://b:1"]}, "endpoints: 'https://a:1,https://b:1'"),
    ({"key": "/a", "value": "1", "ca_cert": "/nonexistent/ca.crt"}, "ca_cert: /nonexistent/ca.crt is not a file"),
])
def test_bad_entries_fail_before_etcd_is_asked(etcd, run, params, message):
    result = run(fail=True, **params)
    assert message in result["msg"]
    assert etcd.calls == []


def test_etcd_failure_is_reported_with_kind(etcd, run):
    etcd.fail_with = (FIXTURES / "err-unhealthy-cluster.txt").read_text()
    result = run(key="/a", value="1", fail=True)
    assert result["error_kind"] == "unhealthy" and "https://127.0.0.1:23790" in result["msg"]
    assert result["keys"][0]["key"] == "/a"
