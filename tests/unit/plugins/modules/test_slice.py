# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for the containerhost.platform.slice module, run through main() against a small fake systemd."""

from __future__ import annotations

import os
import re
import typing as t

from pathlib import Path

import pytest
import yaml

from ansible.module_utils import basic

from ansible_collections.containerhost.platform.plugins.doc_fragments._resource_limits import ModuleDocFragment
from ansible_collections.containerhost.platform.plugins.module_utils import _resource_control as rc
from ansible_collections.containerhost.platform.plugins.modules import slice as slice_module

SYSTEMCTL = "/usr/bin/systemctl"
VM = rc.HostLimits(systemd_version=252, cgroup_mode="v2", controllers=("cpu", "cpuset", "io", "memory", "pids"),
                   online_cpus=(0, 1), numa_nodes=(0,), memory_bytes=1547194368, tasks_max_system=11620)
# How the fake systemd shows what a unit file says (enough properties for these tests).
DEFAULTS = {"CPUWeight": "[not set]", "CPUQuotaPerSecUSec": "infinity", "MemoryMax": "infinity", "TasksMax": "infinity",
            "AllowedCPUs": "", "IOWeight": "[not set]"}


class FakeSystemd:
    """systemctl against unit files in a directory: show reads what was loaded at the last daemon-reload."""

    def __init__(self, unit_dir: Path, root: Path) -> None:
        self.unit_dir = unit_dir
        self.root = root
        self.calls: list[list[str]] = []
        self.loaded: dict[str, dict[str, str]] = {}
        self.active: set[str] = set()
        # Loaded although inactive (something refers to them); systemd unloads other inactive slices.
        self.pinned: set[str] = set()
        self.need_reload: set[str] = set()
        # Runtime overrides (set-property --runtime), which win over unit files as systemd's control drop-ins do.
        self.runtime: dict[str, dict[str, str]] = {}
        self.dropins: dict[str, list[str]] = {}
        self.fail_on: str | None = None
        self.reload()
        self.calls.clear()

    def reload(self) -> None:
        """Load every unit file's [Slice] section."""
        self.loaded = {}
        for path in self.unit_dir.glob("*.slice"):
            props: dict[str, str] = {}
            for line in path.read_text().splitlines():
                key, sep, value = line.partition("=")
                if sep and key in ("CPUWeight", "MemoryMax", "TasksMax", "AllowedCPUs", "IOWeight"):
                    props[key] = value
                elif sep and key == "CPUQuota":
                    props["CPUQuotaPerSecUSec"] = f"{int(value.rstrip('%')) * 10}ms"
            self.loaded[path.name] = props

    def shown(self, unit: str) -> dict[str, str]:
        """What systemctl show prints for a unit."""
        props = {"Id": unit, "LoadState": "loaded", "NeedDaemonReload": "yes" if unit in self.need_reload else "no",
                 "ActiveState": "active" if unit in self.active else "inactive",
                 "FragmentPath": str(self.unit_dir / unit) if unit in self.loaded else "",
                 "ControlGroup": f"/{unit}" if unit in self.active else "",
                 "DropInPaths": " ".join(self.dropins.get(unit, []))}
        props.update(DEFAULTS)
        props.update(self.loaded.get(unit, {}))
        props.update(self.runtime.get(unit, {}))
        return props

    def run_command(self, argv: t.Any, **kwargs: t.Any) -> tuple[int, str, str]:
        """Stand-in for AnsibleModule.run_command."""
        assert isinstance(argv, list) and argv[0] == SYSTEMCTL
        self.calls.append(argv[1:])
        if self.fail_on and argv[1] == self.fail_on:
            return 1, "", f"Failed to {self.fail_on}: Access denied\n"
        verb = argv[1]
        if verb == "list-units":
            assert argv[2:] == ["--type=slice", "--all", "--plain", "--no-legend", "--no-pager"]
            lines = [f"{unit} loaded {'active' if unit in self.active else 'inactive'} x Description"
                     for unit in sorted(self.active | self.pinned)]
            return 0, "".join(f"{line}\n" for line in lines), ""
        if verb == "show":
            wanted = argv[2][len("--property="):].split(",")
            units = argv[argv.index("--") + 1:]
            blocks = []
            for unit in units:
                props = self.shown(unit)
                blocks.append("\n".join(f"{key}={props[key]}" for key in wanted if key in props))
            return 0, "\n\n".join(blocks) + "\n", ""
        if verb == "daemon-reload":
            self.reload()
            self.need_reload.clear()
        elif verb == "set-property":
            unit = argv[argv.index("--") + 1]
            for assignment in argv[argv.index("--") + 2:]:
                key, _sep, value = assignment.partition("=")
                if key == "MemoryMax":
                    value = str(rc.parse_size(value))
                self.runtime.setdefault(unit, {})[key] = value
        elif verb == "stop":
            self.active.difference_update(argv[argv.index("--") + 1:])
        return 0, "", ""

    def verbs(self) -> list[str]:
        """The systemctl verbs run so far."""
        return [call[0] for call in self.calls]


