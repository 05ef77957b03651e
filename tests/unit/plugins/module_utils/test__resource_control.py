# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for resource limits: parsing, validation, translation per host, rendering and show comparison."""

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.containerhost.platform.plugins.module_utils import _resource_control as rc
from ansible_collections.containerhost.platform.plugins.module_utils._systemctl import parse_show

FIXTURES = Path(__file__).parent / "fixtures" / "resource_control"
WHERE = "slices[2] (tenant-a.slice)"


def fixture(name: str) -> str:
    """Text of a captured fixture file."""
    return (FIXTURES / name).read_text(encoding="utf-8")


# The testbed VM (cgroup v2) and container host (hybrid, no v1 controller usable by systemd), as measured.
VM = rc.HostLimits(systemd_version=252, cgroup_mode="v2",
                   controllers=("cpu", "cpuset", "hugetlb", "io", "memory", "misc", "pids", "rdma"),
                   online_cpus=(0, 1), numa_nodes=(0,), memory_bytes=1510932 * 1024, tasks_max_system=11620)
CONTAINER = rc.HostLimits(systemd_version=252, cgroup_mode="hybrid",
                          controllers=("hugetlb", "net_cls", "net_prio", "perf_event"),
                          online_cpus=(0, 1), numa_nodes=(0,), memory_bytes=24684096 * 1024, tasks_max_system=192731,
                          controller_note="its root cgroup /libpod_parent/x is missing")
V1_HOST = rc.HostLimits(systemd_version=252, cgroup_mode="v1", controllers=("blkio", "cpu", "cpuacct", "memory", "pids"),
                        online_cpus=(0, 1, 2, 3), numa_nodes=(0, 1))
CENTOS7 = rc.HostLimits(systemd_version=219, cgroup_mode="v1", controllers=("blkio", "cpu", "cpuacct", "memory", "pids"),
                        online_cpus=(0, 1, 2, 3), numa_nodes=(0,))

# Every option, as the fixture slice fx.slice was declared on the testbed.
ALL_OPTIONS = {
    "cpu_weight": "idle", "startup_cpu_weight": 300, "cpu_quota": "12.5%", "cpu_quota_period": "50ms",
    "memory_min": "10M", "memory_low": "20M", "memory_high": "50%", "memory_max": "1G", "memory_swap_max": 0,
    "tasks_max": "10%", "io_weight": 300, "startup_io_weight": 400,
    "io_device_weight": [{"device": "/dev/zram0", "weight": 600}, {"device": "/dev/vda", "weight": "500"}],
    "io_read_bandwidth_max": [{"device": "/dev/vda", "limit": "1M"}],
    "io_write_bandwidth_max": [{"device": "/dev/vda", "limit": 2097152}],
    "io_read_iops_max": [{"device": "/dev/vda", "limit": 1000}],
    "io_write_iops_max": [{"device": "/dev/vda", "limit": "2000"}],
    "allowed_cpus": "0-1", "startup_allowed_cpus": [1], "allowed_memory_nodes": 0, "startup_allowed_memory_nodes": "0",
}


# ---- single values

@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, 0), (536870912, 536870912), ("512", 512), ("512M", 536870912), ("1G", 1073741824), ("1g", 1073741824),
        ("1.5G", 1610612736), ("2T", 2 * 1024 ** 4), ("4K", 4096), ("1KiB", 1024), ("10MB", 10485760),
        ("1 G", 1073741824), ("0.1K", 102),
        (-1, None), ("-1G", None), ("1X", None), ("G", None), ("", None), (True, None), (1.5, None), ("1e9", None),
    ],
)
def test_parse_size(value, expected):
    assert rc.parse_size(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("150%", 15000), ("12.5%", 1250), ("0.01%", 1), ("100 %", 10000), ("12.345%", None), ("150", None), (150, None),
     ("%", None), ("-5%", None)],
)
def test_parse_percent(value, expected):
    assert rc.parse_percent(value) == expected


