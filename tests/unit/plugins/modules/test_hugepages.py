# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for the containerhost.platform.hugepages module: main() against a fake kernel tree and systemctl."""

from __future__ import annotations

import os
import stat
import typing as t

from pathlib import Path

import pytest

from ansible.module_utils import basic

from ansible_collections.containerhost.platform.plugins.module_utils import _hugepages as hp
from ansible_collections.containerhost.platform.plugins.modules import hugepages

SYSTEMCTL = "/usr/bin/systemctl"
SYS_2M = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
SYS_1G = "/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages"
NODE0_2M = "/sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages"
NODE1_2M = "/sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages"
NODE0_1G = "/sys/devices/system/node/node0/hugepages/hugepages-1048576kB/nr_hugepages"
UNIT_PATH = "/etc/systemd/system/containerhost-hugepages.service"
WANTS_LINK = "/etc/systemd/system/sysinit.target.wants/containerhost-hugepages.service"


class FakeKernel(hp.HostHugepages):
    """The hugepage files of a two-node machine; writes allocate pages up to a per-pool capacity, like a short kernel."""

    def __init__(self, root: str) -> None:
        super().__init__(root)
        self.capacity: dict[str, int] = {}
        self.writes: list[tuple[str, int]] = []
        self.read_only = False

    def build(self) -> None:
        """Create the sysfs tree: 2M and 1G pools on the system and on nodes 0 and 1, all empty."""
        for size in (2048, 1048576):
            for node in (None, 0, 1):
                for name in ("nr_hugepages", "free_hugepages", "surplus_hugepages",
                             *(("resv_hugepages",) if node is None else ())):
                    self.set(f"{hp.pool_dir(size, node)}/{name}", 0)

    def set(self, path: str, value: int) -> None:
        """Write a counter file directly (test set-up)."""
        real = Path(self.host_path(path))
        real.parent.mkdir(parents=True, exist_ok=True)
        real.write_text(f"{value}\n")

    def get(self, path: str) -> int:
        """A counter file's value."""
        return int(Path(self.host_path(path)).read_text())

    def write_count(self, size_kib: int, node: int | None, pages: int) -> None:
        """Allocate up to the capacity and keep free_hugepages in step (no page is in use)."""
        path = hp.count_path(size_kib, node)
        self.writes.append((path, pages))
        given = min(pages, self.capacity.get(path, pages))
        super().write_count(size_kib, node, given)
        self.set(path.replace("nr_hugepages", "free_hugepages"), given)

    def sysfs_read_only(self) -> bool:
        return self.read_only