@pytest.fixture
def systemd(tmp_path: Path, fake_commands, monkeypatch: pytest.MonkeyPatch) -> FakeSystemd:
    """A fake systemd with an empty unit directory; the module sees the VM's limits."""
    unit_dir = tmp_path / "system"
    unit_dir.mkdir()
    root = tmp_path / "root"
    (root / "proc" / "self").mkdir(parents=True)
    (root / "proc" / "self" / "mountinfo").write_text(
        "30 21 0:25 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n")
    fake = fake_commands(FakeSystemd(unit_dir, root))
    monkeypatch.setattr(slice_module, "host_limits", lambda module, root="/", systemctl=None: VM)
    monkeypatch.setattr(slice_module, "_ROOT", str(root))
    return fake


@pytest.fixture
def run(systemd, run_main) -> t.Callable[..., dict[str, t.Any]]:
    """Run the module; ``fail=True`` expects a failure. Returns the result."""

    def _run(slices: list[dict[str, t.Any]], check: bool = False, diff: bool = False, fail: bool = False,
             **extra: t.Any) -> dict[str, t.Any]:
        return run_main(slice_module.main, {"slices": slices, "unit_dir": str(systemd.unit_dir), **extra},
                        check=check, diff=diff, fail=fail)

    return _run


TENANTS = [
    {"name": "tenant.slice", "cpu_weight": 200, "memory_max": "1G"},
    {"name": "tenant-a", "description": "Tenant A, 50% of a CPU", "cpu_quota": "50%", "memory_max": "256M",
     "tasks_max": 50, "allowed_cpus": "0-1"},
    {"name": "tenant-b.slice", "io_weight": 300},
]


