# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Private to the collection: not a public API and may change without notice.

"""The host_info fact groups read from a host (files below a root, commands through the module), shared by host_info
and node_fitness; the parsing is in _host_facts."""

from __future__ import annotations

import glob
import os
import typing as t

from ansible_collections.containerhost.platform.plugins.module_utils._host_facts import (
    HUGEPAGE_COUNTERS,
    cgroup_facts,
    hugepage_size_name,
    nearest_existing_path,
    numa_node,
    parse_cgroup_layout,
    parse_cpu_list,
    parse_hugepage_pools,
    parse_meminfo,
    parse_selinux,
    parse_systemd_version,
    parse_tool_version,
    statvfs_usage,
)

if t.TYPE_CHECKING:
    from ansible.module_utils.basic import AnsibleModule

# Tool name -> kind, in the order they are reported.
TOOLS = {
    "podman": "engine",
    "docker": "engine",
    "buildah": "tool",
    "skopeo": "tool",
    "runc": "runtime",
    "crun": "runtime",
    "conmon": "monitor",
}


class HostReader:
    """Reads a host's fact groups: files below root (unit tests point it at a fixture tree), commands via module."""

    def __init__(self, module: AnsibleModule, root: str = "/") -> None:
        self.module = module
        self.root = root

    def path(self, path: str) -> str:
        """An absolute host path below the root."""
        return os.path.join(self.root, path.lstrip("/"))

    def read(self, path: str) -> str | None:
        """A host file's text, or None when it cannot be read."""
        try:
            with open(self.path(path), encoding="utf-8", errors="replace") as handle:
                return handle.read()
        except OSError:
            # Missing or unreadable kernel files mean "not available here", which the facts report as null/absent.
            return None

    def command_output(self, argv: list[str]) -> str | None:
        """A command's stdout (stderr if stdout is empty), or None when it printed nothing."""
        dummy_rc, out, err = self.module.run_command(argv)
        return (out.strip() or err.strip()) or None

    def systemd(self) -> dict:
        """systemd version, features, whether it is PID 1, and the system state."""
        systemctl = self.module.get_bin_path("systemctl")
        version_text = self.command_output([systemctl, "--version"]) if systemctl else None
        facts = parse_systemd_version(version_text or "")
        facts["booted"] = os.path.isdir(self.path("/run/systemd/system"))
        # is-system-running exits non-zero for degraded, starting, offline...: the word is the answer, not the rc.
        state = self.command_output([systemctl, "is-system-running"]) if systemctl else None
        facts["state"] = state.splitlines()[0].strip() if state else None
        return facts

    def cgroup(self) -> dict:
        """cgroup mode, mount points and available controllers."""
        layout = parse_cgroup_layout(self.read("/proc/self/mountinfo") or "")
        if layout["mode"] == "v2":
            return cgroup_facts(layout, None, self.read(f"{layout['mountpoint']}/cgroup.controllers"))
        return cgroup_facts(layout, self.read("/proc/cgroups"), None)

    def selinux(self) -> dict:
        """SELinux status, mode and configured mode/policy."""
        return parse_selinux(self.read("/sys/fs/selinux/enforce"), self.read("/etc/selinux/config"))

    def engines(self) -> dict:
        """Path, version and kind of each container engine, tool and runtime."""
        engines = {}
        for tool, kind in TOOLS.items():
            path = self.module.get_bin_path(tool)
            version = parse_tool_version(tool, self.command_output([path, "--version"]) or "") if path else None
            engines[tool] = {"kind": kind, "present": path is not None, "path": path, "version": version}
        return engines

    def cpu(self) -> dict:
        """Online CPUs and NUMA nodes."""
        online = (self.read("/sys/devices/system/cpu/online") or "").strip()
        nodes = []
        for node_dir in glob.glob(self.path("/sys/devices/system/node/node[0-9]*")):
            name = os.path.basename(node_dir)
            base = f"/sys/devices/system/node/{name}"
            nodes.append(numa_node(int(name[len("node"):]), self.read(f"{base}/cpulist") or "",
                                   self.read(f"{base}/meminfo")))
        if not nodes:
            # Kernels without NUMA support have no node directory: everything is node 0.
            nodes.append(numa_node(0, online, self.read("/proc/meminfo")))
        cpus = parse_cpu_list(online)
        return {"online": online, "online_cpus": cpus, "count": len(cpus),
                "numa_nodes": sorted(nodes, key=lambda n: n["id"])}

    def hugepages(self) -> dict:
        """Hugepage pools and the default size."""
        pools = {}
        for pool_dir in glob.glob(self.path("/sys/kernel/mm/hugepages/hugepages-*kB")):
            size = os.path.basename(pool_dir)[len("hugepages-"):]
            base = f"/sys/kernel/mm/hugepages/hugepages-{size}"
            pools[size] = {counter: self.read(f"{base}/{counter}") for counter in HUGEPAGE_COUNTERS}
        meminfo = parse_meminfo(self.read("/proc/meminfo") or "")
        return {"default_size": hugepage_size_name(meminfo.get("Hugepagesize")), "pools": parse_hugepage_pools(pools)}

    def kernel(self) -> dict:
        """Kernel release, version and command line."""
        uname = os.uname()
        return {"release": uname.release, "version": uname.version,
                "cmdline": (self.read("/proc/cmdline") or "").strip()}

    def storage(self, paths: list[str]) -> list:
        """Filesystem size and free space for each path (duplicates once, normalised)."""
        results = []
        for path in dict.fromkeys(os.path.normpath(path) for path in paths):
            measured_at = nearest_existing_path(path, lambda candidate: os.path.exists(self.path(candidate)))
            usage = statvfs_usage(os.statvfs(self.path(measured_at)))
            results.append({"path": path, "exists": measured_at == path, "measured_at": measured_at, **usage})
        return results

    def memory(self) -> dict:
        """Total and available memory."""
        meminfo = parse_meminfo(self.read("/proc/meminfo") or "")
        return {"total_bytes": meminfo.get("MemTotal"), "available_bytes": meminfo.get("MemAvailable")}

    def gather(self, subset: str, storage_paths: list[str]) -> t.Any:
        """One fact group by its host_info name."""
        if subset == "storage":
            return self.storage(storage_paths)
        return getattr(self, subset)()
