# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for the etcdctl runner: argv, parsing of output captured from etcdctl 3.4.23, error classification."""

from __future__ import annotations

import typing as t

from pathlib import Path

import pytest

from ansible_collections.containerhost.platform.plugins.module_utils import _etcdctl as ec

FIXTURES = Path(__file__).parent / "fixtures" / "etcd"
TLS = ec.Connection(("https://127.0.0.1:23790", "https://127.0.0.1:23791"), "/pki/ca.crt", "/pki/client.crt",
                    "/pki/client.key", 2, 5)


def fixture(name: str) -> str:
    """The text of a captured output."""
    return (FIXTURES / name).read_text()


class FakeModule:
    """Records run_command calls (argv and stdin) and answers from a queue."""

    def __init__(self, answers: list[tuple[int, str, str]] | None = None) -> None:
        self.calls: list[dict[str, t.Any]] = []
        self.answers = list(answers or [])

    def get_bin_path(self, name: str, required: bool = False) -> str:
        """Every tool lives in /usr/bin."""
        return f"/usr/bin/{name}"

    def run_command(self, argv: t.Any, environ_update: dict | None = None, data: t.Any = None,
                    binary_data: bool = False, **kwargs: t.Any) -> tuple[int, str, str]:
        """Record the call and return the next answer."""
        assert isinstance(argv, list)
        assert environ_update and environ_update["ETCDCTL_API"] == "3"
        self.calls.append({"argv": argv, "data": data, "binary_data": binary_data})
        return self.answers.pop(0) if self.answers else (0, "", "")


def test_build_argv_with_tls_and_timeouts():
    argv = ec.build_argv("/usr/bin/etcdctl", TLS, ["get", "--", "/k"])
    assert argv == ["/usr/bin/etcdctl", "--endpoints=https://127.0.0.1:23790,https://127.0.0.1:23791",
                    "--dial-timeout=2s", "--command-timeout=5s", "--cacert=/pki/ca.crt", "--cert=/pki/client.crt",
                    "--key=/pki/client.key", "--write-out=json", "get", "--", "/k"]


def test_build_argv_plain_without_json():
    argv = ec.build_argv("etcdctl", ec.Connection(("http://127.0.0.1:2379",)), ["member", "add"], output=None)
    assert argv == ["etcdctl", "--endpoints=http://127.0.0.1:2379", "--dial-timeout=5s", "--command-timeout=15s",
                    "member", "add"]


def test_parse_get_decodes_base64_keys_and_values():
    found = ec.parse_get(fixture("get-prefix.json"))
    assert list(found) == ["/fx/a", "/fx/b"]
    assert found["/fx/a"]["value"] == "plain value"
    assert found["/fx/b"]["value"] == '{"Network":"10.1.0.0/16","Backend":{"Type":"vxlan"}}'
    assert found["/fx/b"]["mod_revision"] == 3


def test_parse_get_missing_key_and_empty_value():
    assert ec.parse_get(fixture("get-missing.json")) == {}
    # etcd omits "value" for an empty value (captured from `put /t/empty ""`).
    text = ('{"header":{"revision":7},"kvs":[{"key":"L3QvZW1wdHk=","create_revision":7,"mod_revision":7,'
            '"version":1}],"count":1}')
    assert ec.parse_get(text)["/t/empty"]["value"] == ""


def test_parse_deleted():
    assert ec.parse_deleted(fixture("del.json")) == 1
    assert ec.parse_deleted('{"header":{"revision":6}}') == 0


def test_parse_members_converts_decimal_ids_to_hex():
    members = ec.parse_members(fixture("member-list-2.json"))
    assert [(m["id"], m["name"], m["peer_urls"], m["started"]) for m in members] == [
        ("2e1259d415f2a040", "m1", ["http://127.0.0.1:23800"], True),
        ("3165b866940ec1fb", "m2", ["http://127.0.0.1:23801"], True)]


def test_parse_members_single_member_cluster():
    assert [m["id"] for m in ec.parse_members(fixture("member-list-1.json"))] == ["2e1259d415f2a040"]


