# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""HostReader on a fixture tree: files below the root, commands through the module, one group by name."""

from __future__ import annotations

import typing as t

from ansible_collections.containerhost.platform.plugins.module_utils._host_gather import HostReader


class FakeModule:
    """get_bin_path and run_command of AnsibleModule, for podman only."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def get_bin_path(self, name: str) -> str | None:
        return "/usr/bin/podman" if name == "podman" else None

    def run_command(self, argv: list[str]) -> tuple[int, str, str]:
        self.calls.append(argv)
        return 0, "", "podman version 4.3.1\n"


def write(root: t.Any, files: dict[str, str]) -> None:
    for path, text in files.items():
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


def test_reads_below_the_root_and_missing_files_are_none(tmp_path):
    write(tmp_path, {"/proc/cmdline": "quiet\n"})
    reader = HostReader(FakeModule(), str(tmp_path))
    assert reader.path("/proc/cmdline") == str(tmp_path / "proc" / "cmdline")
    assert reader.read("/proc/cmdline") == "quiet\n"
    assert reader.read("/proc/nothing") is None


def test_engines_take_the_version_from_stderr_when_stdout_is_empty(tmp_path):
    module = FakeModule()
    engines = HostReader(module, str(tmp_path)).gather("engines", [])
    assert engines["podman"] == {"kind": "engine", "present": True, "path": "/usr/bin/podman", "version": "4.3.1"}
    assert engines["docker"]["present"] is False and engines["docker"]["version"] is None
    assert module.calls == [["/usr/bin/podman", "--version"]]


def test_storage_paths_are_normalised_once_and_measured_at_the_nearest_existing_parent(tmp_path):
    (tmp_path / "srv").mkdir()
    storage = HostReader(FakeModule(), str(tmp_path)).gather("storage", ["/srv/images/", "/srv/images", "/srv"])
    assert [(entry["path"], entry["exists"], entry["measured_at"]) for entry in storage] == [
        ("/srv/images", False, "/srv"), ("/srv", True, "/srv")]
    assert storage[0]["total_bytes"] > 0


def test_cpu_without_numa_directories_is_one_node(tmp_path):
    write(tmp_path, {"/sys/devices/system/cpu/online": "0-3\n", "/proc/meminfo": "MemTotal: 1024 kB\n"})
    cpu = HostReader(FakeModule(), str(tmp_path)).cpu()
    assert cpu["count"] == 4 and cpu["online_cpus"] == [0, 1, 2, 3]
    assert [node["id"] for node in cpu["numa_nodes"]] == [0]
