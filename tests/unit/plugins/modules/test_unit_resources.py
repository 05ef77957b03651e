# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for the containerhost.platform.unit_resources module, run through main() against a fake systemd.

The fake keeps what the testbed showed systemd 252 doing: a drop-in is loaded only by daemon-reload; set-property
--runtime changes the unit at once and sets NeedDaemonReload; at the next reload our drop-in (sorted after the
50-<Property>.conf control files) wins again; a running unit stays in its cgroup until it restarts."""

from __future__ import annotations

import os
import typing as t

from pathlib import Path

import pytest

from ansible.module_utils import basic

from ansible_collections.containerhost.platform.plugins.module_utils._placement import DROPIN_NAME, parse_dropin
from ansible_collections.containerhost.platform.plugins.module_utils._resource_control import HostLimits, parse_percent
from ansible_collections.containerhost.platform.plugins.module_utils._unit_files import slice_cgroup_path
from ansible_collections.containerhost.platform.plugins.modules import unit_resources

SYSTEMCTL = "/usr/bin/systemctl"
FIXTURES = Path(__file__).parents[1] / "module_utils" / "fixtures" / "resource_control"
HOST = HostLimits(systemd_version=252, cgroup_mode="v2", controllers=("cpu", "cpuset", "io", "memory", "pids"),
                  online_cpus=(0, 1), numa_nodes=(0,), memory_bytes=2 * 1024 ** 3, tasks_max_system=4194303)
DEFAULTS = {"MemoryMax": "infinity", "TasksMax": "4915", "CPUWeight": "[not set]", "CPUQuotaPerSecUSec": "infinity",
            "IOWeight": "[not set]", "AllowedCPUs": ""}
PLACEMENT = {"name": "sleeper.service", "slice": "tenant-a.slice", "memory_max": "256M", "tasks_max": 50,
             "cpu_quota": "150%", "cpu_weight": 300}
EXPECTED_DROPIN = (
    "# Ansible managed: containerhost.platform.unit_resources\n"
    "# Changes are overwritten by the next run; change the playbook instead.\n"
    "# containerhost.platform:unit_resources\n"
    "\n"
    "[Service]\n"
    "Slice=tenant-a.slice\n"
    "CPUWeight=300\n"
    "CPUQuota=150%\n"
    "MemoryMax=268435456\n"
    "TasksMax=50\n"
)


class FakeUnit:
    """One unit as systemd holds it: unit file values, runtime changes, the loaded drop-in, where it runs."""

    def __init__(self, name: str, active: bool = True, load_state: str = "loaded",
                 base: dict[str, str] | None = None) -> None:
        self.name = name
        self.load_state = load_state
        self.base = dict(base or {})
        self.runtime_files: dict[str, str] = {}
        self.ours: dict[str, str] = {}
        self.ours_loaded = False
        self.foreign: dict[str, str] = {}
        self.live_override: dict[str, str] = {}
        self.need_reload = False
        self.main_pid = 100 if active else 0
        self.cg_slice = self.effective().get("Slice", "system.slice") if active else None

    def effective(self) -> dict[str, str]:
        """Configuration in drop-in order: unit file, control files, ours, later drop-ins, then unreloaded runtime."""
        return {**self.base, **self.runtime_files, **self.ours, **self.foreign, **self.live_override}


class FakeSystemd:
    """Answers the module's systemctl calls from FakeUnits and the drop-ins in unit_dir."""

    def __init__(self, unit_dir: Path, units: list[FakeUnit]) -> None:
        self.unit_dir = unit_dir
        self.units = {unit.name: unit for unit in units}
        self.calls: list[list[str]] = []

    def get_bin_path(self, arg: str, *args: t.Any, **kwargs: t.Any) -> str | None:
        """Stand-in for AnsibleModule.get_bin_path."""
        return SYSTEMCTL if arg == "systemctl" else None

    def run_command(self, args: t.Any, **kwargs: t.Any) -> tuple[int, str, str]:
        """Stand-in for AnsibleModule.run_command, for systemctl only."""
        assert isinstance(args, list), f"run_command got {args!r}, not an argv list"
        assert not kwargs.get("use_unsafe_shell")
        assert args[0] == SYSTEMCTL
        self.calls.append(args[1:])
        verb = args[1]
        if verb == "show":
            return self._show(args[2][len("--property="):].split(","), args[4:])
        if verb == "daemon-reload":
            self._reload()
            return 0, "", ""
        if verb == "set-property":
            assert args[2:4] == ["--runtime", "--"]
            unit = self.units[args[4]]
            for assignment in args[5:]:
                key, dummy, value = assignment.partition("=")
                assert key != "Slice", "systemd refuses Slice= at runtime"
                unit.runtime_files[key] = value
                unit.live_override[key] = value
            unit.need_reload = True
            return 0, "", ""
        if verb == "restart":
            for name in args[3:]:
                unit = self.units[name]
                unit.main_pid += 1
                unit.cg_slice = unit.effective().get("Slice", "system.slice")
            return 0, "", ""
        raise AssertionError(f"unexpected systemctl call {args!r}")

    def verbs(self) -> list[str]:
        """The systemctl verbs called, in order."""
        return [call[0] for call in self.calls]

    def _reload(self) -> None:
        """Load every drop-in of ours again; runtime changes lose to it (their files sort first)."""
        for unit in self.units.values():
            path = self.unit_dir / f"{unit.name}.d" / DROPIN_NAME
            text = path.read_text(encoding="utf-8") if path.exists() else None
            unit.ours = parse_dropin(text) if text is not None else {}
            unit.ours_loaded = text is not None
            unit.live_override = {}
            unit.need_reload = False

    def _show(self, properties: list[str], names: list[str]) -> tuple[int, str, str]:
        """systemctl show for several units, blocks separated by blank lines; a template fails the whole call."""
        blocks = []
        for name in names:
            if name.rpartition(".")[0].endswith("@"):
                return 1, "", f"Failed to get properties: Unit name {name} is neither a valid invocation ID nor unit name.\n"
            unit = self.units.get(name) or FakeUnit(name, active=False, load_state="not-found")
            values = self._values(unit)
            blocks.append("\n".join(f"{key}={values.get(key, '')}" for key in properties))
        return 0, "\n\n".join(blocks) + "\n", ""

    def _values(self, unit: FakeUnit) -> dict[str, str]:
        """All shown properties of a unit."""
        if unit.load_state != "loaded":
            return {"Id": unit.name, "LoadState": unit.load_state, "ActiveState": "inactive", **DEFAULTS}
        config = unit.effective()
        values = dict(DEFAULTS)
        for key, value in config.items():
            if key == "CPUQuota":
                values["CPUQuotaPerSecUSec"] = f"{parse_percent(value) * 100}us"
            else:
                values[key] = value
        dropins = [f"/run/systemd/system.control/{unit.name}.d/50-{key}.conf" for key in unit.runtime_files]
        if unit.ours_loaded:
            dropins.append(str(self.unit_dir / f"{unit.name}.d" / DROPIN_NAME))
        if unit.foreign:
            dropins.append(f"/etc/systemd/system/{unit.name}.d/override.conf")
        running = unit.cg_slice is not None
        values.update({
            "Id": unit.name, "LoadState": "loaded", "ActiveState": "active" if running else "inactive",
            "Slice": config.get("Slice", "system.slice"),
            "ControlGroup": f"/{slice_cgroup_path(unit.cg_slice)}/{unit.name}" if running else "",
            "MainPID": str(unit.main_pid), "NeedDaemonReload": "yes" if unit.need_reload else "no",
            "DropInPaths": " ".join(dropins), "FragmentPath": f"/usr/lib/systemd/system/{unit.name}",
        })
        return values


