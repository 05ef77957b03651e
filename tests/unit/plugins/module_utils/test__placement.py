# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for module_utils/_placement.py: drop-ins, placement of running units and transient scope runs."""

from __future__ import annotations

import pytest

from ansible_collections.containerhost.platform.plugins.module_utils import _placement as placement
from ansible_collections.containerhost.platform.plugins.module_utils._unit_files import has_fingerprint

# ControlGroup of units on the testbed: a container host (systemd below podman's cgroup) and a VM.
CONTAINER_PREFIX = "/libpod_parent/libpod-b3fac2769796df502ead3d770080d70efa50d1fb333bae393360c95d55b172c5"


@pytest.mark.parametrize(("name", "expected"), [
    ("nginx", "nginx.service"),
    ("nginx.service", "nginx.service"),
    ("dbus.socket", "dbus.socket"),
    ("var-lib-containers.mount", "var-lib-containers.mount"),
    ("swapfile.swap", "swapfile.swap"),
    ("job1.scope", "job1.scope"),
    ("getty@tty1.service", "getty@tty1.service"),
    ("getty@.service", "getty@.service"),
])
def test_validate_placeable_accepts(name, expected):
    assert placement.validate_placeable(name, "units[0]") == expected


@pytest.mark.parametrize(("name", "fragments"), [
    ("tenant.slice", ["units[0]: name:", "is a slice", "containerhost.platform.slice", ".service, .socket"]),
    ("foo.bar", ["units[0]: name:", "unknown unit suffix .bar", ".service or .socket or .mount or .swap or .scope"]),
    ("backup.timer", ["units[0]: name:", "suffix .timer", "accepted here: .service"]),
    ("", ["units[0]: name:", "non-empty"]),
    ("bad name.service", ["units[0]: name:", "contains ' '"]),
])
def test_validate_placeable_refuses(name, fragments):
    with pytest.raises(placement.PlacementError) as exc_info:
        placement.validate_placeable(name, "units[0]")
    for fragment in fragments:
        assert fragment in str(exc_info.value)


@pytest.mark.parametrize(("name", "expected"), [("tenant-a.slice", "tenant-a.slice"), ("batch", "batch.slice")])
def test_validate_slice_accepts(name, expected):
    assert placement.validate_slice(name, "units[1] (x.service)") == expected


@pytest.mark.parametrize(("name", "fragment"), [
    ("a--b.slice", "may not lead, trail or be doubled"),
    ("-a.slice", "may not lead, trail or be doubled"),
    ("-.slice", "root slice"),
    ("x.service", "suffix .service; accepted here: .slice"),
])
def test_validate_slice_refuses(name, fragment):
    with pytest.raises(placement.PlacementError) as exc_info:
        placement.validate_slice(name, "units[1] (x.service)")
    assert str(exc_info.value).startswith("units[1] (x.service): slice: ")
    assert fragment in str(exc_info.value)


@pytest.mark.parametrize(("name", "section"), [
    ("a.service", "Service"), ("a.socket", "Socket"), ("a.mount", "Mount"), ("a.swap", "Swap"), ("a.scope", "Scope"),
])
def test_unit_section(name, section):
    assert placement.unit_section(name) == section


@pytest.mark.parametrize(("name", "expected"), [
    ("getty@.service", True), ("getty@tty1.service", False), ("nginx.service", False),
])
def test_is_template(name, expected):
    assert placement.is_template(name) is expected


def test_dropin_path():
    assert placement.dropin_path("/etc/systemd/system", "nginx.service") == \
        "/etc/systemd/system/nginx.service.d/50-containerhost-resources.conf"


def test_render_dropin_slice_first_then_properties():
    text = placement.render_dropin("nginx.service", "tenant-a.slice",
                                   {"MemoryMax": "268435456", "IOReadBandwidthMax": "/dev/sda 1048576\n/dev/vda 2048"})
    assert text == (
        "# Ansible managed: containerhost.platform.unit_resources\n"
        "# Changes are overwritten by the next run; change the playbook instead.\n"
        "# containerhost.platform:unit_resources\n"
        "\n"
        "[Service]\n"
        "Slice=tenant-a.slice\n"
        "MemoryMax=268435456\n"
        "IOReadBandwidthMax=/dev/sda 1048576\n"
        "IOReadBandwidthMax=/dev/vda 2048\n"
    )
    assert has_fingerprint(text, "unit_resources")


def test_render_dropin_section_follows_type_and_no_slice():
    text = placement.render_dropin("job.scope", None, {"TasksMax": "10"})
    assert "[Scope]\nTasksMax=10\n" in text
    assert "Slice=" not in text