@pytest.mark.parametrize(("permyriad", "text"), [(15000, "150%"), (1250, "12.5%"), (1, "0.01%"), (1205, "12.05%")])
def test_format_percent(permyriad, text):
    assert rc.format_percent(permyriad) == text


@pytest.mark.parametrize(
    ("value", "usec"),
    [("100ms", 100000), ("1s", 1000000), ("20000us", 20000), ("0.5s", 500000), ("5 msec", 5000), ("1sec", 1000000),
     ("100", None), (100, None), ("1min", None), ("ms", None)],
)
def test_parse_duration(value, usec):
    assert rc.parse_duration(value) == usec


@pytest.mark.parametrize(("usec", "text"), [(100000, "100ms"), (1000000, "1s"), (1500, "1500us"), (2000000, "2s")])
def test_format_duration(usec, text):
    assert rc.format_duration(usec) == text


@pytest.mark.parametrize(
    ("text", "usec"),
    [("125ms", 125000), ("1.500000s", 1500000), ("50ms", 50000), ("1min 30s", 90000000), ("2s 500ms", 2500000),
     ("infinity", None), ("[not set]", None), ("", None), ("100000", 100000)],
)
def test_parse_timespan(text, usec):
    assert rc.parse_timespan(text) == usec


@pytest.mark.parametrize("text", ["1.5 parsecs", "s", "5ms garbage"])
def test_parse_timespan_refuses(text):
    with pytest.raises(ValueError):
        rc.parse_timespan(text)


@pytest.mark.parametrize(
    ("numbers", "text"),
    [([0, 1, 2, 3, 6], "0-3,6"), ([5], "5"), ([3, 1, 2], "1-3"), ([0, 2, 4], "0,2,4"), ([], "")],
)
def test_format_cpu_list(numbers, text):
    assert rc.format_cpu_list(numbers) == text


@pytest.mark.parametrize(
    ("text", "numbers"),
    [("0-1", [0, 1]), ("", []), ("0200000000000000", [1]), ("0100000000000000", [0]),
     ("0f00000000000000", [0, 1, 2, 3]), ("0001000000000000", [8]), ("0 2", [0, 2])],
)
def test_parse_shown_cpu_set(text, numbers):
    assert rc.parse_shown_cpu_set(text) == numbers


def test_weight_conversions_match_systemd():
    assert [rc.cpu_weight_to_shares(w) for w in (0, 1, 100, 200, 10000)] == [2, 10, 1024, 2048, 102400]
    assert [rc.io_weight_to_blkio(w) for w in (1, 2, 100, 300, 10000)] == [10, 10, 500, 1000, 1000]


# ---- validation

def test_normalise_every_option():
    limits = rc.normalise_limits(ALL_OPTIONS, WHERE, VM)
    assert limits == {
        "cpu_weight": "idle", "startup_cpu_weight": 300, "cpu_quota": "12.5%", "cpu_quota_period": 50000,
        "memory_min": 10485760, "memory_low": 20971520, "memory_high": "50%", "memory_max": 1073741824,
        "memory_swap_max": 0, "tasks_max": "10%", "io_weight": 300, "startup_io_weight": 400,
        "io_device_weight": [{"device": "/dev/vda", "weight": 500}, {"device": "/dev/zram0", "weight": 600}],
        "io_read_bandwidth_max": [{"device": "/dev/vda", "limit": 1048576}],
        "io_write_bandwidth_max": [{"device": "/dev/vda", "limit": 2097152}],
        "io_read_iops_max": [{"device": "/dev/vda", "limit": 1000}],
        "io_write_iops_max": [{"device": "/dev/vda", "limit": 2000}],
        "allowed_cpus": [0, 1], "startup_allowed_cpus": [1], "allowed_memory_nodes": [0],
        "startup_allowed_memory_nodes": [0],
    }


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"cpu_weight": "200"}, {"cpu_weight": 200}),
        ({"cpu_quota": 150}, {"cpu_quota": "150%"}),
        ({"cpu_quota": "150"}, {"cpu_quota": "150%"}),
        ({"cpu_quota": 12.5}, {"cpu_quota": "12.5%"}),
        ({"cpu_quota": "400%"}, {"cpu_quota": "400%"}),
        ({"memory_max": "infinity", "memory_high": "100%"}, {"memory_max": "infinity", "memory_high": "100%"}),
        ({"memory_low": 0, "memory_min": "0"}, {"memory_low": 0, "memory_min": 0}),
        ({"tasks_max": "infinity"}, {"tasks_max": "infinity"}),
        ({"tasks_max": "4096"}, {"tasks_max": 4096}),
        ({"allowed_cpus": "1,0"}, {"allowed_cpus": [0, 1]}),
        ({"allowed_cpus": ["1", 0]}, {"allowed_cpus": [0, 1]}),
        ({"allowed_cpus": 1}, {"allowed_cpus": [1]}),
        ({"io_weight": None, "memory_max": None}, {}),
        ({}, {}),
    ],
)
def test_normalise_forms(options, expected):
    assert rc.normalise_limits(options, WHERE, VM) == expected


