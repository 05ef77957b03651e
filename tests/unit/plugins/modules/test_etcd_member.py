# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for the containerhost.platform.etcd_member module, run through main() against a fake etcdctl."""

from __future__ import annotations

import json
import typing as t

from pathlib import Path

import pytest

from ansible_collections.containerhost.platform.plugins.modules import etcd_member

FIXTURES = Path(__file__).parents[1] / "module_utils" / "fixtures" / "etcd"
ETCDCTL = "/usr/bin/etcdctl"


class FakeCluster:
    """etcdctl member list/add/remove/promote against a member table, printing etcdctl 3.4's output formats."""

    def __init__(self) -> None:
        # Starts as the captured two-member cluster.
        self.members: list[dict[str, t.Any]] = json.loads((FIXTURES / "member-list-2.json").read_text())["members"]
        self.calls: list[list[str]] = []
        self.next_id = 0x1ad38f829c6dd69
        self.fail_with: str | None = None

    def run_command(self, argv: t.Any, **kwargs: t.Any) -> tuple[int, str, str]:
        """Stand-in for AnsibleModule.run_command."""
        assert isinstance(argv, list) and argv[0] == ETCDCTL
        connection_flags = ("--endpoints", "--dial", "--command", "--write", "--cacert", "--cert", "--key")
        args = [arg for arg in argv[1:] if not arg.startswith(connection_flags)]
        self.calls.append(args)
        if self.fail_with and args[:2] != ["member", "list"]:
            return 1, "", self.fail_with
        verb = args[1]
        if verb == "list":
            self.members.sort(key=lambda m: m["ID"])
            return 0, json.dumps({"header": {"cluster_id": 1}, "members": self.members}), ""
        if verb == "add":
            urls = next(a for a in args if a.startswith("--peer-urls="))[len("--peer-urls="):].split(",")
            member = {"ID": self.next_id, "peerURLs": urls, **({"isLearner": True} if "--learner" in args else {})}
            self.members.append(member)
            self.members.sort(key=lambda m: m["ID"])
            name = args[-1]
            cluster = ",".join(f"{name if m is member else m.get('name', '')}={u}" for m in self.members
                               for u in m["peerURLs"])
            return 0, (f"Member {self.next_id:16x} added to cluster  48276a8f75b6a87\n\nETCD_NAME=\"{name}\"\n"
                       f"ETCD_INITIAL_CLUSTER=\"{cluster}\"\nETCD_INITIAL_ADVERTISE_PEER_URLS=\"{','.join(urls)}\"\n"
                       "ETCD_INITIAL_CLUSTER_STATE=\"existing\"\n"), ""
        member_id = int(args[-1], 16)
        if verb == "remove":
            self.members = [m for m in self.members if m["ID"] != member_id]
            return 0, f"Member {member_id:16x} removed from cluster  48276a8f75b6a87\n", ""
        if verb == "promote":
            for member in self.members:
                if member["ID"] == member_id:
                    member.pop("isLearner", None)
            return 0, f"Member {member_id:16x} promoted in cluster  48276a8f75b6a87\n", ""
        raise AssertionError(f"unexpected etcdctl call {args}")

    def verbs(self) -> list[str]:
        """The member subcommands run so far."""
        return [call[1] for call in self.calls]

    def start(self, name: str, client_url: str) -> None:
        """The added member starts: it gets its name and client URL."""
        for member in self.members:
            if "name" not in member:
                member.update(name=name, clientURLs=[client_url])


@pytest.fixture
def cluster(fake_commands) -> FakeCluster:
    """A fake two-member cluster."""
    return fake_commands(FakeCluster())


@pytest.fixture
def run(cluster, run_main) -> t.Callable[..., dict[str, t.Any]]:
    """Run the module; ``fail=True`` expects a failure. Returns the result."""

    def _run(check: bool = False, diff: bool = False, fail: bool = False, **params: t.Any) -> dict[str, t.Any]:
        return run_main(etcd_member.main, {"endpoints": ["https://127.0.0.1:23790"], **params},
                        check=check, diff=diff, fail=fail)

    return _run


M3 = {"name": "m3", "peer_urls": ["http://127.0.0.1:23802"]}
M3_CLUSTER = "m3=http://127.0.0.1:23802,m1=http://127.0.0.1:23800,m2=http://127.0.0.1:23801"


def test_add_reports_initial_cluster(cluster, run):
    result = run(**M3)
    assert result["changed"] is True and cluster.verbs() == ["list", "add", "list"]
    assert result["initial_cluster"] == M3_CLUSTER and result["initial_cluster_state"] == "existing"
    assert result["member"]["id"] == "1ad38f829c6dd69" and result["member"]["started"] is False
    assert [m["name"] for m in result["members_before"]] == ["m1", "m2"]
    assert [m["id"] for m in result["members_after"]] == ["1ad38f829c6dd69", "2e1259d415f2a040", "3165b866940ec1fb"]


