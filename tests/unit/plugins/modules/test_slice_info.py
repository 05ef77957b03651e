# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for the containerhost.platform.slice_info module, with systemctl output captured on the testbed VM."""

from __future__ import annotations

import typing as t

from pathlib import Path

import pytest

from ansible_collections.containerhost.platform.plugins.modules import slice_info

FIXTURES = Path(__file__).parents[1] / "module_utils" / "fixtures" / "resource_control"
SYSTEMCTL = "/usr/bin/systemctl"

LIST_UNITS = """\
-.slice                      loaded active active Root Slice
system-getty.slice           loaded active active Slice /system/getty
system.slice                 loaded active active System Slice
tenant.slice                 loaded active active Slice /tenant
tenant-a.slice               loaded active active Tenant A
user.slice                   loaded active active User and Session Slice
"""
LIST_UNIT_FILES = """\
machine.slice                      static -
tenant-b.slice                     static -
user.slice                         static -
"""


class FakeSystemctl:
    """Answers list-units, list-unit-files and show like systemd 252 on the testbed VM."""

    def __init__(self, unit_dir: Path) -> None:
        self.calls: list[list[str]] = []
        self.unit_dir = unit_dir
        self.shown: dict[str, str] = {
            "tenant.slice": f"Slice=-.slice\nDescription=Tenants\nFragmentPath={unit_dir}/tenant.slice\n"
                            "CPUWeight=200\nMemoryMax=1073741824\nMemoryCurrent=196608\nTasksCurrent=1\n"
                            "CPUUsageNSec=35962000\nActiveState=active\nLoadState=loaded\n",
            "tenant-a.slice": self.captured_fx_slice(),
            "tenant-b.slice": "Slice=-.slice\nLoadState=loaded\nActiveState=inactive\nFragmentPath=\n",
        }

    @staticmethod
    def captured_fx_slice() -> str:
        """fx.slice as captured on the VM, renamed tenant-a.slice, with usage counters added."""
        block = (FIXTURES / "show-v2-vm.txt").read_text().split("\n\n")[0]
        block = block.replace("Id=fx.slice", "Id=tenant-a.slice")
        block = block.replace("ControlGroup=/fx.slice", "ControlGroup=/tenant.slice/tenant-a.slice")
        return block + "\nMemoryCurrent=188416\nTasksCurrent=[not set]\nCPUUsageNSec=18446744073709551615\n"

    def run_command(self, argv: t.Any, **kwargs: t.Any) -> tuple[int, str, str]:
        """Stand-in for AnsibleModule.run_command."""
        assert isinstance(argv, list) and argv[0] == SYSTEMCTL
        self.calls.append(argv[1:])
        if argv[1] == "list-units":
            return 0, LIST_UNITS, ""
        if argv[1] == "list-unit-files":
            return 0, LIST_UNIT_FILES, ""
        assert argv[1] == "show"
        units = argv[argv.index("--") + 1:]
        blocks = [f"Id={unit}\n" + self.shown.get(unit, "LoadState=not-found\nActiveState=inactive\n") for unit in units]
        return 0, "\n".join(blocks), ""


@pytest.fixture
def fake(tmp_path: Path, fake_commands) -> FakeSystemctl:
    """Point the module at the fake systemctl; tenant.slice's unit file carries the slice module's fingerprint."""
    (tmp_path / "tenant.slice").write_text("# containerhost.platform:slice\n[Slice]\nCPUWeight=200\n")
    return fake_commands(FakeSystemctl(tmp_path))


@pytest.fixture
def run(fake, run_main) -> t.Callable[..., dict[str, t.Any]]:
    """Run slice_info with the given arguments."""

    def _run(args: dict[str, t.Any], fail: bool = False) -> dict[str, t.Any]:
        return run_main(slice_info.main, args, fail=fail)

    return _run