@pytest.mark.parametrize(
    ("options", "field", "accepted"),
    [
        ({"cpu_quota": "-50%"}, "cpu_quota", "a percentage of one CPU above 0"),
        ({"cpu_quota": -50}, "cpu_quota", "a percentage of one CPU above 0"),
        ({"cpu_quota": "0%"}, "cpu_quota", "above 0"),
        ({"cpu_quota": "fast"}, "cpu_quota", "such as \"150%\""),
        ({"cpu_quota": "12.345%"}, "cpu_quota", "at most two decimals"),
        ({"cpu_weight": 0}, "cpu_weight", "an integer 1..10000 or \"idle\""),
        ({"cpu_weight": 10001}, "cpu_weight", "1..10000"),
        ({"cpu_weight": True}, "cpu_weight", "1..10000"),
        ({"startup_cpu_weight": "idle"}, "startup_cpu_weight", "an integer 1..10000"),
        ({"io_weight": "heavy"}, "io_weight", "an integer 1..10000"),
        ({"cpu_quota_period": "100"}, "cpu_quota_period", "from 1ms to 1s with its unit"),
        ({"cpu_quota_period": "2s"}, "cpu_quota_period", "from 1ms to 1s"),
        ({"cpu_quota_period": "500us"}, "cpu_quota_period", "from 1ms to 1s"),
        ({"memory_max": "lots"}, "memory_max", "\"512M\""),
        ({"memory_max": 0}, "memory_max", "0 would leave no memory"),
        ({"memory_high": "0"}, "memory_high", "0 would leave no memory"),
        ({"memory_max": "150%"}, "memory_max", "at most 100%"),
        ({"memory_max": "-1"}, "memory_max", "K, M, G, T = 1024-based"),
        ({"memory_swap_max": "10%"}, "memory_swap_max", "\"infinity\""),
        ({"tasks_max": 0}, "tasks_max", "a positive integer"),
        ({"tasks_max": "many"}, "tasks_max", "\"10%\""),
        ({"allowed_cpus": "0-7"}, "allowed_cpus", "2-7 not on this host"),
        ({"allowed_cpus": [5]}, "allowed_cpus", "within this host's 0-1"),
        ({"allowed_cpus": "3-1"}, "allowed_cpus", "goes backwards"),
        ({"allowed_cpus": "all"}, "allowed_cpus", "a list such as"),
        ({"allowed_cpus": []}, "allowed_cpus", "a list such as"),
        ({"allowed_cpus": [-1]}, "allowed_cpus", "a list such as"),
        ({"allowed_memory_nodes": [1]}, "allowed_memory_nodes", "NUMA nodes within this host's 0"),
        ({"io_device_weight": [{"device": "sda", "weight": 100}]}, "io_device_weight[0].device", "/dev/sda"),
        ({"io_device_weight": [{"device": "/dev/my disk", "weight": 100}]}, "io_device_weight[0].device", "no spaces"),
        ({"io_device_weight": [{"device": "/dev/sda", "weight": 0}]}, "io_device_weight[0].weight", "1..10000"),
        ({"io_device_weight": [{"device": "/dev/sda", "weight": 1}, {"device": "/dev/sda", "weight": 2}]},
         "io_device_weight[1].device", "listed twice"),
        ({"io_device_weight": "/dev/sda 100"}, "io_device_weight", "a list of"),
        ({"io_read_bandwidth_max": [{"device": "/dev/sda", "limit": 0}]}, "io_read_bandwidth_max[0].limit",
         "bytes per second above 0"),
        ({"io_write_iops_max": [{"device": "/dev/sda", "limit": "1k"}]}, "io_write_iops_max[0].limit",
         "a positive integer"),
    ],
)
def test_normalise_refuses_naming_where_field_and_accepted(options, field, accepted):
    with pytest.raises(rc.ResourceError) as exc_info:
        rc.normalise_limits(options, WHERE, VM)
    message = str(exc_info.value)
    assert message.startswith(f"{WHERE}: {field}: ")
    assert accepted in message