class FakeSystemctl:
    """systemctl is-enabled/enable/disable/daemon-reload against the fake tree's unit directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.calls: list[list[str]] = []

    def link(self) -> Path:
        return self.root / WANTS_LINK.lstrip("/")

    def run_command(self, argv: t.Any, **kwargs: t.Any) -> tuple[int, str, str]:
        """Stand-in for AnsibleModule.run_command."""
        assert isinstance(argv, list) and argv[0] == SYSTEMCTL, argv
        self.calls.append(argv[1:])
        verb = argv[1]
        unit_file = self.root / UNIT_PATH.lstrip("/")
        if verb == "is-enabled":
            assert argv[2:] == ["--", "containerhost-hugepages.service"]
            if self.link().is_symlink():
                return 0, "enabled\n", ""
            if unit_file.exists():
                return 1, "disabled\n", ""
            return 1, "", "Failed to get unit file state for containerhost-hugepages.service: No such file or directory\n"
        if verb == "enable":
            assert unit_file.exists(), "enabled before the unit file was written"
            self.link().parent.mkdir(parents=True, exist_ok=True)
            self.link().symlink_to(UNIT_PATH)
            return 0, "", f"Created symlink {WANTS_LINK} -> {UNIT_PATH}.\n"
        if verb == "disable":
            assert unit_file.exists(), "disabled after the unit file was removed"
            self.link().unlink()
            return 0, "", f"Removed {WANTS_LINK}.\n"
        if verb == "daemon-reload":
            return 0, "", ""
        raise AssertionError(f"unexpected systemctl call {argv}")

    def verbs(self) -> list[str]:
        return [call[0] for call in self.calls]


class Host(t.NamedTuple):
    root: Path
    kernel: FakeKernel
    systemctl: FakeSystemctl


@pytest.fixture
def host(tmp_path: Path, fake_commands, monkeypatch: pytest.MonkeyPatch) -> Host:
    """A booted systemd host with an empty two-node hugepage tree."""
    kernel = FakeKernel(str(tmp_path))
    kernel.build()
    (tmp_path / "run/systemd/system").mkdir(parents=True)
    systemctl = fake_commands(FakeSystemctl(tmp_path), {"systemctl": SYSTEMCTL}.get)
    monkeypatch.setattr(hugepages, "_ROOT", str(tmp_path))
    monkeypatch.setattr(hugepages, "HostHugepages", lambda root: kernel)
    return Host(tmp_path, kernel, systemctl)


@pytest.fixture
def run(host, run_main) -> t.Callable[..., dict[str, t.Any]]:
    """Run the module; ``fail=True`` expects a failure. Returns the result; warnings are in ``_warnings``."""

    def _run(check: bool = False, diff: bool = False, fail: bool = False, **args: t.Any) -> dict[str, t.Any]:
        warnings: list[str] = []
        with pytest.MonkeyPatch.context() as patcher:
            patcher.setattr(basic.AnsibleModule, "warn", lambda self, msg: warnings.append(msg))
            result = run_main(hugepages.main, args, check=check, diff=diff, fail=fail)
        result["_warnings"] = warnings
        return result

    return _run


def file_text(host: Host, path: str) -> str | None:
    real = host.root / path.lstrip("/")
    return real.read_text() if real.exists() else None


POOLS = [{"size": "2M", "count": 512}, {"size": "1G", "count": 2, "node": 0}]


def test_first_run_sets_pools_writes_files_and_enables(host, run):
    result = run(pools=POOLS)
    assert result["changed"] is True
    assert [(p["size"], p["node"], p["path"], p["wanted"], p["before"], p["achieved"], p["free"], p["changed"],
             p["shortfall"], p["skipped"]) for p in result["pools"]] == [
        ("2048kB", None, SYS_2M, 512, 0, 512, 512, True, 0, None),
        ("1048576kB", 0, NODE0_1G, 2, 0, 2, 2, True, 0, None),
    ]
    # The kernel's own files hold the counts.
    assert host.kernel.get(SYS_2M) == 512
    assert host.kernel.get(NODE0_1G) == 2
    # Gigantic pages are asked for first.
    assert [path for path, dummy in host.kernel.writes] == [NODE0_1G, SYS_2M]
    config = file_text(host, hp.CONFIG_PATH)
    assert hp.parse_config(config) == {SYS_2M: 512, NODE0_1G: 2}
    assert config.splitlines()[-2:] == [f"{NODE0_1G} 2", f"{SYS_2M} 512"]
    assert file_text(host, UNIT_PATH) == hp.render_unit_file()
    for path in (hp.CONFIG_PATH, UNIT_PATH):
        assert stat.S_IMODE(os.stat(host.root / path.lstrip("/")).st_mode) == 0o644
    assert host.systemctl.verbs() == ["is-enabled", "daemon-reload", "enable"]
    assert result["persistent"] == {"config_file": hp.CONFIG_PATH, "unit_file": UNIT_PATH,
                                    "entries": {SYS_2M: 512, NODE0_1G: 2}, "changed": True, "enabled": True}
    assert result["daemon_reloaded"] is True
    assert result["shortfall"] is False
    assert result["cmdline_suggestion"] is None
    assert result["_warnings"] == []
    assert "skipped" not in result


def test_second_run_changes_nothing(host, run):
    run(pools=POOLS)
    host.kernel.writes.clear()
    host.systemctl.calls.clear()
    config_stat = os.stat(host.root / hp.CONFIG_PATH.lstrip("/"))
    result = run(pools=POOLS)
    assert result["changed"] is False
    assert [p["changed"] for p in result["pools"]] == [False, False]
    assert [p["achieved"] for p in result["pools"]] == [512, 2]
    assert host.kernel.writes == []
    assert host.systemctl.verbs() == ["is-enabled"]
    assert os.stat(host.root / hp.CONFIG_PATH.lstrip("/")).st_mtime_ns == config_stat.st_mtime_ns
    assert result["persistent"]["changed"] is False
    assert result["daemon_reloaded"] is False


def test_check_mode_predicts_and_writes_nothing(host, run):
    result = run(pools=POOLS, check=True, diff=True)
    assert result["changed"] is True
    assert [(p["before"], p["achieved"], p["changed"]) for p in result["pools"]] == [(0, None, True), (0, None, True)]
    assert host.kernel.writes == []
    assert host.kernel.get(SYS_2M) == 0
    assert file_text(host, hp.CONFIG_PATH) is None
    assert file_text(host, UNIT_PATH) is None
    assert host.systemctl.verbs() == ["is-enabled"]
    assert result["daemon_reloaded"] is True
    assert result["persistent"]["enabled"] is True
    diffs = {entry["before_header"]: entry for entry in result["diff"]}
    assert diffs[hp.CONFIG_PATH]["before"] == ""
    assert hp.parse_config(diffs[hp.CONFIG_PATH]["after"]) == {SYS_2M: 512, NODE0_1G: 2}
    assert diffs[UNIT_PATH]["after"] == hp.render_unit_file()
    assert diffs["containerhost-hugepages.service (enabled)"]["after"] == "True\n"
    assert diffs["hugepages (live)"]["before"] == f"{SYS_2M}=0\n{NODE0_1G}=0\n"
    assert diffs["hugepages (live)"]["after"] == f"{SYS_2M}=512\n{NODE0_1G}=2\n"


def test_check_mode_after_apply_predicts_no_change(host, run):
    run(pools=POOLS)
    result = run(pools=POOLS, check=True, diff=True)
    assert result["changed"] is False
    assert result["diff"] == []
    assert [p["achieved"] for p in result["pools"]] == [512, 2]


def test_changed_count_rewrites_file_without_reload(host, run):
    run(pools=POOLS)
    host.systemctl.calls.clear()
    result = run(pools=[{"size": "2M", "count": 256}], diff=True)
    assert result["changed"] is True
    assert host.kernel.get(SYS_2M) == 256
    # Other pools keep their count and their boot-time entry.
    assert host.kernel.get(NODE0_1G) == 2
    assert hp.parse_config(file_text(host, hp.CONFIG_PATH)) == {SYS_2M: 256, NODE0_1G: 2}
    assert host.systemctl.verbs() == ["is-enabled"]
    assert [entry["before_header"] for entry in result["diff"]] == [hp.CONFIG_PATH, "hugepages (live)"]


def test_shortfall_warns_with_achieved_count_and_cmdline(host, run):
    host.kernel.capacity[NODE0_1G] = 1
    result = run(pools=[{"size": "1G", "count": 4, "node": 0}])
    pool = result["pools"][0]
    assert (pool["wanted"], pool["achieved"], pool["shortfall"], pool["changed"]) == (4, 1, 3, True)
    assert result["shortfall"] is True
    assert result["cmdline_suggestion"] == "hugepagesz=1G hugepages=0:4"
    assert len(result["_warnings"]) == 1
    assert result["_warnings"][0].startswith("hugepage shortfall: 1048576kB node 0: asked for 4, the kernel gave 1.")
    assert "'hugepagesz=1G hugepages=0:4'" in result["_warnings"][0]
    # The boot-time file keeps what was asked for.
    assert hp.parse_config(file_text(host, hp.CONFIG_PATH)) == {NODE0_1G: 4}

    # Asked again, the kernel still gives 1: nothing changed, still short.
    again = run(pools=[{"size": "1G", "count": 4, "node": 0}])
    assert again["changed"] is False
    assert again["pools"][0]["shortfall"] == 3
    assert host.kernel.writes == [(NODE0_1G, 4), (NODE0_1G, 4)]


def test_shortfall_fails_when_asked_to_but_reports_the_change(host, run):
    host.kernel.capacity[SYS_2M] = 100
    result = run(pools=[{"size": "2M", "count": 512}], on_shortfall="fail", fail=True)
    assert result["msg"].startswith("hugepage shortfall: 2048kB the whole system: asked for 512, the kernel gave 100.")
    assert "command line" not in result["msg"]
    assert result["changed"] is True
    assert result["pools"][0]["achieved"] == 100
    assert result["cmdline_suggestion"] is None
    assert host.kernel.get(SYS_2M) == 100


def test_surplus_pages_do_not_count_as_persistent(host, run):
    # A shrink left 3 in-use pages as surplus: nr_hugepages is 13 while the pool is 10.
    host.kernel.set(SYS_2M, 13)
    host.kernel.set(SYS_2M.replace("nr_", "surplus_"), 3)
    result = run(pools=[{"size": "2M", "count": 10}], persistent=False)
    assert result["changed"] is False
    assert result["pools"][0]["before"] == 10
    assert host.kernel.writes == []


@pytest.mark.parametrize(
    ("pools", "message"),
    [
        ([{"size": "4M", "count": 1}],
         "pools[0].size: 4096kB (4M) is not supported by this kernel; available: 2048kB (2M), 1048576kB (1G)"),
        ([{"size": "2M", "count": 1}, {"size": "1G", "count": 1, "node": 7}],
         "pools[1].node: node 7 does not exist; available nodes: 0, 1"),
        ([{"size": "2048", "count": 1}], "pools[0].size: '2048' is not a hugepage size"),
        ([{"size": "2M"}], "pools[0].count: required with state=present"),
        ([{"size": "2M", "count": -3}], "pools[0].count: -3 is too small"),
        ([], "pools: give at least one pool with state=present"),
        ([{"count": 3}], "pools"),
        ([{"size": "2M", "count": 1, "nodes": 0}], "nodes"),
    ],
)
def test_bad_pools_fail_before_any_change(host, run, pools, message):
    result = run(pools=pools, fail=True)
    assert message in result["msg"]
    assert host.kernel.writes == []
    assert host.systemctl.calls == []
    assert file_text(host, hp.CONFIG_PATH) is None


def test_container_reports_skipped_and_changes_nothing(host, run):
    (host.root / "run/.containerenv").write_text("")
    result = run(pools=POOLS)
    assert result["changed"] is False
    assert result["skipped"] is True
    reason = "running in a container (podman) with a writable sysfs"
    assert reason in result["skip_reason"]
    assert [(p["size"], p["node"], p["wanted"], p["changed"]) for p in result["pools"]] == [
        ("2048kB", None, 512, False), ("1048576kB", 0, 2, False)]
    assert all(reason in p["skipped"] for p in result["pools"])
    assert result["_warnings"] == [f"hugepages not managed: {result['skip_reason']}"]
    assert host.kernel.writes == []
    assert host.systemctl.calls == []
    assert file_text(host, hp.CONFIG_PATH) is None


def test_read_only_sysfs_in_container_is_skipped_even_for_unknown_sizes(host, run):
    host.kernel.read_only = True
    (host.root / "run/systemd/container").write_text("podman\n")
    result = run(pools=[{"size": "16G", "count": 1, "node": 9}], on_shortfall="fail")
    assert result["skipped"] is True
    assert result["skip_reason"] == "sysfs is read-only (container): hugepages belong to the host"
    assert result["pools"][0]["skipped"] == result["skip_reason"]
    assert host.systemctl.calls == []


def test_absent_without_pools_releases_everything_and_removes_the_unit(host, run):
    run(pools=[{"size": "2M", "count": 8, "node": 0}, {"size": "2M", "count": 4, "node": 1},
               {"size": "1G", "count": 1}])
    host.systemctl.calls.clear()
    result = run(state="absent", diff=True)
    assert result["changed"] is True
    assert [(p["path"], p["before"], p["wanted"], p["achieved"]) for p in result["pools"]] == [
        (SYS_1G, 1, 0, 0), (NODE0_2M, 8, 0, 0), (NODE1_2M, 4, 0, 0)]
    assert file_text(host, hp.CONFIG_PATH) is None
    assert file_text(host, UNIT_PATH) is None
    assert not host.systemctl.link().is_symlink()
    assert host.systemctl.verbs() == ["is-enabled", "disable", "daemon-reload"]
    assert result["persistent"]["enabled"] is False
    diffs = {entry["before_header"]: entry for entry in result["diff"]}
    assert diffs[hp.CONFIG_PATH]["after"] == ""
    assert diffs[UNIT_PATH]["after"] == ""

    again = run(state="absent")
    assert again["changed"] is False
    assert again["pools"] == []


def test_absent_one_pool_keeps_the_others(host, run):
    run(pools=[{"size": "2M", "count": 8, "node": 0}, {"size": "2M", "count": 4, "node": 1}])
    result = run(state="absent", pools=[{"size": "2M", "node": 1}])
    assert result["changed"] is True
    assert host.kernel.get(NODE1_2M) == 0
    assert host.kernel.get(NODE0_2M) == 8
    assert hp.parse_config(file_text(host, hp.CONFIG_PATH)) == {NODE0_2M: 8}
    assert host.systemctl.link().is_symlink()


def test_absent_drops_entries_of_pools_the_kernel_no_longer_has(host, run):
    host.kernel.set(NODE0_2M, 0)
    gone = "/sys/devices/system/node/node5/hugepages/hugepages-2048kB/nr_hugepages"
    (host.root / hp.CONFIG_PATH.lstrip("/")).parent.mkdir(parents=True)
    (host.root / hp.CONFIG_PATH.lstrip("/")).write_text(hp.render_config({gone: 3, NODE0_2M: 0}))
    result = run(state="absent", persistent=True)
    assert [p["path"] for p in result["pools"]] == [NODE0_2M]
    assert host.kernel.writes == []
    assert file_text(host, hp.CONFIG_PATH) is None


def test_declaring_per_node_replaces_the_whole_system_entry(host, run):
    run(pools=[{"size": "2M", "count": 100}])
    run(pools=[{"size": "2M", "count": 30, "node": 1}])
    assert hp.parse_config(file_text(host, hp.CONFIG_PATH)) == {NODE1_2M: 30}


def test_live_only(host, run):
    result = run(pools=POOLS, persistent=False)
    assert result["changed"] is True
    assert host.kernel.get(SYS_2M) == 512
    assert host.systemctl.calls == []
    assert file_text(host, hp.CONFIG_PATH) is None
    assert result["persistent"]["enabled"] is None
    assert result["persistent"]["changed"] is False


def test_persistent_only(host, run):
    result = run(pools=POOLS, live=False)
    assert result["changed"] is True
    assert host.kernel.writes == []
    assert [(p["before"], p["achieved"], p["changed"]) for p in result["pools"]] == [(0, 0, False), (0, 0, False)]
    assert hp.parse_config(file_text(host, hp.CONFIG_PATH)) == {SYS_2M: 512, NODE0_1G: 2}
    assert run(pools=POOLS, live=False)["changed"] is False


def test_not_booted_writes_files_and_enables_without_reload(host, run):
    (host.root / "run/systemd/system").rmdir()
    result = run(pools=POOLS)
    assert result["daemon_reloaded"] is False
    assert host.systemctl.verbs() == ["is-enabled", "enable"]


def test_disabled_unit_is_enabled_again(host, run):
    run(pools=POOLS)
    host.systemctl.link().unlink()
    host.systemctl.calls.clear()
    result = run(pools=POOLS)
    assert result["changed"] is True
    assert result["persistent"]["changed"] is True
    assert host.systemctl.verbs() == ["is-enabled", "enable"]


def test_persistent_without_systemctl_fails_before_any_change(host, run, monkeypatch):
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, *a, **kw: None)
    result = run(pools=POOLS, fail=True)
    assert "persistent: true needs systemd" in result["msg"]
    assert host.kernel.writes == []


def test_a_write_error_fails_naming_the_file(host, run):
    real = Path(host.kernel.host_path(SYS_2M))
    real.unlink()
    real.mkdir()
    result = run(pools=[{"size": "2M", "count": 4}], fail=True)
    assert result["msg"].startswith(f"could not write 4 to {SYS_2M}: ")
    assert file_text(host, hp.CONFIG_PATH) is None
