# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for hugepage sizes, paths, validation, the boot-time file and unit, plans and the sysfs class."""

from __future__ import annotations

import os
import shlex
import subprocess

from pathlib import Path

import pytest

from ansible_collections.containerhost.platform.plugins.module_utils import _hugepages as hp

SYS_2M = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
SYS_1G = "/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages"
NODE0_2M = "/sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages"
NODE1_2M = "/sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages"
NODE1_1G = "/sys/devices/system/node/node1/hugepages/hugepages-1048576kB/nr_hugepages"


@pytest.mark.parametrize(
    ("value", "kib"),
    [
        ("2M", 2048), ("2m", 2048), ("2MB", 2048), ("2MiB", 2048), ("2 M", 2048), ("2048kB", 2048), ("2048KB", 2048),
        ("2048k", 2048), ("2048KiB", 2048), ("1G", 1048576), ("1GB", 1048576), ("1GiB", 1048576),
        ("1048576kB", 1048576), ("64K", 64), ("512M", 524288), ("16G", 16777216), (" 2M ", 2048),
    ],
)
def test_parse_size(value, kib):
    assert hp.parse_size(value) == kib


@pytest.mark.parametrize("value", ["2048", 2048, "2", "", "M", "2X", "2MBB", "-2M", "0M", "1.5G", None, True, ["2M"],
                                   "2 MB kB"])
def test_parse_size_refuses(value):
    with pytest.raises(ValueError, match="hugepage size"):
        hp.parse_size(value)


@pytest.mark.parametrize(("kib", "label"), [(2048, "2M"), (1048576, "1G"), (64, "64K"), (524288, "512M"),
                                            (16777216, "16G"), (3000, "3000K"), (1024 ** 3, "1T")])
def test_size_label(kib, label):
    assert hp.size_label(kib) == label


def test_describe_sizes_sorted_with_labels():
    assert hp.describe_sizes([1048576, 2048]) == "2048kB (2M), 1048576kB (1G)"
    assert hp.describe_sizes([]) == "none"


@pytest.mark.parametrize(
    ("size", "node", "path"),
    [(2048, None, SYS_2M), (1048576, None, SYS_1G), (2048, 0, NODE0_2M), (1048576, 1, NODE1_1G)],
)
def test_count_path_and_back(size, node, path):
    assert hp.count_path(size, node) == path
    assert hp.pool_from_path(path) == (size, node)


@pytest.mark.parametrize("path", [
    "/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages",
    "/sys/kernel/mm/hugepages/hugepages-2MB/nr_hugepages",
    "/proc/sys/vm/nr_hugepages",
    "/sys/devices/system/node/nodeX/hugepages/hugepages-2048kB/nr_hugepages",
    "/tmp/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages",
    "",
])
def test_pool_from_path_rejects_other_files(path):
    assert hp.pool_from_path(path) is None


def test_pool_sizes_from_directory_names():
    assert hp.pool_sizes(["hugepages-1048576kB", "hugepages-2048kB", "README", "hugepages-xkB"]) == [2048, 1048576]


def test_normalise_pools_valid():
    requests = hp.normalise_pools([
        {"size": "2M", "count": 512, "node": None},
        {"size": "1G", "count": 2, "node": 1},
        {"size": "1048576kB", "count": "3", "node": "0"},
    ], "present")
    assert [(r.index, r.size_kib, r.node, r.count, r.path) for r in requests] == [
        (0, 2048, None, 512, SYS_2M),
        (1, 1048576, 1, 2, NODE1_1G),
        (2, 1048576, 0, 3, "/sys/devices/system/node/node0/hugepages/hugepages-1048576kB/nr_hugepages"),
    ]


def test_normalise_pools_absent_needs_no_count():
    requests = hp.normalise_pools([{"size": "2M", "count": None, "node": 0}], "absent")
    assert (requests[0].size_kib, requests[0].node, requests[0].count) == (2048, 0, None)


