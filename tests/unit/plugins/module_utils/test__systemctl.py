# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for the systemctl runner: the argv it builds and how it reads systemctl's output."""

from __future__ import annotations

import typing as t

from pathlib import Path

import pytest

from ansible_collections.containerhost.platform.plugins.module_utils import _systemctl as sc

FIXTURES = Path(__file__).parent / "fixtures" / "resource_control"


class FakeModule:
    """Records run_command calls and answers from a queue."""

    def __init__(self, answers: list[tuple[int, str, str]] | None = None) -> None:
        self.calls: list[list[str]] = []
        self.answers = list(answers or [])

    def get_bin_path(self, name: str, required: bool = False) -> str:
        """Every tool lives in /usr/bin."""
        return f"/usr/bin/{name}"

    def run_command(self, argv: t.Any, environ_update: dict | None = None, **kwargs: t.Any) -> tuple[int, str, str]:
        """Record the argv (which must be a list) and return the next answer."""
        assert isinstance(argv, list)
        assert environ_update and environ_update["LC_ALL"] == "C"
        self.calls.append(argv)
        return self.answers.pop(0) if self.answers else (0, "", "")


def test_parse_show_real_output_two_units():
    text = (FIXTURES / "show-v2-vm.txt").read_text()
    shown = sc.parse_show(text, ["fx.slice", "missing.slice"])
    assert shown["fx.slice"]["ActiveState"] == "active"
    assert shown["fx.slice"]["IODeviceWeight"] == "/dev/vda 500\n/dev/zram0 600"
    assert shown["fx.slice"]["DropInPaths"] == ""
    assert shown["missing.slice"]["MemoryMax"] == "infinity"
    assert "IODeviceWeight" not in shown["missing.slice"]


def test_parse_show_matches_by_id_and_fills_missing_units():
    text = "Id=b.slice\nMemoryMax=1\n\nId=a.slice\nMemoryMax=2\n"
    shown = sc.parse_show(text, ["a.slice", "b.slice", "c.slice"])
    assert shown == {"a.slice": {"Id": "a.slice", "MemoryMax": "2"}, "b.slice": {"Id": "b.slice", "MemoryMax": "1"},
                     "c.slice": {}}


def test_parse_show_alias_falls_back_to_position():
    shown = sc.parse_show("Id=real.service\nActiveState=active\n", ["alias.service"])
    assert shown["alias.service"]["ActiveState"] == "active"


def test_parse_is_active():
    assert sc.parse_is_active("active\ninactive\n", ["a", "b", "c"]) == {"a": "active", "b": "inactive", "c": "unknown"}


@pytest.mark.parametrize(
    ("assignments", "expected"),
    [
        ({"CPUWeight": "200", "MemoryMax": "1024"}, ["CPUWeight=200", "MemoryMax=1024"]),
        ({"IODeviceWeight": "/dev/sda 100\n/dev/sdb 200"},
         ["IODeviceWeight=", "IODeviceWeight=/dev/sda 100", "IODeviceWeight=/dev/sdb 200"]),
        ({"IOReadBandwidthMax": "/dev/sda 1048576"}, ["IOReadBandwidthMax=", "IOReadBandwidthMax=/dev/sda 1048576"]),
        ([("Slice", "a.slice"), ("TasksMax", "infinity")], ["Slice=a.slice", "TasksMax=infinity"]),
        ({"AllowedCPUs": ""}, ["AllowedCPUs="]),
    ],
)
def test_assignment_args(assignments, expected):
    assert sc.assignment_args(assignments) == expected


def test_show_is_one_call_for_all_units():
    module = FakeModule([(0, "Id=a.slice\nMemoryMax=1\n\nId=b.slice\nMemoryMax=2\n", "")])
    shown = sc.Systemctl(module).show(["a.slice", "b.slice"], ["MemoryMax", "Id", "MemoryMax"])
    assert module.calls == [["/usr/bin/systemctl", "show", "--property=Id,MemoryMax", "--", "a.slice", "b.slice"]]
    assert shown["b.slice"]["MemoryMax"] == "2"
    assert sc.Systemctl(module).show([], ["MemoryMax"]) == {}
    assert len(module.calls) == 1