@pytest.fixture
def make_systemd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> t.Callable[..., FakeSystemd]:
    """Build a fake systemd with the given units and point the module at it (unit_dir = tmp_path/units)."""

    def _make(*units: FakeUnit) -> FakeSystemd:
        (tmp_path / "units").mkdir(exist_ok=True)
        (tmp_path / "root" / "proc" / "self").mkdir(parents=True, exist_ok=True)
        (tmp_path / "root" / "proc" / "self" / "mountinfo").write_text("", encoding="utf-8")
        systemd = FakeSystemd(tmp_path / "units", list(units))
        monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", systemd.get_bin_path)
        monkeypatch.setattr(basic.AnsibleModule, "run_command", systemd.run_command)
        monkeypatch.setattr(unit_resources, "host_limits", lambda module, root="/", systemctl=None: HOST)
        monkeypatch.setattr(unit_resources, "_ROOT", str(tmp_path / "root"))
        return systemd

    return _make


@pytest.fixture
def run_module(set_module_args, module_exits, tmp_path: Path) -> t.Callable[..., dict[str, t.Any]]:
    """Run unit_resources.main() and return its result; a failure raises AnsibleFailJson."""

    def _run(units: list[dict[str, t.Any]], check: bool = False, diff: bool = False, **extra: t.Any) -> dict[str, t.Any]:
        set_module_args({"units": units, "unit_dir": str(tmp_path / "units"), "_ansible_check_mode": check,
                         "_ansible_diff": diff, **extra})
        with pytest.raises(module_exits.exit) as exc_info:
            unit_resources.main()
        return exc_info.value.result

    return _run


