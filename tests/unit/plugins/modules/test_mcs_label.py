# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for the containerhost.platform.mcs_label module, run through main() with a fake /proc, /sys and podman."""

from __future__ import annotations

import json
import stat
import typing as t

from pathlib import Path

import pytest

from ansible_collections.containerhost.platform.plugins.module_utils._mcs import McsAllocator, format_label
from ansible_collections.containerhost.platform.plugins.modules import mcs_label

PODMAN = "/usr/bin/podman"
FIXTURES = Path(__file__).parents[1] / "module_utils" / "fixtures" / "mcs"


class FakeHost:
    """A root directory with /proc and /sys/fs/selinux, and podman answering from a list of containers."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.proc = root / "proc"
        self.proc.mkdir(parents=True)
        self.state_path = root / "var" / "lib" / "containerhost" / "mcs" / "allocations.json"
        self.podman_installed = False
        self.containers: list[dict[str, t.Any]] = []
        self.calls: list[list[str]] = []
        self.fail_ps = False

    def set_selinux(self, mode: str) -> None:
        """disabled (no selinuxfs), permissive or enforcing."""
        enforce = self.root / "sys" / "fs" / "selinux" / "enforce"
        if mode == "disabled":
            enforce.unlink(missing_ok=True)
            return
        enforce.parent.mkdir(parents=True, exist_ok=True)
        enforce.write_text("1" if mode == "enforcing" else "0")

    def add_process(self, pid: int, context: str) -> None:
        """A running process with an SELinux context."""
        (self.proc / str(pid) / "attr").mkdir(parents=True)
        (self.proc / str(pid) / "attr" / "current").write_text(f"{context}\x00")

    def add_container(self, name: str, label: str) -> None:
        """A podman container running with a level (as podman inspect shows it on an SELinux host)."""
        self.containers.append({"Id": f"{len(self.containers):064x}", "Name": name,
                                "ProcessLabel": f"system_u:system_r:container_t:{label}",
                                "MountLabel": f"system_u:object_r:container_file_t:{label}",
                                "HostConfig": {"SecurityOpt": []}})

    def run_command(self, argv: t.Any, **kwargs: t.Any) -> tuple[int, str, str]:
        """Stand-in for AnsibleModule.run_command: podman ps and podman container inspect."""
        assert isinstance(argv, list) and argv[0] == PODMAN
        assert kwargs["environ_update"]["LC_ALL"] == "C"
        self.calls.append(argv[1:])
        if argv[1] == "ps":
            assert argv[2:] == ["--all", "--format", "json"]
            if self.fail_ps:
                return 125, "", "Error: database is locked\n"
            return 0, json.dumps([{"Id": c["Id"], "Names": [c["Name"]]} for c in self.containers]), ""
        assert argv[1:4] == ["container", "inspect", "--"]
        wanted = argv[4:]
        return 0, json.dumps([c for c in self.containers if c["Id"] in wanted]), ""

    def recorded(self) -> dict[str, str]:
        """The allocations in the state file."""
        return json.loads(self.state_path.read_text())["allocations"]


@pytest.fixture
def host(tmp_path: Path, fake_commands, monkeypatch: pytest.MonkeyPatch) -> FakeHost:
    """A host with SELinux enforcing, no processes with labels and no podman."""
    fake = FakeHost(tmp_path / "root")
    fake.set_selinux("enforcing")
    monkeypatch.setattr(mcs_label, "_ROOT", str(fake.root))
    return fake_commands(fake, lambda name: PODMAN if name == "podman" and fake.podman_installed else None)


@pytest.fixture
def run(host, run_main) -> t.Callable[..., dict[str, t.Any]]:
    """Run the module against the fake host; ``fail=True`` expects a failure. Returns the result."""

    def _run(check: bool = False, diff: bool = False, fail: bool = False, **args: t.Any) -> dict[str, t.Any]:
        return run_main(mcs_label.main, {"state_path": str(host.state_path), **args}, check=check, diff=diff,
                        fail=fail)

    return _run


def first_label(name: str, **kwargs: t.Any) -> str:
    """The label a name gets on an empty host."""
    allocator = McsAllocator("/nonexistent", **kwargs)
    return format_label(allocator.level, *allocator.pair_at(allocator.start_index(name)))


def test_allocates_records_and_reruns_unchanged(host, run, warnings):
    result = run(name="web", diff=True)
    label = first_label("web")
    assert result["changed"] is True and result["label"] == label and result["labels"] == {"web": label}
    assert result["allocated"] == ["web"] and result["moved"] == {} and result["released"] == []
    assert result["selinux"] == "enforcing" and result["msg"] == "1 allocated, 0 kept"
    assert result["diff"] == {"before": {}, "after": {"web": label}}
    assert json.loads(host.state_path.read_text()) == {"version": 1, "level": "s0", "allocations": {"web": label}}
    assert stat.S_IMODE(host.state_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(host.state_path.parent.stat().st_mode) == 0o700
    again = run(name="web", diff=True)
    assert again["changed"] is False and again["label"] == label and again["msg"] == "0 allocated, 1 kept"
    assert again["diff"] == {"before": {}, "after": {}}
    assert warnings == []


def test_check_mode_predicts_exactly_and_writes_nothing(host, run):
    predicted = run(names=["web", "db"], check=True, diff=True)
    assert predicted["changed"] is True and not host.state_path.parent.exists()
    real = run(names=["web", "db"], diff=True)
    assert real["labels"] == predicted["labels"] and real["diff"] == predicted["diff"]
    assert host.recorded() == predicted["labels"]
    assert run(names=["web", "db"], check=True)["changed"] is False


def test_many_names_in_one_call_are_distinct(host, run):
    names = [f"ctr-{index}" for index in range(200)]
    result = run(names=names, categories={"min": 0, "max": 30})
    pairs = set(result["labels"].values())
    assert len(pairs) == 200 and list(result["labels"]) == names
    assert "label" not in result and result["msg"] == "200 allocated, 0 kept"
    assert host.recorded() == result["labels"]


def test_skips_pairs_of_podman_containers_and_labelled_processes(host, run):
    host.podman_installed = True
    host.add_container("legacy", first_label("web"))
    host.add_process(4242, f"system_u:system_r:container_t:{first_label('db')}")
    result = run(names=["web", "db"])
    assert result["labels"]["web"] != first_label("web") and result["labels"]["db"] != first_label("db")
    assert [call[:2] for call in host.calls] == [["ps", "--all"], ["container", "inspect"]]
    # A re-run needs no new pair, so it asks podman nothing.
    host.calls.clear()
    assert run(names=["web", "db"])["changed"] is False and host.calls == []


def test_exclude_running_false_looks_at_nothing_running(host, run):
    host.podman_installed = True
    host.add_container("legacy", first_label("web"))
    assert run(name="web", exclude_running=False)["label"] == first_label("web")
    assert host.calls == []


def test_selinux_disabled_still_records_and_says_so(host, run, warnings):
    host.set_selinux("disabled")
    # Processes carry no label then; a stale file must not count.
    host.add_process(4242, f"system_u:system_r:container_t:{first_label('web')}")
    result = run(name="web")
    assert result["label"] == first_label("web") and result["selinux"] == "disabled"
    assert result["msg"] == ("1 allocated, 0 kept; SELinux is disabled on this host: the labels are recorded and "
                             "take effect once it is enabled")
    assert host.recorded() == {"web": first_label("web")} and warnings == []


def test_selinux_permissive_is_reported(host, run):
    host.set_selinux("permissive")
    result = run(name="web")
    assert result["selinux"] == "permissive" and result["msg"].endswith("the labels are set but not enforced")


def test_absent_releases_and_is_idempotent(host, run):
    run(names=["web", "db"])
    label_db = host.recorded()["db"]
    result = run(names=["web", "gone", "web"], state="absent", diff=True)
    assert result["changed"] is True and result["released"] == ["web"] and result["labels"] == {}
    assert result["msg"] == "1 released, 1 had no allocation"
    assert result["diff"] == {"before": {"web": first_label("web")}, "after": {}}
    assert host.recorded() == {"db": label_db}
    again = run(name="web", state="absent")
    assert again["changed"] is False and again["released"] == [] and "label" not in again


def test_absent_in_check_mode_predicts(host, run):
    run(name="web")
    result = run(name="web", state="absent", check=True)
    assert result["changed"] is True and result["released"] == ["web"]
    assert host.recorded() == {"web": first_label("web")}


def test_static_label_is_given_exactly_and_never_to_another(host, run):
    static = {"web": "s0:c900,c5", "legacy": first_label("db")}
    result = run(names=["web", "db"], static=static, categories={"min": 0, "max": 100})
    assert result["labels"]["web"] == "s0:c5,c900"
    assert result["labels"]["db"] != first_label("db")
    assert run(names=["web", "db"], static=static, categories={"min": 0, "max": 100})["changed"] is False


def test_narrowed_range_moves_the_label_and_warns(host, run, warnings):
    old = run(name="web")["label"]
    low = int(old.split(":c")[1].split(",")[0])
    narrow = {"min": 0, "max": 9} if low >= 10 else {"min": 500, "max": 520}
    result = run(name="web", categories=narrow, diff=True)
    assert result["changed"] is True and result["label"] != old
    assert result["moved"] == {"web": f"{old} is outside categories c{narrow['min']}..c{narrow['max']}"}
    assert warnings == [f"web: its label changes from {old} to {result['label']} because {old} is outside categories "
                        f"c{narrow['min']}..c{narrow['max']}; restart what runs under the old label"]
    assert result["diff"] == {"before": {"web": old}, "after": {"web": result["label"]}}


def test_exhausted_range_fails_before_writing(host, run):
    run(names=["a", "b"], categories={"min": 0, "max": 2})
    before = host.state_path.read_text()
    result = run(names=["c", "d"], categories={"min": 0, "max": 2}, fail=True)
    assert result["msg"].startswith("categories: c0..c2 hold 3 pairs and 1 are free, but 2 new labels are needed")
    assert host.state_path.read_text() == before


@pytest.mark.parametrize("args, message", [
    ({"name": "web", "level": "high"}, "level: 'high' is not a sensitivity: expected s followed by a number"),
    ({"name": "web", "categories": {"min": 7, "max": 7}},
     "categories: min=7, max=7 is not a range of categories: expected integers with 0 <= min < max <= 1023"),
    ({"name": "web", "categories": {"max": 2048}}, "categories: min=0, max=2048 is not a range"),
    ({"name": "web", "static": {"db": "c1,c2"}}, "static.db: 'c1,c2' is not an MCS label"),
    ({"name": "web", "static": {"db": "s0:c1,c2", "x": "s0:c2,c1"}}, "static.x: 's0:c2,c1' is also the static label"),
    ({"names": ["web", "bad name"]}, "names[1]: 'bad name' contains whitespace or control characters"),
    ({"name": ""}, "name: '' is not a valid name: expected a non-empty string"),
    ({"names": []}, "names: at least one name is needed"),
    ({"state": "absent"}, "one of the following is required: name, names"),
    ({"name": "web", "state": "list"}, "value of state must be one of: present, absent, got: list"),
    ({"name": "web", "names": ["db"]}, "parameters are mutually exclusive: name|names"),
    ({"names": ["web", "db"], "state": "absent", "categories": {"min": 1, "max": 1}}, "categories: min=1, max=1"),
])
def test_bad_input_fails_naming_the_field(host, run, args, message):
    result = run(fail=True, **args)
    assert result["msg"].startswith(message), result["msg"]
    assert not host.state_path.parent.exists()


def test_podman_failure_names_exclude_running(host, run):
    host.podman_installed = True
    host.fail_ps = True
    result = run(name="web", fail=True)
    assert result["msg"] == ("exclude_running: podman ps --all failed (database is locked), so the labels of its "
                             "containers are unknown; fix podman or set exclude_running=false")
    assert not host.state_path.exists()


def test_damaged_record_fails_naming_state_path(host, run):
    host.state_path.parent.mkdir(parents=True)
    host.state_path.write_text("{}")
    result = run(name="web", fail=True)
    assert result["msg"] == (f"state_path: {host.state_path} has no 'allocations' object; fix or remove it "
                             "(removing forgets every allocation)")
    assert host.state_path.read_text() == "{}"


def test_captured_podman_inspect_pairs_reach_the_plan(host, run, monkeypatch):
    """The captured podman 4.3 inspect output goes through the module's runner into the plan's in_use."""
    host.podman_installed = True
    host.containers = json.loads((FIXTURES / "podman-4.3-container-inspect.json").read_text())
    host.add_process(4242, "system_u:system_r:container_t:s0:c3,c4")
    seen: list[set] = []
    original = McsAllocator.plan

    def recording_plan(self, names_present, names_absent=(), in_use=None):
        seen.append(set(in_use or ()))
        return original(self, names_present, names_absent, in_use)

    monkeypatch.setattr(McsAllocator, "plan", recording_plan)
    run(name="web")
    assert seen == [set(), {(12, 345), (7, 101), (3, 4)}]


def test_podman_without_containers_is_asked_once(host, run):
    host.podman_installed = True
    assert run(name="web")["label"] == first_label("web")
    assert host.calls == [["ps", "--all", "--format", "json"]]