def test_glob_selects_a_subtree_with_limits_and_usage(fake, run):
    result = run({"names": ["tenant*"]})
    assert result["changed"] is False
    assert sorted(result["slices"]) == ["tenant-a.slice", "tenant-b.slice", "tenant.slice"]
    assert result["roots"] == ["tenant.slice"]
    tenant = result["slices"]["tenant.slice"]
    assert tenant["children"] == ["tenant-a.slice", "tenant-b.slice"]
    assert tenant["parent"] == "-.slice" and tenant["managed"] is True
    assert tenant["limits"]["cpu_weight"] == 200 and tenant["limits"]["memory_max"] == 1073741824
    assert tenant["limits"]["cpu_quota"] is None and tenant["limits"]["allowed_cpus"] is None
    assert tenant["usage"] == {"memory_current_bytes": 196608, "tasks_current": 1, "cpu_usage_nsec": 35962000}
    tenant_a = result["slices"]["tenant-a.slice"]
    assert tenant_a["parent"] == "tenant.slice" and tenant_a["control_group"] == "/tenant.slice/tenant-a.slice"
    assert tenant_a["managed"] is False  # /etc/systemd/system/fx.slice is not readable here
    assert tenant_a["limits"] == {
        "cpu_weight": "idle", "startup_cpu_weight": 300, "cpu_quota": "12.5%", "cpu_quota_period": "50ms",
        "memory_min": 10485760, "memory_low": 20971520, "memory_high": 773595136, "memory_max": 1073741824,
        "memory_swap_max": 0, "tasks_max": 1162, "io_weight": 300, "startup_io_weight": 400,
        "io_device_weight": [{"device": "/dev/vda", "weight": 500}, {"device": "/dev/zram0", "weight": 600}],
        "io_read_bandwidth_max": [{"device": "/dev/vda", "limit": 1048576}],
        "io_write_bandwidth_max": [{"device": "/dev/vda", "limit": 2097152}],
        "io_read_iops_max": [{"device": "/dev/vda", "limit": 1000}],
        "io_write_iops_max": [{"device": "/dev/vda", "limit": 2000}],
        "allowed_cpus": [0, 1], "startup_allowed_cpus": [1], "allowed_memory_nodes": [0],
        "startup_allowed_memory_nodes": [0],
    }
    # Not accounted: null, not a huge number.
    assert tenant_a["usage"] == {"memory_current_bytes": 188416, "tasks_current": None, "cpu_usage_nsec": None}
    assert result["slices"]["tenant-b.slice"]["unit_file"] is None
    # Three reads in all, and one show for every slice.
    assert [call[0] for call in fake.calls] == ["list-units", "list-unit-files", "show"]
    assert fake.calls[2][-3:] == ["tenant-a.slice", "tenant-b.slice", "tenant.slice"]


def test_all_slices_form_one_tree_under_the_root(run):
    result = run({})
    assert result["roots"] == ["-.slice"]
    assert result["slices"]["-.slice"]["parent"] is None
    assert "machine.slice" in result["slices"] and "system-getty.slice" in result["slices"]
    assert result["slices"]["system-getty.slice"]["parent"] == "system.slice"
    assert result["slices"]["system.slice"]["children"] == ["system-getty.slice"]


def test_plain_name_is_reported_even_when_unknown(run):
    result = run({"names": ["ghost", "tenant.slice"]})
    assert sorted(result["slices"]) == ["ghost.slice", "tenant.slice"]
    assert result["slices"]["ghost.slice"]["load_state"] == "not-found"
    assert result["slices"]["ghost.slice"]["limits"]["memory_max"] is None


def test_bad_name_fails_naming_it(fake, run):
    result = run({"names": ["tenant.service"]}, fail=True)
    assert result["msg"].startswith("names[0]: unit name 'tenant.service' has the suffix .service")
    assert fake.calls == []


def test_wanted_names():
    known = ["a.slice", "a-b.slice", "b.slice", "a.slice"]
    assert slice_info.wanted_names([], known) == ["a-b.slice", "a.slice", "b.slice"]
    assert slice_info.wanted_names(["a*"], known) == ["a-b.slice", "a.slice"]
    assert slice_info.wanted_names(["c.slice", "b?slice"], known) == ["b.slice", "c.slice"]