def test_parse_dropin_last_wins_lists_join_and_reset():
    text = ("# comment\n[Service]\nSlice=a.slice\nMemoryMax=1\n; other comment\nMemoryMax=2\n"
            "IODeviceWeight=/dev/sda 100\nIODeviceWeight=/dev/sdb 200\n[Install]\nWantedBy=multi-user.target\n"
            "IOReadBandwidthMax=/dev/sda 1\nIOReadBandwidthMax=\nIOReadBandwidthMax=/dev/sdc 3\n")
    assert placement.parse_dropin(text) == {
        "Slice": "a.slice", "MemoryMax": "2", "IODeviceWeight": "/dev/sda 100\n/dev/sdb 200",
        "WantedBy": "multi-user.target", "IOReadBandwidthMax": "/dev/sdc 3"}


def test_parse_dropin_none():
    assert not placement.parse_dropin(None)


@pytest.mark.parametrize(("control_group", "expected"), [
    ("", None),
    (None, None),
    ("/system.slice/sleeper.service", "system.slice"),
    ("/tenant.slice/tenant-a.slice/sleeper.service", "tenant-a.slice"),
    (f"{CONTAINER_PREFIX}/system.slice/sleeper.service", "system.slice"),
    (f"{CONTAINER_PREFIX}/tenant.slice/tenant-a.slice/sleeper.service", "tenant-a.slice"),
    ("/init.scope", "-.slice"),
    (f"{CONTAINER_PREFIX}/init.scope", "-.slice"),
])
def test_running_slice(control_group, expected):
    assert placement.running_slice(control_group) == expected


@pytest.mark.parametrize(("shown", "wanted", "expected"), [
    ({"ActiveState": "active", "ControlGroup": "/system.slice/a.service"}, "tenant-a.slice", True),
    ({"ActiveState": "active", "ControlGroup": "/tenant.slice/tenant-a.slice/a.service"}, "tenant-a.slice", False),
    ({"ActiveState": "inactive", "ControlGroup": ""}, "tenant-a.slice", False),
    ({"ActiveState": "failed", "ControlGroup": "/system.slice/a.service"}, "tenant-a.slice", False),
    # A mount is active without a cgroup once its helper ended: nothing to move.
    ({"ActiveState": "active", "ControlGroup": ""}, "tenant-a.slice", False),
    ({"ActiveState": "active", "ControlGroup": "/system.slice/a.service"}, None, False),
    ({"ActiveState": "deactivating", "ControlGroup": "/system.slice/a.service"}, "b.slice", True),
])
def test_restart_required(shown, wanted, expected):
    assert placement.restart_required(shown, wanted) is expected


@pytest.mark.parametrize(("name", "expected"), [
    ("nginx.service", "system.slice"),
    ("getty@tty1.service", "system-getty.slice"),
    ("my-app@1.service", "system-my\\x2dapp.slice"),
])
def test_default_slice(name, expected):
    assert placement.default_slice(name) == expected


@pytest.mark.parametrize(("texts", "expected"), [
    ([], "system.slice"),
    ([None, ""], "system.slice"),
    (["[Service]\nSlice=vendor.slice\n"], "vendor.slice"),
    (["[Service]\nSlice=vendor.slice\n", "[Service]\nSlice=admin.slice\n"], "admin.slice"),
    (["[Service]\nSlice=vendor.slice\n", "[Service]\nSlice=\n"], "system.slice"),
])
def test_slice_without_ours(texts, expected):
    assert placement.slice_without_ours("nginx.service", texts) == expected


@pytest.mark.parametrize(("name", "controller"), [
    ("CPUQuota", "cpu"), ("CPUWeight", "cpu"), ("StartupCPUWeight", "cpu"), ("CPUQuotaPeriodSec", "cpu"),
    ("MemoryMax", "memory"), ("MemorySwapMax", "memory"), ("TasksMax", "pids"), ("IOWeight", "io"),
    ("IOReadIOPSMax", "io"), ("StartupIOWeight", "io"), ("AllowedCPUs", "cpuset"),
    ("StartupAllowedMemoryNodes", "cpuset"), ("Description", None),
])
def test_controller_for(name, controller):
    assert placement.controller_for(name) == controller


def test_pending_until_restart():
    # What the VM showed: memory and pids enabled in system.slice, cpu/io/cpuset only along the new slice.
    pending = placement.pending_until_restart(["MemoryMax", "TasksMax", "CPUQuota", "AllowedCPUs", "IOWeight"],
                                              ["memory", "pids"])
    assert pending == {"CPUQuota": "cpu", "AllowedCPUs": "cpuset", "IOWeight": "io"}
    assert not placement.pending_until_restart(["CPUQuota"], ["cpu", "memory"])