def dropin(tmp_path: Path, name: str = "sleeper.service") -> Path:
    """Path of the module's drop-in for a unit."""
    return tmp_path / "units" / f"{name}.d" / DROPIN_NAME


def files_below(path: Path) -> dict[str, str]:
    """Every file below a directory with its content, to compare before and after."""
    return {str(p.relative_to(path)): p.read_text(encoding="utf-8") for p in sorted(path.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------------------------------------------------------------
# Persistent placement

def test_check_mode_predicts_and_touches_nothing(make_systemd, run_module, tmp_path):
    systemd = make_systemd(FakeUnit("sleeper.service"))
    result = run_module([PLACEMENT], check=True, diff=True)
    assert result["changed"] is True
    assert result["daemon_reloaded"] is True
    assert result["restart_required"] == ["sleeper.service"]
    unit = result["units"][0]
    assert unit["restart_required"] is True and unit["restarted"] is False
    assert unit["slice_before"] == "system.slice" and unit["running_slice"] == "system.slice"
    assert unit["live_changes"]["MemoryMax"] == {"before": "infinity", "after": "268435456"}
    assert set(unit["live_changes"]) == {"CPUWeight", "CPUQuota", "MemoryMax", "TasksMax"}
    assert not dropin(tmp_path).exists()
    assert systemd.verbs() == ["show"]
    assert result["diff"][0] == {"before_header": str(dropin(tmp_path)), "after_header": str(dropin(tmp_path)),
                                 "before": "", "after": EXPECTED_DROPIN}
    assert "Slice=system.slice\n" in result["diff"][1]["before"]
    assert "Slice=tenant-a.slice\n" in result["diff"][1]["after"]


def test_place_writes_reloads_once_and_does_not_restart(make_systemd, run_module, tmp_path):
    systemd = make_systemd(FakeUnit("sleeper.service"), FakeUnit("other.service"))
    result = run_module([PLACEMENT, {"name": "other", "memory_max": "1G"}])
    assert result["changed"] is True
    assert dropin(tmp_path).read_text(encoding="utf-8") == EXPECTED_DROPIN
    assert oct(os.stat(dropin(tmp_path)).st_mode & 0o777) == "0o644"
    assert dropin(tmp_path, "other.service").read_text(encoding="utf-8").endswith("[Service]\nMemoryMax=1073741824\n")
    # One show for all units, one reload, one show of what was reloaded; no restart, no set-property.
    assert systemd.verbs() == ["show", "daemon-reload", "show"]
    assert systemd.calls[0][2:] == ["--", "sleeper.service", "other.service"]
    sleeper = systemd.units["sleeper.service"]
    assert sleeper.main_pid == 100 and sleeper.cg_slice == "system.slice"
    assert result["restart_required"] == ["sleeper.service"]
    assert result["units"][1]["restart_required"] is False


def test_second_run_changes_nothing_and_still_reports_the_restart(make_systemd, run_module):
    systemd = make_systemd(FakeUnit("sleeper.service"))
    run_module([PLACEMENT])
    systemd.calls.clear()
    result = run_module([PLACEMENT])
    assert result["changed"] is False
    assert result["daemon_reloaded"] is False
    assert result["restart_required"] == ["sleeper.service"]
    assert result["units"][0]["live_changes"] == {}
    assert systemd.verbs() == ["show"]


def test_restart_true_moves_the_unit_once(make_systemd, run_module):
    systemd = make_systemd(FakeUnit("sleeper.service"))
    run_module([PLACEMENT])
    result = run_module([PLACEMENT], restart=True)
    assert result["changed"] is True
    assert result["restarted"] == ["sleeper.service"] and result["restart_required"] == []
    assert result["units"][0]["running_slice"] == "tenant-a.slice"
    assert ["restart", "--", "sleeper.service"] in systemd.calls
    assert systemd.units["sleeper.service"].main_pid == 101
    again = run_module([PLACEMENT], restart=True)
    assert again["changed"] is False and again["restarted"] == []


def test_restart_true_in_check_mode_predicts_without_restarting(make_systemd, run_module):
    systemd = make_systemd(FakeUnit("sleeper.service"))
    result = run_module([PLACEMENT], check=True, restart=True)
    assert result["restarted"] == ["sleeper.service"] and result["restart_required"] == []
    assert systemd.verbs() == ["show"]


def test_scope_cannot_be_restarted(make_systemd, run_module, warnings):
    systemd = make_systemd(FakeUnit("job.scope"))
    result = run_module([{"name": "job.scope", "slice": "batch.slice"}], restart=True)
    assert result["restart_required"] == ["job.scope"] and result["restarted"] == []
    assert "restart" not in systemd.verbs()
    assert any("a scope cannot be restarted" in warning for warning in warnings)


def test_unit_in_place_needs_no_restart_and_limits_only_need_none(make_systemd, run_module):
    make_systemd(FakeUnit("sleeper.service", base={"Slice": "tenant-a.slice"}), FakeUnit("b.service"))
    result = run_module([PLACEMENT, {"name": "b.service", "tasks_max": 10}])
    assert result["restart_required"] == []


def test_inactive_unit_gets_the_file_and_no_restart(make_systemd, run_module, tmp_path):
    make_systemd(FakeUnit("sleeper.service", active=False))
    result = run_module([PLACEMENT])
    assert result["changed"] is True and result["restart_required"] == []
    assert result["units"][0]["active"] is False and result["units"][0]["running_slice"] is None
    assert dropin(tmp_path).exists()


def test_dropin_on_disk_but_not_loaded_is_reloaded(make_systemd, run_module, tmp_path):
    systemd = make_systemd(FakeUnit("sleeper.service"))
    dropin(tmp_path).parent.mkdir(parents=True)
    dropin(tmp_path).write_text(EXPECTED_DROPIN, encoding="utf-8")
    result = run_module([PLACEMENT])
    # The file is right, but systemd never loaded it (a new drop-in directory does not set NeedDaemonReload).
    assert result["changed"] is True and result["daemon_reloaded"] is True
    assert systemd.units["sleeper.service"].ours_loaded


def test_runtime_change_of_a_declared_property_is_put_back(make_systemd, run_module):
    systemd = make_systemd(FakeUnit("sleeper.service"))
    run_module([PLACEMENT])
    run_module([{"name": "sleeper.service", "runtime": True, "memory_max": "512M"}])
    assert systemd.units["sleeper.service"].need_reload
    result = run_module([PLACEMENT])
    assert result["changed"] is True and result["daemon_reloaded"] is True
    assert result["units"][0]["live_changes"] == {"MemoryMax": {"before": "536870912", "after": "268435456"}}


def test_foreign_override_warns_and_is_left_alone(make_systemd, run_module, warnings):
    unit = FakeUnit("sleeper.service")
    systemd = make_systemd(unit)
    run_module([PLACEMENT])
    unit.foreign = {"MemoryMax": "1073741824"}
    systemd.calls.clear()
    result = run_module([PLACEMENT])
    assert result["changed"] is False
    assert systemd.verbs() == ["show"]
    assert any("MemoryMax differ from the declared values because drop-ins applied after ours override them "
               "(/etc/systemd/system/sleeper.service.d/override.conf)" in w for w in warnings)


def test_foreign_slice_override_decides_where_a_restart_goes(make_systemd, run_module, warnings):
    unit = FakeUnit("sleeper.service")
    unit.foreign = {"Slice": "system.slice"}
    make_systemd(unit)
    result = run_module([PLACEMENT])
    # Reloaded, but override.conf keeps Slice=system.slice, where it runs: a restart would not move it.
    assert result["changed"] is True and result["restart_required"] == []
    assert any("Slice differ from the declared values because drop-ins applied after ours" in w for w in warnings)
    again = run_module([PLACEMENT])
    assert again["changed"] is False and again["restart_required"] == []


def test_unknown_unit_gets_a_dropin_with_a_warning(make_systemd, run_module, tmp_path, warnings):
    make_systemd()
    result = run_module([{"name": "later.service", "memory_max": "1G"}])
    assert result["changed"] is True
    assert dropin(tmp_path, "later.service").exists()
    assert any("later.service: systemd does not know this unit (LoadState=not-found)" in w for w in warnings)


def test_template_is_written_but_never_shown(make_systemd, run_module, tmp_path):
    systemd = make_systemd(FakeUnit("sleeper.service"))
    result = run_module([{"name": "worker@.service", "slice": "workers.slice", "memory_max": "1G"}, PLACEMENT])
    assert result["changed"] is True
    assert "[Service]\nSlice=workers.slice\nMemoryMax=1073741824\n" in \
        dropin(tmp_path, "worker@.service").read_text(encoding="utf-8")
    assert all("worker@.service" not in call for call in systemd.calls)
    assert result["units"][0]["restart_required"] is False
    assert result["units"][0]["slice_before"] is None


def test_section_follows_the_unit_type(make_systemd, run_module, tmp_path):
    make_systemd(FakeUnit("dbus.socket"), FakeUnit("data.mount", active=False))
    run_module([{"name": "dbus.socket", "tasks_max": 5}, {"name": "data.mount", "slice": "storage.slice"}])
    assert "[Socket]\nTasksMax=5\n" in dropin(tmp_path, "dbus.socket").read_text(encoding="utf-8")
    assert "[Mount]\nSlice=storage.slice\n" in dropin(tmp_path, "data.mount").read_text(encoding="utf-8")


def test_pending_limits_on_cgroup_v2_while_the_move_waits(make_systemd, run_module, tmp_path, warnings):
    make_systemd(FakeUnit("sleeper.service"))
    root = tmp_path / "root"
    (root / "proc" / "self" / "mountinfo").write_text(
        (FIXTURES / "mountinfo-v2-vm.txt").read_text(encoding="utf-8"), encoding="utf-8")
    cgroup = root / "sys" / "fs" / "cgroup" / "system.slice" / "sleeper.service"
    cgroup.mkdir(parents=True)
    (cgroup / "cgroup.controllers").write_text("memory pids\n", encoding="utf-8")
    result = run_module([{**PLACEMENT, "allowed_cpus": "0"}], check=True)
    assert result["units"][0]["live_pending"] == ["AllowedCPUs", "CPUQuota", "CPUWeight"]
    assert any("take effect when it restarts" in w and "the cpu and cpuset controllers are" in w
               for w in warnings)
    moved = run_module([PLACEMENT], restart=True)
    assert moved["units"][0]["live_pending"] == []


# ---------------------------------------------------------------------------------------------------------------------
# Runtime entries

RUNTIME = {"name": "sleeper.service", "runtime": True, "memory_max": "512M", "tasks_max": 77}


def test_runtime_sets_properties_without_file_or_restart(make_systemd, run_module, tmp_path):
    systemd = make_systemd(FakeUnit("sleeper.service"))
    check = run_module([RUNTIME], check=True, diff=True)
    assert check["changed"] is True and systemd.verbs() == ["show"]
    assert check["diff"] == [{"before_header": "sleeper.service (runtime properties)",
                              "after_header": "sleeper.service (runtime properties)",
                              "before": "MemoryMax=infinity\nTasksMax=4915\n",
                              "after": "MemoryMax=536870912\nTasksMax=77\n"}]
    result = run_module([RUNTIME])
    assert result["changed"] is True and result["daemon_reloaded"] is False
    assert ["set-property", "--runtime", "--", "sleeper.service", "MemoryMax=536870912", "TasksMax=77"] in systemd.calls
    assert result["units"][0]["dropin"] is None
    assert not (tmp_path / "units" / "sleeper.service.d").exists()
    assert systemd.units["sleeper.service"].main_pid == 100
    again = run_module([RUNTIME])
    assert again["changed"] is False
    assert systemd.verbs().count("set-property") == 1


def test_runtime_sets_only_what_differs(make_systemd, run_module):
    systemd = make_systemd(FakeUnit("sleeper.service", base={"TasksMax": "77"}))
    run_module([RUNTIME])
    assert ["set-property", "--runtime", "--", "sleeper.service", "MemoryMax=536870912"] in systemd.calls


def test_runtime_warns_when_the_persistent_dropin_wins_at_reload(make_systemd, run_module, warnings):
    make_systemd(FakeUnit("sleeper.service"))
    run_module([PLACEMENT])
    result = run_module([RUNTIME])
    assert any("MemoryMax, TasksMax also set by" in w and "wins again at the next daemon-reload" in w
               for w in warnings)


def test_runtime_on_a_scope(make_systemd, run_module):
    systemd = make_systemd(FakeUnit("job1.scope"))
    result = run_module([{"name": "job1.scope", "runtime": True, "tasks_max": 44}])
    assert result["changed"] is True
    assert ["set-property", "--runtime", "--", "job1.scope", "TasksMax=44"] in systemd.calls


# ---------------------------------------------------------------------------------------------------------------------
# Removal

def test_absent_removes_dropin_and_directory(make_systemd, run_module, tmp_path):
    systemd = make_systemd(FakeUnit("sleeper.service"))
    run_module([PLACEMENT], restart=True)
    check = run_module([{"name": "sleeper.service", "state": "absent"}], check=True)
    assert check["changed"] is True and check["units"][0]["removed"] is True
    # Predicted from the unit's own files: back to system.slice, so the unit in tenant-a.slice must restart.
    assert check["restart_required"] == ["sleeper.service"]
    assert dropin(tmp_path).exists()
    result = run_module([{"name": "sleeper.service", "state": "absent"}], diff=True)
    assert result["changed"] is True and result["daemon_reloaded"] is True
    assert result["restart_required"] == ["sleeper.service"]
    assert not (tmp_path / "units" / "sleeper.service.d").exists()
    assert result["diff"][0]["before"] == EXPECTED_DROPIN and result["diff"][0]["after"] == ""
    assert systemd.units["sleeper.service"].effective().get("Slice") is None
    again = run_module([{"name": "sleeper.service", "state": "absent"}])
    assert again["changed"] is False and again["units"][0]["removed"] is False


def test_absent_keeps_other_files_in_the_directory(make_systemd, run_module, tmp_path):
    make_systemd(FakeUnit("sleeper.service"))
    run_module([PLACEMENT])
    (tmp_path / "units" / "sleeper.service.d" / "10-admin.conf").write_text("[Service]\nNice=5\n", encoding="utf-8")
    run_module([{"name": "sleeper.service", "state": "absent"}])
    assert files_below(tmp_path / "units") == {"sleeper.service.d/10-admin.conf": "[Service]\nNice=5\n"}


def test_absent_of_a_unit_never_moved_needs_no_restart(make_systemd, run_module):
    make_systemd(FakeUnit("sleeper.service"))
    run_module([PLACEMENT])
    result = run_module([{"name": "sleeper.service", "state": "absent"}], check=True)
    assert result["restart_required"] == []


# ---------------------------------------------------------------------------------------------------------------------
# Bad input: refused before anything changes

@pytest.mark.parametrize(("entry", "fragments"), [
    ({"name": "foo.bar", "memory_max": "1G"}, ["units[1] (foo.bar): name:", "unknown unit suffix .bar",
                                               ".service or .socket or .mount or .swap or .scope"]),
    ({"name": "tenant.slice", "memory_max": "1G"}, ["units[1] (tenant.slice): name:", "containerhost.platform.slice"]),
    ({"name": "sleeper.service", "slice": "a--b.slice"}, ["units[1] (sleeper.service): slice:", "doubled"]),
    ({"name": "sleeper.service", "cpu_quota": "-5%"}, ["units[1] (sleeper.service): cpu_quota:", "accepted:"]),
    ({"name": "sleeper.service", "allowed_cpus": "0-7"}, ["units[1] (sleeper.service): allowed_cpus:",
                                                          "2-7 not on this host", "within this host's 0-1"]),
    ({"name": "sleeper.service", "memory_max": "lots"}, ["units[1] (sleeper.service): memory_max:", "\"512M\""]),
    ({"name": "sleeper.service", "tasks_max": 0}, ["units[1] (sleeper.service): tasks_max:", "a positive integer"]),
    ({"name": "sleeper.service"}, ["units[1] (sleeper.service): nothing to set; accepted: slice, at least one limit"]),
    ({"name": "sleeper.service", "runtime": True, "slice": "x.slice"},
     ["units[1] (sleeper.service): slice: a running unit cannot move", "accepted: runtime: false"]),
    ({"name": "sleeper.service", "runtime": True, "state": "absent"},
     ["units[1] (sleeper.service): state: absent with runtime: true", "systemctl revert sleeper.service"]),
    ({"name": "worker@.service", "runtime": True, "memory_max": "1G"},
     ["units[1] (worker@.service): runtime: worker@.service is a template", "worker@example.service"]),
    ({"name": "other.service", "runtime": True, "memory_max": "1G"},
     ["units[1] (other.service): runtime: other.service is not loaded (LoadState=not-found)", "accepted:"]),
    ({"name": "b.service", "memory_max": "1G"}, ["units[1] (b.service): name: b.service is already declared by "
                                                 "units[0] (b.service)"]),
])
def test_bad_input_is_refused_before_any_change(make_systemd, run_module, module_exits, tmp_path, entry, fragments):
    systemd = make_systemd(FakeUnit("sleeper.service"), FakeUnit("b.service"))
    before = files_below(tmp_path / "units")
    # The first entry is valid and would write a file: validation of the second must stop it.
    with pytest.raises(module_exits.fail) as exc_info:
        run_module([{"name": "b.service", "slice": "x.slice", "memory_max": "1G"}, entry])
    message = exc_info.value.result["msg"]
    for fragment in fragments:
        assert fragment in message
    assert files_below(tmp_path / "units") == before
    assert set(systemd.verbs()) <= {"show"}


def test_unknown_option_is_refused_by_the_argument_spec(make_systemd, run_module, module_exits):
    make_systemd(FakeUnit("sleeper.service"))
    with pytest.raises(module_exits.fail) as exc_info:
        run_module([{"name": "sleeper.service", "memory_maxx": "1G"}])
    assert "units.memory_maxx" in exc_info.value.result["msg"]


def test_systemctl_failure_is_reported_with_its_output(make_systemd, run_module, module_exits, monkeypatch):
    systemd = make_systemd(FakeUnit("sleeper.service"))
    original = systemd.run_command

    def failing_reload(args: t.Any, **kwargs: t.Any) -> tuple[int, str, str]:
        if args[1:] == ["daemon-reload"]:
            return 1, "", "Failed to reload daemon: Access denied\n"
        return original(args, **kwargs)

    monkeypatch.setattr(basic.AnsibleModule, "run_command", staticmethod(failing_reload))
    with pytest.raises(module_exits.fail) as exc_info:
        run_module([PLACEMENT])
    result = exc_info.value.result
    assert "daemon-reload failed (exit status 1): Failed to reload daemon: Access denied" in result["msg"]
    assert result["units"][0]["name"] == "sleeper.service"