def test_normalise_refuses_unknown_options():
    with pytest.raises(rc.ResourceError) as exc_info:
        rc.normalise_limits({"memroy_max": "1G"}, WHERE, VM)
    assert "unknown option(s) memroy_max" in str(exc_info.value)
    assert "memory_max" in str(exc_info.value)


def test_cpu_sets_unchecked_when_host_unknown():
    assert rc.normalise_limits({"allowed_cpus": "0-63"}, WHERE, rc.HostLimits())["allowed_cpus"] == list(range(64))


# ---- translation per host

def test_plan_on_v2_keeps_every_modern_name():
    plan = rc.plan_properties(rc.normalise_limits(ALL_OPTIONS, WHERE, VM), VM)
    assert plan.translated == [] and plan.not_honoured == []
    assert rc.render_section("Slice", plan) == fixture("expected-slice-section.txt")
    assert plan.sources["CPUQuota"] == "cpu_quota"


def test_plan_on_hybrid_container_reports_what_cannot_be_enforced():
    plan = rc.plan_properties(rc.normalise_limits(ALL_OPTIONS, WHERE, CONTAINER), CONTAINER)
    # systemd 252 knows every name: the file is the same as on v2.
    assert rc.render_section("Slice", plan) == fixture("expected-slice-section.txt")
    reasons = {entry["option"]: entry["reason"] for entry in plan.not_honoured}
    assert set(reasons) == set(ALL_OPTIONS)
    assert "needs the unified hierarchy" in reasons["memory_high"]
    assert "needs the unified hierarchy" in reasons["io_read_iops_max"]
    assert "needs the unified hierarchy" in reasons["allowed_cpus"]
    assert "the memory controller is not available to systemd (its root cgroup" in reasons["memory_max"]
    assert "the blkio controller" in reasons["io_weight"]


def test_plan_on_v1_with_controllers_notes_systemd_conversions():
    limits = rc.normalise_limits({"cpu_weight": 200, "io_weight": 300, "memory_max": "1G", "memory_high": "1G",
                                  "tasks_max": 100, "cpu_quota": "50%",
                                  "io_device_weight": [{"device": "/dev/sda", "weight": 10}],
                                  "io_write_bandwidth_max": [{"device": "/dev/sda", "limit": "1M"}],
                                  "allowed_memory_nodes": [1]}, WHERE, V1_HOST)
    plan = rc.plan_properties(limits, V1_HOST)
    assert plan.properties["CPUWeight"] == "200" and plan.properties["IOWeight"] == "300"
    notes = {entry["option"]: entry["reason"] for entry in plan.translated}
    assert notes["cpu_weight"] == "cgroup v1: systemd applies CPUWeight=200 as cpu.shares=2048"
    assert notes["io_weight"] == "cgroup v1: systemd applies IOWeight=300 as blkio.weight=1000"
    assert "blkio.weight_device (/dev/sda 50)" in notes["io_device_weight"]
    assert "blkio.throttle.write_bps_device" in notes["io_write_bandwidth_max"]
    assert "memory.limit_in_bytes" in notes["memory_max"]
    assert {entry["option"] for entry in plan.not_honoured} == {"memory_high", "allowed_memory_nodes"}
    assert all(entry["property"] in plan.properties for entry in plan.translated)
    assert "CPUShares" in rc.property_names() and "CPUWeight" in rc.property_names()