def test_foreign_dropins_after_ours_only():
    ours = "/etc/systemd/system/a.service.d/50-containerhost-resources.conf"
    paths = f"/run/systemd/system.control/a.service.d/50-MemoryMax.conf {ours} /etc/systemd/system/a.service.d/override.conf"
    assert placement.foreign_dropins(paths, ours) == ["/etc/systemd/system/a.service.d/override.conf"]
    assert not placement.foreign_dropins("/x/override.conf", ours)


def test_runtime_conflicts():
    dropin = "[Service]\nSlice=a.slice\nMemoryMax=268435456\n"
    assert placement.runtime_conflicts(["MemoryMax", "TasksMax"], dropin) == ["MemoryMax"]
    assert not placement.runtime_conflicts(["MemoryMax"], None)


# ---- scopes

def test_scope_argv_full():
    argv = placement.scope_argv("/usr/bin/systemd-run", "job.scope", "batch.slice", "nightly job",
                                {"MemoryMax": "67108864", "IOReadBandwidthMax": "/dev/sda 1024\n/dev/vda 2048"},
                                ["python3", "-c", "print(1)"])
    assert argv == ["/usr/bin/systemd-run", "--scope", "--unit=job.scope", "--slice=batch.slice",
                    "--description=nightly job", "-p", "MemoryMax=67108864", "-p", "IOReadBandwidthMax=/dev/sda 1024",
                    "-p", "IOReadBandwidthMax=/dev/vda 2048", "--", "python3", "-c", "print(1)"]


def test_scope_argv_minimal_keeps_dashes_after_separator():
    assert placement.scope_argv("systemd-run", "x.scope", None, None, {}, ["--weird", "-p"]) == [
        "systemd-run", "--scope", "--unit=x.scope", "--", "--weird", "-p"]


@pytest.mark.parametrize(("stderr", "unit", "rest"), [
    ("Running scope as unit: job.scope\nerr\n", "job.scope", "err\n"),
    ("Running scope as unit: job.scope\n", "job.scope", ""),
    ("Running scope as unit job.scope.\n", "job.scope", ""),
    ("Failed to start transient scope unit: Unit job.scope was already loaded or has a fragment file.\n", None,
     "Failed to start transient scope unit: Unit job.scope was already loaded or has a fragment file.\n"),
    ("", None, ""),
])
def test_split_scope_notice(stderr, unit, rest):
    assert placement.split_scope_notice(stderr) == (unit, rest)


@pytest.mark.parametrize(("rc", "shown", "expected"), [
    # What the VM showed after a 256M allocation under MemoryMax=64M.
    (-9, {"LoadState": "loaded", "ActiveState": "failed", "Result": "oom-kill"},
     {"result": "oom-kill", "active_state": "failed", "oom_killed": True, "signal": 9, "needs_reset": True}),
    (0, {"LoadState": "not-found", "ActiveState": "inactive", "Result": "success"},
     {"result": "success", "active_state": "inactive", "oom_killed": False, "signal": None, "needs_reset": False}),
    (3, {"LoadState": "not-found", "ActiveState": "inactive"},
     {"result": "success", "active_state": "inactive", "oom_killed": False, "signal": None, "needs_reset": False}),
    (137, {"LoadState": "loaded", "ActiveState": "active", "Result": "success"},
     {"result": "success", "active_state": "active", "oom_killed": False, "signal": 9, "needs_reset": False}),
    (-15, {}, {"result": "success", "active_state": "inactive", "oom_killed": False, "signal": 15,
               "needs_reset": False}),
])
def test_scope_outcome(rc, shown, expected):
    assert placement.scope_outcome(rc, shown) == expected


@pytest.mark.parametrize(("outcome", "rc", "capped", "fragments"), [
    ({"oom_killed": True, "signal": 9}, -9, ["MemoryMax=67108864"],
     ["job.scope:", "OOM killer", "(MemoryMax=67108864)", "Result=oom-kill"]),
    ({"oom_killed": False, "signal": 15}, -15, [], ["job.scope:", "signal 15"]),
    ({"oom_killed": False, "signal": None}, 3, [], ["job.scope: non-zero return code 3"]),
])
def test_scope_failure_message(outcome, rc, capped, fragments):
    message = placement.scope_failure_message("job.scope", outcome, rc, capped)
    for fragment in fragments:
        assert fragment in message


def test_generated_scope_name_is_a_valid_scope():
    name = placement.generated_scope_name("0123456789ab")
    assert name == "containerhost-0123456789ab.scope"
    assert placement.validate_placeable(name, "x") == name