def test_added_member_is_not_added_again_started_or_not(cluster, run):
    run(**M3)
    cluster.calls.clear()
    again = run(**M3)
    assert again["changed"] is False and cluster.verbs() == ["list"]
    # The string is rebuilt from the member list exactly as etcdctl printed it.
    assert again["initial_cluster"] == M3_CLUSTER
    cluster.start("m3", "https://127.0.0.1:23792")
    assert run(**M3)["changed"] is False


def test_check_mode_predicts_the_add(cluster, run):
    result = run(check=True, diff=True, **M3)
    assert result["changed"] is True and cluster.verbs() == ["list"]
    assert result["members_after"][-1] == {"id": None, "name": "", "peer_urls": ["http://127.0.0.1:23802"],
                                           "client_urls": [], "is_learner": False, "started": False}
    assert result["initial_cluster"] == "m1=http://127.0.0.1:23800,m2=http://127.0.0.1:23801,m3=http://127.0.0.1:23802"
    assert result["diff"]["after"].endswith("- http://127.0.0.1:23802 (not started)\n")


def test_learner_added_then_promoted(cluster, run):
    added = run(learner=True, **M3)
    assert "--learner" in cluster.calls[1] and added["member"]["is_learner"] is True
    assert run(learner=True, **M3)["changed"] is False
    cluster.calls.clear()
    predicted = run(check=True, **M3)
    assert predicted["changed"] is True and cluster.verbs() == ["list"]
    promoted = run(**M3)
    assert promoted["changed"] is True and cluster.verbs()[-2:] == ["promote", "list"]
    assert promoted["member"]["is_learner"] is False
    assert run(**M3)["changed"] is False


@pytest.mark.parametrize("params", [{"name": "m2"}, {"peer_urls": ["http://127.0.0.1:23801"]}])
def test_remove_by_name_or_peer_url(cluster, run, params):
    predicted = run(state="absent", check=True, **params)
    assert predicted["changed"] is True and cluster.verbs() == ["list"]
    result = run(state="absent", diff=True, **params)
    assert result["changed"] is True and cluster.calls[2] == ["member", "remove", "--", "3165b866940ec1fb"]
    assert [m["name"] for m in result["members_after"]] == ["m1"] == [m["name"] for m in predicted["members_after"]]
    assert result["diff"]["before"] == "m1 http://127.0.0.1:23800\nm2 http://127.0.0.1:23801\n"
    assert run(state="absent", **params)["changed"] is False


@pytest.mark.parametrize("state", ["present", "absent"])
def test_without_a_member_only_lists(cluster, run, state):
    result = run(state=state)
    assert result["changed"] is False and cluster.verbs() == ["list"]
    assert len(result["members_after"]) == 2 and result["member"] is None and "initial_cluster" not in result


def test_partly_matching_peer_urls_fail(cluster, run):
    result = run(name="m2", peer_urls=["http://127.0.0.1:23801", "http://10.0.0.2:2380"], fail=True)
    assert result["msg"].startswith("peer_urls: member 3165b866940ec1fb (m2) has peer URLs http://127.0.0.1:23801")
    assert cluster.verbs() == ["list"]


def test_several_matches_fail(cluster, run):
    result = run(state="absent", peer_urls=["http://127.0.0.1:23800", "http://127.0.0.1:23801"], fail=True)
    assert "matches several members" in result["msg"] and cluster.verbs() == ["list"]


@pytest.mark.parametrize("params, message", [
    ({"name": "m3"}, "peer_urls: required with state present"),
    ({"peer_urls": ["http://127.0.0.1:23802"]}, "name: required with state present"),
    ({"name": " ", "peer_urls": ["http://127.0.0.1:23802"]}, "name: must not be empty"),
    ({"name": "m3", "peer_urls": ["127.0.0.1:2380"]}, "peer_urls: '127.0.0.1:2380' is not a peer URL"),
    ({"client_key": "/k"}, "client_cert and client_key: give both or neither"),
])
def test_bad_options_fail_before_etcd_is_asked(cluster, run, params, message):
    assert message in run(fail=True, **params)["msg"]
    assert cluster.calls == []


def test_unhealthy_cluster_refusal_is_explained(cluster, run):
    cluster.fail_with = (FIXTURES / "err-unhealthy-cluster.txt").read_text()
    result = run(fail=True, **M3)
    assert result["error_kind"] == "unhealthy" and "added but not started" in result["msg"]
    assert [m["name"] for m in result["members_before"]] == ["m1", "m2"]