def test_plan_on_old_systemd_writes_legacy_names():
    limits = rc.normalise_limits({"cpu_weight": 200, "startup_cpu_weight": 50, "memory_max": "2G", "io_weight": 300,
                                  "io_device_weight": [{"device": "/dev/sda", "weight": 1}],
                                  "io_read_bandwidth_max": [{"device": "/dev/sda", "limit": 1024}],
                                  "io_read_iops_max": [{"device": "/dev/sda", "limit": 10}],
                                  "tasks_max": "10%", "cpu_quota": "20%", "memory_low": "1G"}, WHERE, CENTOS7)
    plan = rc.plan_properties(limits, CENTOS7)
    assert plan.properties == {"CPUShares": "2048", "StartupCPUShares": "512", "CPUQuota": "20%",
                               "MemoryLimit": "2147483648", "BlockIOWeight": "1000",
                               "BlockIODeviceWeight": "/dev/sda 10", "BlockIOReadBandwidth": "/dev/sda 1024"}
    assert [entry["property"] for entry in plan.translated] == [
        "CPUShares", "StartupCPUShares", "MemoryLimit", "BlockIOWeight", "BlockIODeviceWeight", "BlockIOReadBandwidth"]
    assert "written as CPUShares=2048 (weight x 1024 / 100)" in plan.translated[0]["reason"]
    assert {entry["option"] for entry in plan.not_honoured} == {"memory_low", "tasks_max", "io_read_iops_max"}
    assert rc.show_names(plan) == ["CPUShares", "StartupCPUShares", "CPUQuotaPerSecUSec", "MemoryLimit",
                                   "BlockIOWeight", "BlockIODeviceWeight", "BlockIOReadBandwidth"]


@pytest.mark.parametrize(
    ("version", "option", "value", "written"),
    [
        (249, "cpu_weight", "idle", None),
        (250, "cpu_weight", "idle", "CPUWeight"),
        (243, "allowed_cpus", [0], None),
        (244, "allowed_cpus", [0], "AllowedCPUs"),
        (251, "startup_allowed_cpus", [0], None),
        (241, "cpu_quota_period", 10000, None),
        (231, "cpu_weight", 100, "CPUShares"),
        (232, "cpu_weight", 100, "CPUWeight"),
        (228, "tasks_max", "10%", None),
        (228, "tasks_max", 10, "TasksMax"),
        (None, "startup_allowed_memory_nodes", [0], "StartupAllowedMemoryNodes"),
    ],
)
def test_plan_by_systemd_version(version, option, value, written):
    host = rc.HostLimits(systemd_version=version, cgroup_mode="v2", controllers=("cpu", "cpuset", "io", "memory", "pids"))
    plan = rc.plan_properties({option: value}, host)
    if written is None:
        assert plan.properties == {}
        assert [entry["option"] for entry in plan.not_honoured] == [option]
        assert f"systemd {version} does not" in plan.not_honoured[0]["reason"]
    else:
        assert list(plan.properties) == [written]