@pytest.mark.parametrize(
    ("entries", "state", "message"),
    [
        ([{"size": "2048", "count": 1}], "present", "pools[0].size: '2048' is not a hugepage size; give a number with "
                                                    "a unit, such as 2M, 1G or 2048kB"),
        ([{"size": "2M", "count": 1}, {"size": "huge", "count": 1}], "present", "pools[1].size: 'huge'"),
        ([{"size": "2M"}], "present", "pools[0].count: required with state=present; accepted: 0 or more pages"),
        ([{"size": "2M", "count": -1}], "present", "pools[0].count: -1 is too small; accepted: 0 or more"),
        ([{"size": "2M", "count": "lots"}], "present", "pools[0].count: 'lots' is not a whole number"),
        ([{"size": "2M", "count": True}], "present", "pools[0].count: True is not a whole number"),
        ([{"size": "2M", "count": 1, "node": -1}], "present", "pools[0].node: -1 is too small; accepted: 0 or more"),
        ([{"size": "2M", "count": 1, "node": 0}, {"size": "2048kB", "count": 2, "node": 0}], "present",
         "pools[1]: 2048kB for node 0 is already declared by pools[0]; declare each pool once"),
        ([{"size": "2M", "count": 1}, {"size": "2M", "count": 2}], "absent",
         "pools[1]: 2048kB for the whole system is already declared by pools[0]"),
        ([{"size": "2M", "count": 1}, {"size": "1G", "count": 1, "node": 0}, {"size": "2M", "count": 2, "node": 1}],
         "present", "pools[2]: 2048kB is declared for the whole system by pools[0] and for node 1 here"),
        ([{"size": "2M", "count": 1, "node": 1}, {"size": "2M", "count": 2}], "present",
         "pools[1]: 2048kB is declared for node 1 by pools[0] and for the whole system here"),
    ],
)
def test_normalise_pools_errors_name_the_field(entries, state, message):
    with pytest.raises(hp.HugepageError) as exc_info:
        hp.normalise_pools(entries, state)
    assert message in str(exc_info.value)


SYSTEM = [2048, 1048576]
NODES = {0: [2048, 1048576], 1: [2048]}


def test_check_supported_accepts_what_the_kernel_has():
    hp.check_supported(hp.normalise_pools([{"size": "1G", "count": 1, "node": 0}, {"size": "2M", "count": 1}],
                                          "present"), SYSTEM, NODES)


@pytest.mark.parametrize(
    ("entry", "nodes", "message"),
    [
        ({"size": "4M", "count": 1}, NODES,
         "pools[0].size: 4096kB (4M) is not supported by this kernel; available: 2048kB (2M), 1048576kB (1G)"),
        ({"size": "2M", "count": 1, "node": 3}, NODES, "pools[0].node: node 3 does not exist; available nodes: 0, 1"),
        ({"size": "2M", "count": 1, "node": 0}, {}, "available nodes: none (no NUMA support)"),
        ({"size": "1G", "count": 1, "node": 1}, NODES,
         "pools[0].size: node 1 has no 1048576kB pool; available there: 2048kB (2M)"),
    ],
)
def test_check_supported_names_field_and_lists_what_exists(entry, nodes, message):
    with pytest.raises(hp.HugepageError) as exc_info:
        hp.check_supported(hp.normalise_pools([entry], "present"), SYSTEM, nodes)
    assert message in str(exc_info.value)


def test_check_supported_without_hugepage_support():
    with pytest.raises(hp.HugepageError, match="offers no hugepages"):
        hp.check_supported(hp.normalise_pools([{"size": "2M", "count": 1}], "present"), [], {})


def test_config_renders_in_boot_order_and_parses_back():
    entries = {NODE1_2M: 10, SYS_1G: 2, NODE0_2M: 20}
    text = hp.render_config(entries)
    lines = text.splitlines()
    assert lines[:3] == ["# Ansible managed: containerhost.platform.hugepages",
                         "# Changes are overwritten by the next run; change the playbook instead.",
                         "# containerhost.platform:hugepages"]
    assert lines[4:] == [f"{SYS_1G} 2", f"{NODE0_2M} 20", f"{NODE1_2M} 10"]
    assert hp.parse_config(text) == entries