def snapshot(directory: Path) -> dict[str, str]:
    """Every file below a directory with its content."""
    return {str(p.relative_to(directory)): p.read_text() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_creates_slices_with_one_listing_and_one_reload(systemd, run):
    result = run(TENANTS)
    assert result["changed"] is True and result["daemon_reloaded"] is True
    assert [s["name"] for s in result["slices"]] == ["tenant.slice", "tenant-a.slice", "tenant-b.slice"]
    assert all(s["changed"] and not s["active"] and not s["live_applied"] for s in result["slices"])
    # Nothing loaded, so nothing to show: one list-units, one reload.
    assert systemd.verbs() == ["list-units", "daemon-reload"]
    text = (systemd.unit_dir / "tenant-a.slice").read_text()
    assert text.startswith("# Ansible managed: containerhost.platform.slice\n")
    assert "# containerhost.platform:slice\n" in text
    assert "Description=Tenant A, 50%% of a CPU\n" in text
    assert "[Slice]\nCPUQuota=50%\nMemoryMax=268435456\nTasksMax=50\nAllowedCPUs=0-1\n" in text
    assert result["slices"][1]["properties"] == {"CPUQuota": "50%", "MemoryMax": "268435456", "TasksMax": "50",
                                                 "AllowedCPUs": "0-1"}
    assert result["slices"][1]["unit_file"] == str(systemd.unit_dir / "tenant-a.slice")


def test_second_run_changes_nothing_and_only_lists(systemd, run):
    run(TENANTS)
    systemd.calls.clear()
    result = run(TENANTS)
    assert result["changed"] is False and result["daemon_reloaded"] is False
    assert systemd.verbs() == ["list-units"]


def test_loaded_slices_are_shown_in_one_call(systemd, run):
    run(TENANTS)
    systemd.active.add("tenant-a.slice")
    systemd.pinned.add("tenant.slice")
    systemd.calls.clear()
    assert run(TENANTS)["changed"] is False
    assert systemd.verbs() == ["list-units", "show"]
    assert systemd.calls[1][-3:] == ["--", "tenant.slice", "tenant-a.slice"]
    assert "MemoryMax" in systemd.calls[1][1] and "NeedDaemonReload" in systemd.calls[1][1]


def test_loaded_slice_with_stale_configuration_is_reloaded(systemd, run):
    run(TENANTS)
    systemd.pinned.add("tenant-b.slice")
    systemd.need_reload.add("tenant-b.slice")
    systemd.calls.clear()
    predicted = run(TENANTS, check=True)
    assert predicted["changed"] is True and predicted["daemon_reloaded"] is True
    assert [s["changed"] for s in predicted["slices"]] == [False, False, True]
    result = run(TENANTS)
    assert result["daemon_reloaded"] is True and "daemon-reload" in systemd.verbs()
    assert run(TENANTS)["changed"] is False


def test_equivalent_spellings_are_no_change(systemd, run):
    run(TENANTS)
    systemd.calls.clear()
    respelled = [dict(TENANTS[0], memory_max=1073741824), dict(TENANTS[1], memory_max="262144K", cpu_quota=50,
                                                               allowed_cpus=[1, 0]), TENANTS[2]]
    assert run(respelled)["changed"] is False


def test_check_mode_predicts_and_touches_nothing(systemd, run):
    result = run(TENANTS, check=True, diff=True)
    assert result["changed"] is True and result["daemon_reloaded"] is True
    assert snapshot(systemd.unit_dir) == {}
    assert systemd.verbs() == ["list-units"]
    assert [d["after_header"] for d in result["diff"]] == [str(systemd.unit_dir / n) for n in
                                                           ("tenant.slice", "tenant-a.slice", "tenant-b.slice")]
    assert result["diff"][0]["before"] == ""
    assert "CPUWeight=200" in result["diff"][0]["after"]
    # The real run then does what check mode said.
    assert run(TENANTS)["changed"] is True
    assert run(TENANTS, check=True)["changed"] is False


def test_diff_shows_only_the_changed_file(systemd, run):
    run(TENANTS)
    changed = [TENANTS[0], dict(TENANTS[1], memory_max="512M"), TENANTS[2]]
    result = run(changed, diff=True)
    assert [s["changed"] for s in result["slices"]] == [False, True, False]
    assert len(result["diff"]) == 1
    assert "MemoryMax=268435456" in result["diff"][0]["before"]
    assert "MemoryMax=536870912" in result["diff"][0]["after"]


def test_changed_limit_on_active_slice_goes_live_through_the_reload(systemd, run):
    run(TENANTS)
    systemd.active.add("tenant-a.slice")
    systemd.calls.clear()
    result = run([TENANTS[0], dict(TENANTS[1], memory_max="512M"), TENANTS[2]])
    entry = result["slices"][1]
    assert entry["changed"] and entry["active"] and entry["live_applied"]
    assert entry["live_changes"] == {}
    # list, show the active slice, reload, show it again, and nothing to set.
    assert systemd.verbs() == ["list-units", "show", "daemon-reload", "show"]
    assert systemd.calls[1][-2:] == ["--", "tenant-a.slice"]
    assert systemd.calls[3][-2:] == ["--", "tenant-a.slice"]


def test_runtime_override_is_replaced_after_the_reload(systemd, run):
    run(TENANTS)
    systemd.active.add("tenant-a.slice")
    systemd.runtime["tenant-a.slice"] = {"MemoryMax": "104857600"}
    systemd.calls.clear()
    result = run([TENANTS[0], dict(TENANTS[1], memory_max="512M"), TENANTS[2]])
    assert result["slices"][1]["live_changes"] == {"MemoryMax": {"before": "104857600", "after": "536870912"}}
    assert systemd.calls[-1] == ["set-property", "--runtime", "--", "tenant-a.slice", "MemoryMax=536870912"]
    assert systemd.shown("tenant-a.slice")["MemoryMax"] == "536870912"


def test_drift_on_active_slice_is_set_live_without_reload(systemd, run):
    run(TENANTS)
    systemd.active.add("tenant-a.slice")
    systemd.runtime["tenant-a.slice"] = {"MemoryMax": "104857600", "TasksMax": "20"}
    systemd.calls.clear()
    predicted = run(TENANTS, check=True, diff=True)
    assert predicted["changed"] is True and predicted["daemon_reloaded"] is False
    assert predicted["slices"][1]["live_changes"] == {"MemoryMax": {"before": "104857600", "after": "268435456"},
                                                      "TasksMax": {"before": "20", "after": "50"}}
    assert predicted["diff"] == [{"before_header": "tenant-a.slice (live properties)",
                                  "after_header": "tenant-a.slice (live properties)",
                                  "before": "MemoryMax=104857600\nTasksMax=20\n",
                                  "after": "MemoryMax=268435456\nTasksMax=50\n"}]
    assert systemd.verbs() == ["list-units", "show"]
    result = run(TENANTS)
    assert result["changed"] is True and result["slices"][1]["live_applied"] is True
    assert systemd.calls[-1] == ["set-property", "--runtime", "--", "tenant-a.slice",
                                 "MemoryMax=268435456", "TasksMax=50"]
    assert "daemon-reload" not in systemd.verbs()
    assert run(TENANTS)["changed"] is False


def test_foreign_dropin_is_warned_about_not_fought(systemd, run, module_exits, monkeypatch):
    run(TENANTS)
    systemd.active.add("tenant-a.slice")
    systemd.runtime["tenant-a.slice"] = {"TasksMax": "99"}
    systemd.dropins["tenant-a.slice"] = ["/etc/systemd/system/tenant-a.slice.d/override.conf"]
    warnings: list[str] = []
    monkeypatch.setattr(basic.AnsibleModule, "warn", lambda self, msg: warnings.append(msg))
    systemd.calls.clear()
    result = run(TENANTS)
    assert result["changed"] is False
    assert systemd.verbs() == ["list-units", "show"]
    assert "override.conf" in warnings[0] and "TasksMax" in warnings[0]


def prepare_cgroup(systemd: FakeSystemd, unit: str, pids: list[int]) -> None:
    """An active slice whose cgroup holds these processes (in a service below it)."""
    systemd.active.add(unit)
    service = systemd.root / "sys" / "fs" / "cgroup" / unit / "work.service"
    service.mkdir(parents=True)
    (service / "cgroup.procs").write_text("".join(f"{pid}\n" for pid in pids))
    (service.parent / "cgroup.procs").write_text("")
    for pid in pids:
        (systemd.root / "proc" / str(pid)).mkdir(parents=True)
        (systemd.root / "proc" / str(pid) / "comm").write_text("sleep\n")


def test_absent_removes_files_and_runtime_dropins_and_stops_an_empty_slice(systemd, run):
    run(TENANTS)
    prepare_cgroup(systemd, "tenant-b.slice", [])
    dropin = systemd.root / "run" / "systemd" / "system.control" / "tenant-b.slice.d" / "50-IOWeight.conf"
    dropin.parent.mkdir(parents=True)
    dropin.write_text("[Slice]\nIOWeight=1\n")
    systemd.calls.clear()
    absent = [{"name": "tenant-b.slice", "state": "absent", "io_weight": 300}]
    predicted = run(absent, check=True)
    assert predicted["changed"] is True and predicted["slices"][0]["stopped"] is True
    assert predicted["slices"][0]["removed"] == [str(systemd.unit_dir / "tenant-b.slice"), str(dropin)]
    assert (systemd.unit_dir / "tenant-b.slice").exists() and dropin.exists()
    systemd.calls.clear()
    result = run(absent)
    assert result["changed"] is True
    assert systemd.verbs() == ["list-units", "show", "stop", "daemon-reload"]
    assert systemd.calls[2] == ["stop", "--", "tenant-b.slice"]
    assert not (systemd.unit_dir / "tenant-b.slice").exists()
    assert not dropin.parent.exists() and dropin.parent.parent.exists()
    assert run(absent)["changed"] is False


def test_absent_unloaded_slice_loses_its_leftover_runtime_dropins(systemd, run):
    dropin = systemd.root / "run" / "systemd" / "system.control" / "old.slice.d" / "50-MemoryMax.conf"
    dropin.parent.mkdir(parents=True)
    dropin.write_text("[Slice]\nMemoryMax=1\n")
    result = run([{"name": "old.slice", "state": "absent"}])
    assert result["changed"] is True and result["slices"][0]["removed"] == [str(dropin)]
    assert not dropin.parent.exists()
    assert systemd.verbs() == ["list-units", "daemon-reload"]


def test_absent_refuses_while_processes_run_and_changes_nothing(systemd, run):
    run(TENANTS)
    prepare_cgroup(systemd, "tenant-b.slice", [4242, 4243])
    before = snapshot(systemd.unit_dir)
    systemd.calls.clear()
    result = run([{"name": "tenant-b.slice", "state": "absent"}], fail=True)
    assert result["msg"].startswith("slices[0] (tenant-b.slice): state: absent, but processes still run in "
                                    "tenant-b.slice: 4242 (sleep, tenant-b.slice/work.service)")
    assert [p["pid"] for p in result["processes"]] == [4242, 4243]
    assert snapshot(systemd.unit_dir) == before
    assert systemd.verbs() == ["list-units", "show"]


def test_absent_slice_that_never_existed_is_no_change(systemd, run):
    result = run([{"name": "ghost.slice", "state": "absent"}])
    assert result["changed"] is False and result["daemon_reloaded"] is False
    assert result["slices"][0]["removed"] == [] and result["slices"][0]["stopped"] is False


@pytest.mark.parametrize(
    ("slices", "message"),
    [
        ([{"name": "tenant.service"}], r"^slices\[0\] \(tenant.service\): name: .*suffix \.service; accepted here: \.slice"),
        ([{"name": "tenant--a.slice"}], r"^slices\[0\] \(tenant--a.slice\): name: .*doubled"),
        ([{"name": "tenant a"}], r"^slices\[0\] \(tenant a\): name: .*contains ' '"),
        ([{"name": "ok.slice"}, {"name": "bad.slice", "cpu_quota": "-5%"}],
         r"^slices\[1\] \(bad.slice\): cpu_quota: '-5%' is not valid; accepted: a percentage of one CPU above 0"),
        ([{"name": "bad.slice", "cpu_quota": "lots"}], r"cpu_quota: 'lots' is not valid"),
        ([{"name": "bad.slice", "allowed_cpus": "0-7"}],
         r"^slices\[0\] \(bad.slice\): allowed_cpus: '0-7' is not valid \(2-7 not on this host\)"),
        ([{"name": "bad.slice", "memory_max": "1Q"}], r"memory_max: '1Q' is not valid; accepted: bytes"),
        ([{"name": "bad.slice", "description": "two\nlines"}], r"^slices\[0\] \(bad.slice\): description: "),
        ([{"name": "a.slice"}, {"name": "a"}], r"^slices\[1\] \(a\): name: a.slice is already declared by slices\[0\]"),
        ([{"name": "a.slice", "state": "absent"}, {"name": "a-b.slice"}],
         r"^slices\[0\] \(a.slice\): state: absent, but a-b.slice below it is declared present"),
        ([{"name": "ok.slice"}, {"name": "bad.slice", "memroy_max": "1G"}],
         r"^slices\[1\] \(bad.slice\): unsupported option memroy_max\. Supported parameters include: .*memory_max"),
        ([{"name": "bad.slice", "io_device_weight": [{"device": "/dev/sda", "weight": 100, "extra": 1}]}],
         r"^slices\[0\] \(bad.slice\): unsupported option io_device_weight\.extra\. Supported parameters include: "
         r"device, weight"),
        ([{"name": "bad.slice", "state": "gone"}], r"^slices\[0\] \(bad.slice\): value of state must be one of"),
        ([{"cpu_weight": 100}], r"^slices\[0\] \(None\): missing required arguments: name"),
    ],
)
def test_bad_input_fails_before_anything_changes(systemd, run, slices, message):
    run(TENANTS)
    before = snapshot(systemd.unit_dir)
    systemd.calls.clear()
    result = run(slices, fail=True)
    assert re.search(message, result["msg"]), result["msg"]
    assert snapshot(systemd.unit_dir) == before
    assert systemd.calls == []


def test_systemctl_failure_is_reported_with_its_output(systemd, run):
    systemd.fail_on = "daemon-reload"
    result = run(TENANTS, fail=True)
    assert "daemon-reload failed (exit status 1): Failed to daemon-reload: Access denied" in result["msg"]
    assert result["cmd"] == [SYSTEMCTL, "daemon-reload"] and result["rc"] == 1
    assert len(result["slices"]) == 3


def test_many_slices_cost_one_listing_and_one_reload(systemd, run):
    many = [{"name": f"bench-s{i}.slice", "cpu_weight": 100 + i, "memory_max": f"{64 + i}M"} for i in range(300)]
    run(many)
    assert systemd.verbs() == ["list-units", "daemon-reload"]
    assert len(os.listdir(systemd.unit_dir)) == 300
    systemd.calls.clear()
    assert run(many)["changed"] is False
    assert systemd.verbs() == ["list-units"]


def test_entry_documentation_matches_the_entry_spec():
    """The argument spec checks entries itself (to name them in errors), so docs and spec are compared here."""
    docs = yaml.safe_load(ModuleDocFragment.SLICES)["options"]["slices"]["suboptions"]
    spec = slice_module.entry_options()
    assert list(docs) == list(spec)
    for name, item in spec.items():
        assert docs[name]["type"] == item["type"], name
        assert docs[name].get("required", False) == item.get("required", False), name
        assert docs[name].get("default") == item.get("default"), name
        assert docs[name].get("choices") == item.get("choices"), name
        assert set(docs[name].get("suboptions", {})) == set(item.get("options", {})), name