def test_plan_v2_missing_controller_and_no_cgroups():
    host = rc.HostLimits(systemd_version=252, cgroup_mode="v2", controllers=("cpu", "memory", "pids"))
    plan = rc.plan_properties({"io_weight": 100, "memory_max": 1024}, host)
    assert plan.properties == {"IOWeight": "100", "MemoryMax": "1024"}
    assert plan.not_honoured == [{"option": "io_weight", "reason": (
        "cgroup v2: the io controller is not available to systemd; systemd records IOWeight but nothing enforces it")}]
    plan = rc.plan_properties({"memory_max": 1024}, rc.HostLimits(systemd_version=252, cgroup_mode="none"))
    assert "no cgroup hierarchy" in plan.not_honoured[0]["reason"]


def test_plan_as_dict():
    plan = rc.plan_properties({"tasks_max": 10}, VM)
    assert plan.as_dict() == {"properties": {"TasksMax": "10"}, "translated": [], "not_honoured": []}


# ---- comparison with systemctl show

@pytest.mark.parametrize(("show_fixture", "host"), [("show-v2-vm.txt", VM), ("show-hybrid-container.txt", CONTAINER)])
def test_live_state_matching_the_declaration_has_no_differences(show_fixture, host):
    shown = parse_show(fixture(show_fixture), ["fx.slice", "missing.slice"])
    plan = rc.plan_properties(rc.normalise_limits(ALL_OPTIONS, WHERE, host), host)
    assert rc.live_differences(plan, shown["fx.slice"]) == {}
    missing = rc.live_differences(plan, shown["missing.slice"])
    assert set(missing) == set(plan.properties)
    assert missing["MemoryMax"] == ("1073741824", "infinity")
    assert missing["IODeviceWeight"] == ("/dev/vda 500\n/dev/zram0 600", "")