def test_parse_config_skips_comments_and_foreign_lines():
    text = f"# {SYS_2M} 5\n\n{SYS_2M} 7\n/etc/passwd 1\n{NODE0_2M} x\n{NODE1_2M} 3 extra\n"
    assert hp.parse_config(text) == {SYS_2M: 7}
    assert hp.parse_config(None) == {}


def test_unit_file_runs_early_and_only_on_a_writable_sysfs():
    text = hp.render_unit_file()
    assert "# containerhost.platform:hugepages" in text.splitlines()
    sections = {}
    current = None
    for line in text.splitlines():
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
        elif "=" in line and current is not None:
            key, dummy, value = line.partition("=")
            current[key] = value
    assert sections["Unit"]["DefaultDependencies"] == "no"
    assert sections["Unit"]["Before"] == "sysinit.target dev-hugepages.mount shutdown.target"
    assert sections["Unit"]["After"] == "systemd-sysctl.service"
    assert sections["Unit"]["ConditionPathIsReadWrite"] == "/sys"
    assert sections["Unit"]["ConditionVirtualization"] == "!container"
    assert sections["Unit"]["ConditionPathExists"] == hp.CONFIG_PATH
    assert sections["Service"]["Type"] == "oneshot"
    assert sections["Service"]["RemainAfterExit"] == "yes"
    assert sections["Install"] == {"WantedBy": "sysinit.target"}
    # Every $ is doubled for systemd; no % specifier is used.
    exec_start = sections["Service"]["ExecStart"]
    assert "$" not in exec_start.replace("$$", "")
    assert "%" not in exec_start


def _boot_script(tmp_path: Path) -> list[str]:
    """The unit's ExecStart as systemd would run it, reading a config in tmp_path and writing below tmp_path/sys."""
    exec_start = next(line.partition("=")[2] for line in hp.render_unit_file().splitlines()
                      if line.startswith("ExecStart="))
    argv = shlex.split(exec_start.replace("$$", "$"))
    assert argv[:2] == ["/bin/sh", "-c"] and len(argv) == 3
    script = argv[2].replace(hp.CONFIG_PATH, str(tmp_path / "hugepages.conf")).replace("/sys/*)", f"{tmp_path}/sys/*)")
    return [argv[0], argv[1], script]