def test_parse_members_unstarted_and_learner():
    unstarted = ec.parse_members(fixture("member-list-unstarted.json"))[1]
    assert unstarted == {"id": "3165b866940ec1fb", "name": "", "peer_urls": ["http://127.0.0.1:23801"],
                         "client_urls": [], "is_learner": False, "started": False}
    learner = ec.parse_members(fixture("member-list-learner.json"))[0]
    assert learner["id"] == "1ad38f829c6dd69" and learner["is_learner"] is True


@pytest.mark.parametrize("name, member_id, cluster", [
    ("member-add.txt", "3165b866940ec1fb", "m1=http://127.0.0.1:23800,m2=http://127.0.0.1:23801"),
    # etcdctl pads the hex ID with spaces to 16 characters.
    ("member-add-learner.txt", "1ad38f829c6dd69",
     "m3=http://127.0.0.1:23802,m1=http://127.0.0.1:23800,m2=http://127.0.0.1:23801"),
])
def test_parse_member_add(name, member_id, cluster):
    added = ec.parse_member_add(fixture(name))
    assert added["id"] == member_id
    assert added["initial_cluster"] == cluster
    assert added["settings"]["ETCD_INITIAL_CLUSTER_STATE"] == "existing"


def test_parse_member_add_refuses_other_output():
    with pytest.raises(ec.EtcdError, match="could not read the new member"):
        ec.parse_member_add("OK\n")


def test_initial_cluster_matches_what_etcdctl_printed():
    # The learner fixture's list was read right after the add that printed member-add-learner.txt.
    members = ec.parse_members(fixture("member-list-learner.json"))
    printed = ec.parse_member_add(fixture("member-add-learner.txt"))
    assert ec.initial_cluster(members, printed["id"], "m3") == printed["initial_cluster"]


def test_parse_endpoint_health_and_status():
    assert ec.parse_endpoint_health(fixture("endpoint-health.json")) == [
        {"endpoint": "https://127.0.0.1:23790", "health": True, "error": ""}]
    unhealthy = ec.parse_endpoint_health(fixture("err-health-refused.txt"))
    assert unhealthy == [{"endpoint": "https://127.0.0.1:23799", "health": False, "error": "context deadline exceeded"}]
    status = ec.parse_endpoint_status(fixture("endpoint-status.json"))[0]
    assert status["member_id"] == "2e1259d415f2a040" and status["is_leader"] is True
    assert status["version"] == "3.4.23"


@pytest.mark.parametrize("name, kind", [
    ("member-add-exists.txt", "exists"),
    ("member-remove-unknown.txt", "not_found"),
    ("err-unhealthy-cluster.txt", "unhealthy"),
    ("err-refused.txt", "timeout"),
    ("err-no-client-cert.txt", "timeout"),
    ("err-unknown-ca.txt", "timeout"),
])
def test_classify_captured_errors(name, kind):
    assert ec.classify(fixture(name)) == kind


def test_classify_other_markers():
    assert ec.classify("Error: x509: certificate signed by unknown authority") == "tls"
    assert ec.classify("Error: dial tcp 127.0.0.1:1: connect: connection refused") == "refused"
    assert ec.classify("Error: etcdserver: permission denied") == "auth"
    assert ec.classify("Error: something new") == "failed"


def test_failed_targets_map_back_to_endpoint_urls():
    assert ec.failed_targets(fixture("err-refused.txt"), ["https://127.0.0.1:23799"]) == ["https://127.0.0.1:23799"]
    assert ec.failed_targets("no warnings", ["https://a:1"]) == []


def test_explain_timeout_refined_by_probes():
    kind, msg = ec.explain("timeout", "context deadline exceeded", ["https://127.0.0.1:23799"],
                           {"https://127.0.0.1:23799": "connection refused"})
    assert kind == "refused" and "https://127.0.0.1:23799 (connection refused)" in msg
    kind, msg = ec.explain("timeout", "context deadline exceeded", ["https://127.0.0.1:23790"],
                           {"https://127.0.0.1:23790": "open"})
    assert kind == "tls" and "client_cert" in msg and "https://127.0.0.1:23790" in msg