@pytest.mark.parametrize(
    ("options", "shown", "differs"),
    [
        ({"cpu_weight": 200}, {"CPUWeight": "200"}, False),
        ({"cpu_weight": 200}, {"CPUWeight": "[not set]"}, True),
        ({"cpu_weight": "idle"}, {"CPUWeight": "0"}, False),
        ({"cpu_weight": "idle"}, {"CPUWeight": "100"}, True),
        ({"cpu_quota": "150%"}, {"CPUQuotaPerSecUSec": "1.500000s"}, False),
        ({"cpu_quota": "150%"}, {"CPUQuotaPerSecUSec": "1.400000s"}, True),
        ({"cpu_quota": "5%"}, {"CPUQuotaPerSecUSec": "50ms"}, False),
        ({"cpu_quota": "5%"}, {"CPUQuotaPerSecUSec": "infinity"}, True),
        ({"cpu_quota": "5%"}, {"CPUQuotaPerSecUSec": "bogus"}, True),
        ({"cpu_quota_period": "1s"}, {"CPUQuotaPeriodUSec": "1s"}, False),
        ({"cpu_quota_period": "1s"}, {"CPUQuotaPeriodUSec": "infinity"}, True),
        ({"memory_max": "1G"}, {"MemoryMax": "1073741824"}, False),
        ({"memory_max": "1G"}, {"MemoryMax": "infinity"}, True),
        ({"memory_max": "infinity"}, {"MemoryMax": "infinity"}, False),
        ({"memory_max": "infinity"}, {"MemoryMax": "1073741824"}, True),
        # 25% of the VM's 377733 pages, rounded down to whole pages as systemd does.
        ({"memory_max": "25%"}, {"MemoryMax": str(377733 * 2500 // 10000 * 4096)}, False),
        ({"memory_max": "25%"}, {"MemoryMax": str(377733 * 3000 // 10000 * 4096)}, True),
        ({"tasks_max": "10%"}, {"TasksMax": "1162"}, False),
        ({"tasks_max": "10%"}, {"TasksMax": "2000"}, True),
        ({"tasks_max": "10%"}, {"TasksMax": "infinity"}, True),
        ({"tasks_max": 50}, {"TasksMax": "50"}, False),
        ({"allowed_cpus": [1]}, {"AllowedCPUs": "1"}, False),
        ({"allowed_cpus": [1]}, {"AllowedCPUs": ""}, True),
        ({"startup_allowed_cpus": [1]}, {"StartupAllowedCPUs": "0200000000000000"}, False),
        ({"startup_allowed_cpus": [1]}, {"StartupAllowedCPUs": "0100000000000000"}, True),
        ({"io_read_bandwidth_max": [{"device": "/dev/vda", "limit": 1048576}]},
         {"IOReadBandwidthMax": "/dev/vda 1048576"}, False),
        ({"io_read_bandwidth_max": [{"device": "/dev/vda", "limit": 1048576}]},
         {"IOReadBandwidthMax": "/dev/vda 1048576\n/dev/vdb 1"}, True),
        ({"io_device_weight": [{"device": "/dev/a", "weight": 1}, {"device": "/dev/b", "weight": 2}]},
         {"IODeviceWeight": "/dev/b 2\n/dev/a 1"}, False),
    ],
)
def test_live_differences(options, shown, differs):
    plan = rc.plan_properties(rc.normalise_limits(options, WHERE, VM), VM)
    assert bool(rc.live_differences(plan, shown)) is differs


def test_percentages_without_a_known_base_compare_as_equal():
    host = rc.HostLimits(systemd_version=252, cgroup_mode="v2", controllers=("memory",))
    plan = rc.plan_properties({"memory_max": "25%"}, host)
    assert rc.live_differences(plan, {"MemoryMax": "123"}) == {}


def test_legacy_properties_compare_with_legacy_show_names():
    plan = rc.plan_properties({"cpu_weight": 200, "memory_max": 1024}, CENTOS7)
    assert rc.show_names(plan) == ["CPUShares", "MemoryLimit"]
    assert rc.live_differences(plan, {"CPUShares": "2048", "MemoryLimit": "1024"}) == {}
    assert rc.live_differences(plan, {"CPUShares": "1024", "MemoryLimit": "1024"}) == {"CPUShares": ("2048", "1024")}


def test_all_show_names():
    assert "CPUQuotaPerSecUSec" in rc.all_show_names(VM) and "CPUShares" not in rc.all_show_names(VM)
    assert "CPUShares" in rc.all_show_names(CENTOS7)


# ---- host facts

@pytest.mark.parametrize(
    ("text", "mode", "root"),
    [
        ("0::/init.scope\n", "v2", "/"),
        ("0::/\n", "v2", "/"),
        ("0::/machine.slice/libpod-x.scope/init.scope\n", "v2", "/machine.slice/libpod-x.scope"),
        ("9:name=systemd:/libpod_parent/libpod-x/init.scope\n0::/libpod_parent/libpod-x/init.scope\n", "hybrid",
         "/libpod_parent/libpod-x"),
        ("1:name=systemd:/\n", "v1", "/"),
        ("", "v2", "/"),
    ],
)
def test_systemd_cgroup_root(text, mode, root):
    assert rc.systemd_cgroup_root(text, mode) == root


def test_build_host_limits_testbed_container():
    root = "/libpod_parent/libpod-202007dbcb24c32e84dec674fd83bf21c89556751f1aa9bb99276ba83720c9e5"
    checked = []

    def accessible(path: str) -> bool:
        checked.append(path)
        # As in the container: only the hierarchies mounted at their real root have systemd's cgroup.
        return path.split("/")[4] in ("net_cls,net_prio", "perf_event", "hugetlb")

    host = rc.build_host_limits(
        version_text="systemd 252 (252.39-1~deb12u2)\n+PAM\n", mountinfo_text=fixture("mountinfo-hybrid-container.txt"),
        proc_cgroups_text=fixture("proc-cgroups-hybrid-container.txt"), v2_controllers_text=None,
        proc1_cgroup_text=fixture("proc1-cgroup-hybrid-container.txt"), online_cpus_text="0-1\n", numa_node_ids=[0],
        meminfo_text="MemTotal:       24684096 kB\n", threads_max_text="192731\n", pid_max_text="4194304\n",
        accessible=accessible)
    assert host.systemd_version == 252 and host.cgroup_mode == "hybrid"
    assert host.controllers == ("hugetlb", "net_cls", "net_prio", "perf_event")
    assert f"/sys/fs/cgroup/memory{root}" in checked
    assert root in host.controller_note
    assert host.memory_bytes == 24684096 * 1024 and host.tasks_max_system == 192731
    assert host.online_cpus == (0, 1) and host.numa_nodes == (0,)


def test_build_host_limits_testbed_vm():
    host = rc.build_host_limits(
        version_text=fixture("systemctl-version-vm.txt"), mountinfo_text=fixture("mountinfo-v2-vm.txt"),
        proc_cgroups_text=None, v2_controllers_text=fixture("cgroup-controllers-v2-vm.txt"),
        proc1_cgroup_text=fixture("proc1-cgroup-v2-vm.txt"), online_cpus_text="0-1\n", numa_node_ids=[],
        meminfo_text=fixture("meminfo-v2-vm.txt"), threads_max_text="11620\n", pid_max_text="4194304\n",
        accessible=lambda path: False)
    assert host == VM


def test_build_host_limits_knows_nothing():
    host = rc.build_host_limits(version_text=None, mountinfo_text="", proc_cgroups_text=None, v2_controllers_text=None,
                                proc1_cgroup_text=None, online_cpus_text=None, numa_node_ids=[], meminfo_text=None,
                                threads_max_text=None, pid_max_text="32768")
    assert host.systemd_version is None and host.cgroup_mode == "none" and host.controllers == ()
    assert host.memory_bytes is None and host.tasks_max_system == 32767


@pytest.mark.parametrize(
    ("mountinfo", "control_group", "path"),
    [
        ("mountinfo-v2-vm.txt", "/tenant.slice/tenant-a.slice", "/sys/fs/cgroup/tenant.slice/tenant-a.slice"),
        ("mountinfo-hybrid-container.txt", "/libpod_parent/libpod-x/tenant.slice",
         "/sys/fs/cgroup/unified/libpod_parent/libpod-x/tenant.slice"),
        ("mountinfo-v2-vm.txt", "", None),
    ],
)
def test_cgroup_fs_path(mountinfo, control_group, path):
    assert rc.cgroup_fs_path(fixture(mountinfo), control_group) == path


def test_cgroup_fs_path_v1_and_foreign_root():
    v1 = "30 25 0:26 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd\n"
    assert rc.cgroup_fs_path(v1, "/a.slice") == "/sys/fs/cgroup/systemd/a.slice"
    private = "30 25 0:26 /machine.slice/x /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"
    assert rc.cgroup_fs_path(private, "/machine.slice/x/a.slice") == "/sys/fs/cgroup/a.slice"
    assert rc.cgroup_fs_path(private, "/other/a.slice") is None


def test_shown_limits_and_usage_of_an_unset_slice():
    shown = parse_show(fixture("show-v2-vm.txt"), ["fx.slice", "missing.slice"])["missing.slice"]
    assert set(rc.shown_limits(shown)) == set(rc.LIMIT_OPTIONS)
    assert all(value is None for value in rc.shown_limits(shown).values())
    assert rc.shown_usage({"MemoryCurrent": "[not set]", "TasksCurrent": "3",
                           "CPUUsageNSec": "18446744073709551615"}) == {
        "memory_current_bytes": None, "tasks_current": 3, "cpu_usage_nsec": None}


def test_shown_limits_keeps_text_it_cannot_parse():
    assert rc.shown_limits({"CPUQuotaPerSecUSec": "1 fortnight"})["cpu_quota"] == "1 fortnight"
    assert rc.shown_limits({"CPUQuotaPerSecUSec": "1.500000s", "CPUQuotaPeriodUSec": "1s"})["cpu_quota"] == "150%"