def test_boot_script_writes_every_count(tmp_path):
    files = [tmp_path / "sys" / "a" / "nr_hugepages", tmp_path / "sys" / "b" / "nr_hugepages"]
    for path in files:
        path.parent.mkdir(parents=True)
        path.write_text("0\n")
    (tmp_path / "hugepages.conf").write_text(
        f"# comment {files[1]} 9\n\n{files[0]} 4\n{files[1]} 512\n/elsewhere/file 3\n")
    done = subprocess.run(_boot_script(tmp_path), capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert [path.read_text() for path in files] == ["4\n", "512\n"]
    assert not Path("/elsewhere/file").exists()


def test_boot_script_fails_for_a_missing_pool_but_writes_the_others(tmp_path):
    good = tmp_path / "sys" / "a" / "nr_hugepages"
    good.parent.mkdir(parents=True)
    good.write_text("0\n")
    (tmp_path / "hugepages.conf").write_text(f"{tmp_path}/sys/gone/nr_hugepages 2\n{good} 8\n")
    done = subprocess.run(_boot_script(tmp_path), capture_output=True, text=True, check=False)
    assert done.returncode == 1
    assert good.read_text() == "8\n"


def _requests(*entries, state="present"):
    return hp.normalise_pools(list(entries), state)


def test_plan_config_present_merges():
    current = {SYS_1G: 2, NODE0_2M: 20}
    assert hp.plan_config(current, _requests({"size": "2M", "count": 30, "node": 0},
                                             {"size": "2M", "count": 5, "node": 1}), "present") == {
        SYS_1G: 2, NODE0_2M: 30, NODE1_2M: 5}


def test_plan_config_present_replaces_the_other_mode_of_a_size():
    current = {SYS_2M: 100, NODE1_1G: 1}
    assert hp.plan_config(current, _requests({"size": "2M", "count": 7, "node": 0}), "present") == {
        NODE1_1G: 1, NODE0_2M: 7}
    assert hp.plan_config({NODE0_2M: 1, NODE1_2M: 2}, _requests({"size": "2M", "count": 9}), "present") == {
        SYS_2M: 9}


def test_plan_config_absent():
    current = {SYS_1G: 2, NODE0_2M: 20}
    assert hp.plan_config(current, _requests({"size": "2M", "node": 0}, state="absent"), "absent") == {SYS_1G: 2}
    assert hp.plan_config(current, _requests({"size": "2M", "node": 1}, state="absent"), "absent") == current
    assert hp.plan_config(current, [], "absent") == {}


def test_live_targets():
    present = _requests({"size": "2M", "count": 3})
    assert hp.live_targets({SYS_1G: 2}, present, "present") == present
    absent = hp.live_targets({}, _requests({"size": "2M", "node": 0}, state="absent"), "absent")
    assert [(r.path, r.count) for r in absent] == [(NODE0_2M, 0)]
    everything = hp.live_targets({NODE0_2M: 20, SYS_1G: 2}, [], "absent")
    assert [(r.index, r.path, r.count) for r in everything] == [(0, SYS_1G, 0), (1, NODE0_2M, 0)]


def test_write_order_shrinks_first_then_largest_pages():
    requests = _requests({"size": "2M", "count": 10, "node": 0}, {"size": "1G", "count": 4, "node": 1},
                         {"size": "2M", "count": 0, "node": 1})
    before = {NODE0_2M: 0, NODE1_1G: 0, NODE1_2M: 500}
    assert [r.path for r in hp.write_order(requests, before)] == [NODE1_2M, NODE1_1G, NODE0_2M]


@pytest.mark.parametrize(
    ("counters", "expected"),
    [({"total": 10, "surplus": 0}, 10), ({"total": 10, "surplus": 3}, 7), ({"total": 10, "surplus": None}, 10),
     ({"total": None, "surplus": 0}, None)],
)
def test_persistent_count(counters, expected):
    assert hp.persistent_count(counters) == expected


def test_cmdline_suggestion_only_for_gigantic_pools():
    assert hp.cmdline_suggestion([(2048, None, 512)]) is None
    assert hp.cmdline_suggestion([(1048576, None, 4), (2048, 0, 5)]) == "hugepagesz=1G hugepages=4"
    assert hp.cmdline_suggestion([(1048576, 1, 2), (1048576, 0, 4)]) == "hugepagesz=1G hugepages=0:4,1:2"
    assert hp.cmdline_suggestion([]) is None


def test_shortfall_message():
    pools = [{"size": "1048576kB", "node": 0, "wanted": 4, "achieved": 1}]
    message = hp.shortfall_message(pools, "hugepagesz=1G hugepages=0:4")
    assert message.startswith("hugepage shortfall: 1048576kB node 0: asked for 4, the kernel gave 1. ")
    assert "add 'hugepagesz=1G hugepages=0:4' to the kernel command line" in message
    plain = hp.shortfall_message([{"size": "2048kB", "node": None, "wanted": 9, "achieved": 2}], None)
    assert "2048kB the whole system: asked for 9, the kernel gave 2" in plain
    assert "command line" not in plain


@pytest.mark.parametrize(
    ("markers", "expected"),
    [
        ({}, None),
        ({"/run/systemd/container": "podman\n"}, "podman"),
        ({"/run/systemd/container": "lxc\n", "/.dockerenv": ""}, "lxc"),
        ({"/proc/1/environ": "PATH=/bin\0container=docker\0HOME=/\0"}, "docker"),
        ({"/proc/1/environ": "PATH=/bin\0container_host=x\0"}, None),
        ({"/run/.containerenv": ""}, "podman"),
        ({"/.dockerenv": ""}, "docker"),
        ({"/run/systemd/container": "", "/run/.containerenv": None}, None),
    ],
)
def test_detect_container(markers, expected):
    assert hp.detect_container(markers) == expected


def test_skip_reason():
    assert hp.skip_reason(None, False) is None
    assert hp.skip_reason("podman", True) == "sysfs is read-only (container): hugepages belong to the host"
    assert "read-only" in hp.skip_reason(None, True)
    assert "container (podman) with a writable sysfs" in hp.skip_reason("podman", False)


def _tree(root: Path) -> None:
    """Two nodes: node0 with 2M and 1G pools, node1 with 2M only; 2M system pool has 8 pages, 2 of them surplus."""
    counters = {"nr_hugepages": "8\n", "free_hugepages": "5\n", "resv_hugepages": "1\n", "surplus_hugepages": "2\n"}
    for size in ("2048kB", "1048576kB"):
        base = root / f"sys/kernel/mm/hugepages/hugepages-{size}"
        base.mkdir(parents=True)
        for name, value in counters.items():
            (base / name).write_text(value if size == "2048kB" else "0\n")
    for node, sizes in ((0, ("2048kB", "1048576kB")), (1, ("2048kB",))):
        for size in sizes:
            base = root / f"sys/devices/system/node/node{node}/hugepages/hugepages-{size}"
            base.mkdir(parents=True)
            for name in ("nr_hugepages", "free_hugepages", "surplus_hugepages"):
                (base / name).write_text("0\n")
    (root / "sys/devices/system/node/online").write_text("0-1\n")


def test_host_reads_pools_and_nodes(tmp_path):
    _tree(tmp_path)
    host = hp.HostHugepages(str(tmp_path))
    assert host.system_sizes() == [2048, 1048576]
    assert host.node_sizes() == {0: [2048, 1048576], 1: [2048]}
    assert host.read_pool(2048, None) == {"total": 8, "free": 5, "reserved": 1, "surplus": 2}
    # Per-node pools have no resv_hugepages file.
    assert host.read_pool(2048, 1) == {"total": 0, "free": 0, "reserved": None, "surplus": 0}


def test_host_without_numa_or_hugepages(tmp_path):
    host = hp.HostHugepages(str(tmp_path))
    assert host.system_sizes() == []
    assert host.node_sizes() == {}
    assert host.read_pool(2048, None) == {"total": None, "free": None, "reserved": None, "surplus": None}


def test_host_writes_counts(tmp_path):
    _tree(tmp_path)
    host = hp.HostHugepages(str(tmp_path))
    host.write_count(1048576, 0, 3)
    assert (tmp_path / NODE0_2M.lstrip("/")).read_text() == "0\n"
    assert (tmp_path / "sys/devices/system/node/node0/hugepages/hugepages-1048576kB/nr_hugepages").read_text() == "3\n"
    with pytest.raises(OSError):
        host.write_count(2048, 5, 1)


def test_host_container_markers(tmp_path):
    host = hp.HostHugepages(str(tmp_path))
    assert host.container() is None
    (tmp_path / "run").mkdir()
    (tmp_path / "run/.containerenv").write_text("")
    assert host.container() == "podman"
    (tmp_path / "run/systemd").mkdir()
    (tmp_path / "run/systemd/container").write_text("systemd-nspawn\n")
    assert host.container() == "systemd-nspawn"


def test_host_sysfs_read_only(tmp_path, monkeypatch):
    _tree(tmp_path)
    host = hp.HostHugepages(str(tmp_path))
    assert host.sysfs_read_only() is False
    real_statvfs = os.statvfs

    class ReadOnly:
        f_flag = os.ST_RDONLY

    monkeypatch.setattr(os, "statvfs", lambda path: ReadOnly() if path.startswith(str(tmp_path)) else real_statvfs(path))
    assert host.sysfs_read_only() is True