def test_commands_and_argv():
    module = FakeModule()
    runner = sc.Systemctl(module)
    runner.daemon_reload()
    runner.set_property("a.slice", {"MemoryMax": "1024"})
    runner.set_property("a.slice", {"MemoryMax": "1024"}, runtime=False)
    runner.set_property("a.slice", {})
    runner.start(["a.service"])
    runner.stop(["a.slice", "b.slice"])
    runner.restart(["a.service"])
    runner.stop([])
    assert module.calls == [
        ["/usr/bin/systemctl", "daemon-reload"],
        ["/usr/bin/systemctl", "set-property", "--runtime", "--", "a.slice", "MemoryMax=1024"],
        ["/usr/bin/systemctl", "set-property", "--", "a.slice", "MemoryMax=1024"],
        ["/usr/bin/systemctl", "start", "--", "a.service"],
        ["/usr/bin/systemctl", "stop", "--", "a.slice", "b.slice"],
        ["/usr/bin/systemctl", "restart", "--", "a.service"],
    ]


def test_is_active_ignores_exit_status():
    module = FakeModule([(3, "active\ninactive\n", "")])
    assert sc.Systemctl(module, binary="/bin/systemctl").is_active(["a", "b"]) == {"a": "active", "b": "inactive"}
    assert module.calls == [["/bin/systemctl", "is-active", "--", "a", "b"]]


def test_failure_raises_with_details():
    module = FakeModule([(1, "", "Failed to set unit properties on a.slice: Unit a.slice not found.\n")])
    with pytest.raises(sc.SystemctlError) as exc_info:
        sc.Systemctl(module).set_property("a.slice", {"MemoryMax": "1"})
    error = exc_info.value
    assert "exit status 1" in str(error) and "Unit a.slice not found" in str(error)
    assert error.result() == {"cmd": ["/usr/bin/systemctl", "set-property", "--runtime", "--", "a.slice", "MemoryMax=1"],
                              "rc": 1, "stdout": "", "stderr": "Failed to set unit properties on a.slice: Unit a.slice not found.\n"}


LIST_UNITS = """\
-.slice                      loaded    active   active Root Slice
\u25cf broken.slice             not-found inactive dead   broken.slice
system-serial\\x2dgetty.slice loaded    active   active Slice /system/serial-getty
tenant.slice                 loaded    inactive dead   Tenants
"""


def test_parse_unit_states_and_names():
    states = sc.parse_unit_states(LIST_UNITS)
    assert states == {
        "-.slice": {"load": "loaded", "active": "active", "sub": "active"},
        "broken.slice": {"load": "not-found", "active": "inactive", "sub": "dead"},
        "system-serial\\x2dgetty.slice": {"load": "loaded", "active": "active", "sub": "active"},
        "tenant.slice": {"load": "loaded", "active": "inactive", "sub": "dead"},
    }
    assert sc.parse_unit_list("machine.slice static -\nuser.slice static -\n\n") == ["machine.slice", "user.slice"]


def test_listing_calls():
    module = FakeModule([(0, LIST_UNITS, ""), (0, LIST_UNITS, ""), (0, "machine.slice static -\n", "")])
    runner = sc.Systemctl(module)
    assert runner.unit_states("slice")["tenant.slice"]["active"] == "inactive"
    assert runner.list_units("slice") == ["-.slice", "broken.slice", "system-serial\\x2dgetty.slice", "tenant.slice"]
    assert runner.list_unit_files("slice") == ["machine.slice"]
    assert module.calls == [
        ["/usr/bin/systemctl", "list-units", "--type=slice", "--all", "--plain", "--no-legend", "--no-pager"],
        ["/usr/bin/systemctl", "list-units", "--type=slice", "--all", "--plain", "--no-legend", "--no-pager"],
        ["/usr/bin/systemctl", "list-unit-files", "--type=slice", "--plain", "--no-legend", "--no-pager"],
    ]