def test_run_failure_names_endpoint_and_kind(monkeypatch):
    monkeypatch.setattr(ec, "tcp_probe", lambda endpoint, timeout: "open")
    module = FakeModule([(1, "", fixture("err-no-client-cert.txt"))])
    runner = ec.Etcdctl(module, ec.Connection(("https://127.0.0.1:23790",)))
    with pytest.raises(ec.EtcdError) as exc_info:
        runner.get_range("/k")
    assert exc_info.value.kind == "tls"
    assert "https://127.0.0.1:23790" in str(exc_info.value)
    assert exc_info.value.result()["rc"] == 1


def test_unhealthy_failure_explains_the_fix():
    module = FakeModule([(1, "", fixture("err-unhealthy-cluster.txt"))])
    with pytest.raises(ec.EtcdError, match="added but not started") as exc_info:
        ec.Etcdctl(module, TLS).member_add("m3", ["http://127.0.0.1:23802"])
    assert exc_info.value.kind == "unhealthy"


def test_put_sends_the_value_on_stdin_only():
    module = FakeModule()
    ec.Etcdctl(module, TLS).put("/secret", "s3cr3t\n")
    call = module.calls[0]
    assert call["argv"][-3:] == ["put", "--", "/secret"]
    assert not any("s3cr3t" in arg for arg in call["argv"])
    assert call["data"] == "s3cr3t\n" and call["binary_data"] is True


def test_put_empty_value_is_an_argument():
    module = FakeModule()
    ec.Etcdctl(module, TLS).put("/k", "")
    assert module.calls[0]["argv"][-4:] == ["put", "--", "/k", ""] and module.calls[0]["data"] is None


def test_member_commands_argv():
    module = FakeModule([(0, fixture("member-add-learner.txt"), ""), (0, "", ""), (0, "", "")])
    runner = ec.Etcdctl(module, TLS)
    runner.member_add("m3", ["http://127.0.0.1:23802"], learner=True)
    runner.member_promote("1ad38f829c6dd69")
    runner.member_remove("1ad38f829c6dd69")
    assert module.calls[0]["argv"][-5:] == ["member", "add", "--learner", "--peer-urls=http://127.0.0.1:23802",
                                            "--", "m3"][-5:]
    assert "--write-out=json" not in module.calls[0]["argv"]
    assert module.calls[1]["argv"][-4:] == ["member", "promote", "--", "1ad38f829c6dd69"]
    assert module.calls[2]["argv"][-4:] == ["member", "remove", "--", "1ad38f829c6dd69"]


@pytest.mark.parametrize("keys, prefixes, expected", [
    (["/net/a", "/net/b"], [], ("/net/a", "/net/c")),
    (["/net/b"], ["/net/old/"], ("/net/b", "/net/old0")),
    (["/a\U0010ffff"], [], ("/a\U0010ffff", "/b")),
])
def test_covering_range(keys, prefixes, expected):
    assert ec.covering_range(keys, prefixes) == expected


@pytest.mark.parametrize("params, problem", [
    ({"endpoints": []}, "at least one endpoint"),
    ({"endpoints": ["https://a:1,https://b:1"]}, "is not one endpoint"),
    ({"endpoints": ["ftp://a:1"]}, "unsupported scheme"),
    ({"endpoints": ["https://a:1"], "client_cert": "/c"}, "give both or neither"),
    ({"endpoints": ["https://a:1"], "dial_timeout": 0}, "dial_timeout"),
])
def test_validate_connection(params, problem):
    problems = ec.validate_connection(params)
    assert len(problems) == 1 and problem in problems[0]


def test_validate_connection_accepts_good_options():
    assert ec.validate_connection({"endpoints": ["https://127.0.0.1:2379", "127.0.0.1:2379"],
                                   "client_cert": "/c", "client_key": "/k", "dial_timeout": 3}) == []


def test_member_id_hex():
    assert ec.member_id_hex(3319814642761637952) == "2e1259d415f2a040"
    assert ec.member_id_hex(" 1AD38F829C6DD69") == "1ad38f829c6dd69"
