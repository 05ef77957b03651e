# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Private to the collection: not a public API and may change without notice.

"""Pure parsers behind the host_info module: text in, data out, no file or command access."""

from __future__ import annotations

import posixpath
import re
import typing as t

if t.TYPE_CHECKING:
    import os
    from collections.abc import Callable, Mapping

# Mount options of a v1 cgroup mount that are flags, not controllers.
_CGROUP_V1_FLAGS = frozenset(("rw", "ro", "none", "noprefix", "clone_children", "xattr", "seclabel", "cpuset_v2_mode",
                              "favordynmods", "nofavordynmods"))

# Where systemd and the kernel documentation put the cgroup tree.
CGROUP_ROOT = "/sys/fs/cgroup"

# "<name> version <version>" on one line; the version stops at whitespace or a comma ("Docker version 28.2.2, build").
_TOOL_VERSION_RE = re.compile(r"^\s*(?P<name>\S+)\s+version\s+v?(?P<version>\d[^\s,]*)", re.IGNORECASE | re.MULTILINE)

# "systemd 252 (252.39-1~deb12u1)"; older releases print only "systemd 219".
_SYSTEMD_VERSION_RE = re.compile(r"^systemd\s+(?P<version>\d+)(?:\s+\((?P<full>[^)]*)\))?\s*$")

# Octal escapes the kernel uses in /proc/self/mountinfo paths (space, tab, newline, backslash).
_MOUNTINFO_ESCAPE_RE = re.compile(r"\\([0-7]{3})")

_HUGEPAGE_SIZE_RE = re.compile(r"^(?P<kib>\d+)kB$")

# sysfs counter file -> key reported for a hugepage pool.
HUGEPAGE_COUNTERS = {
    "nr_hugepages": "total",
    "free_hugepages": "free",
    "resv_hugepages": "reserved",
    "surplus_hugepages": "surplus",
}


def parse_cpu_list(text: str) -> list[int]:
    """Expand a kernel CPU list such as ``0-3,8-11`` into a sorted list of CPU numbers."""
    cpus: set[int] = set()
    for part in text.strip().split(","):
        part = part.strip()
        if not part:
            continue
        first, sep, last = part.partition("-")
        try:
            start = int(first)
            end = int(last) if sep else start
        except ValueError:
            raise ValueError(f"invalid CPU list {text.strip()!r}: {part!r} is not a number or a range") from None
        if end < start:
            raise ValueError(f"invalid CPU list {text.strip()!r}: range {part!r} goes backwards")
        cpus.update(range(start, end + 1))
    return sorted(cpus)


def parse_meminfo(text: str) -> dict[str, int]:
    """Map /proc/meminfo (or a NUMA node's meminfo) keys to bytes, or to plain counts for unitless keys."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, sep, rest = line.partition(":")
        if not sep:
            continue
        # Per-node files prefix every key with "Node <n> ".
        key = re.sub(r"^Node\s+\d+\s+", "", key.strip())
        fields = rest.split()
        if not fields or not fields[0].isdigit():
            continue
        number = int(fields[0])
        values[key] = number * 1024 if fields[1:2] == ["kB"] else number
    return values


def parse_systemd_version(text: str) -> dict[str, t.Any]:
    """Parse ``systemctl --version`` into the major version, the full package version and the feature string."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    match = _SYSTEMD_VERSION_RE.match(lines[0]) if lines else None
    if not match:
        return {"version": None, "version_full": None, "features": None}
    return {
        "version": int(match.group("version")),
        "version_full": match.group("full") or match.group("version"),
        "features": " ".join(lines[1:]) or None,
    }


def parse_tool_version(tool: str, text: str) -> str | None:
    """Return the version from ``<tool> --version`` output, or None when the output does not name the tool."""
    for match in _TOOL_VERSION_RE.finditer(text):
        # A podman-docker shim answers "podman version ..." for docker: that is not docker's version.
        if match.group("name").lower() == tool.lower():
            return match.group("version")
    return None


def parse_selinux(enforce_text: str | None, config_text: str | None) -> dict[str, str | None]:
    """Derive SELinux status and mode from /sys/fs/selinux/enforce and /etc/selinux/config (None when absent)."""
    config: dict[str, str] = {}
    for line in (config_text or "").splitlines():
        key, sep, value = line.partition("=")
        if sep and not key.strip().startswith("#"):
            config[key.strip().upper()] = value.split("#", 1)[0].strip().strip("\"'")
    enforce = (enforce_text or "").strip()
    if enforce_text is None:
        status, mode = "disabled", "disabled"
    else:
        status, mode = "enabled", "enforcing" if enforce == "1" else "permissive"
    return {
        "status": status,
        "mode": mode,
        "config_mode": config.get("SELINUX", "").lower() or None,
        "policy_type": config.get("SELINUXTYPE") or None,
    }


def parse_hugepage_pools(pools: Mapping[str, Mapping[str, str | None]]) -> dict[str, dict[str, int | None]]:
    """Turn ``{"2048kB": {"nr_hugepages": "0\\n", ...}}`` into counters per pool (None for a missing file)."""
    result: dict[str, dict[str, int | None]] = {}
    for size, counters in pools.items():
        match = _HUGEPAGE_SIZE_RE.match(size)
        if not match:
            raise ValueError(f"invalid hugepage size {size!r}: expected <number>kB")
        pool: dict[str, int | None] = {"size_bytes": int(match.group("kib")) * 1024}
        for counter, key in HUGEPAGE_COUNTERS.items():
            raw = counters.get(counter)
            pool[key] = int(raw.strip()) if raw is not None and raw.strip().isdigit() else None
        result[size] = pool
    return dict(sorted(result.items(), key=lambda item: item[1]["size_bytes"] or 0))


def hugepage_size_name(size_bytes: int | None) -> str | None:
    """Name a hugepage size in bytes the way sysfs does (2097152 -> ``2048kB``)."""
    return f"{size_bytes // 1024}kB" if size_bytes else None


def parse_mountinfo(text: str) -> list[dict[str, str]]:
    """Parse /proc/self/mountinfo into mount point, filesystem type, source and super options per mount."""
    mounts = []
    for line in text.splitlines():
        fields = line.split()
        # Optional fields (shared:N, master:N) end at a lone "-"; the three fields after it are fixed.
        if "-" not in fields[6:]:
            continue
        dash = fields.index("-", 6)
        if len(fields) < dash + 4:
            continue
        mounts.append({
            "mountpoint": _MOUNTINFO_ESCAPE_RE.sub(lambda m: chr(int(m.group(1), 8)), fields[4]),
            "fstype": fields[dash + 1],
            "source": fields[dash + 2],
            "super_options": fields[dash + 3],
        })
    return mounts


def parse_cgroup_layout(mountinfo_text: str) -> dict[str, t.Any]:
    """Work out the cgroup mode, mount points and v1 hierarchies (mount point -> names) from mountinfo."""
    # The last mount on a mount point hides the earlier ones there.
    visible = {mount["mountpoint"]: mount for mount in parse_mountinfo(mountinfo_text)}
    v2_mounts = [point for point, mount in visible.items() if mount["fstype"] == "cgroup2"]
    v1_mounts = {
        point: [opt for opt in mount["super_options"].split(",")
                if opt not in _CGROUP_V1_FLAGS and (opt.startswith("name=") or "=" not in opt)]
        for point, mount in visible.items() if mount["fstype"] == "cgroup"
    }
    if CGROUP_ROOT in v2_mounts:
        mode, mountpoint, unified = "v2", CGROUP_ROOT, CGROUP_ROOT
    elif v1_mounts:
        unified = next(iter(v2_mounts), None)
        mode = "hybrid" if unified else "v1"
        # The tree the v1 hierarchies hang from, normally a tmpfs on /sys/fs/cgroup.
        mountpoint = posixpath.commonpath([posixpath.dirname(point) for point in v1_mounts])
    elif v2_mounts:
        # cgroup2 only, but somewhere unusual: still a pure v2 host.
        mode, mountpoint = "v2", v2_mounts[0]
        unified = mountpoint
    else:
        mode, mountpoint, unified = "none", None, None
    return {"mode": mode, "mountpoint": mountpoint, "unified_mountpoint": unified, "v1_mounts": v1_mounts}


def parse_cgroup_mode(mountinfo_text: str) -> str:
    """Return ``v1``, ``hybrid``, ``v2`` (or ``none`` without any cgroup mount) from mountinfo."""
    return parse_cgroup_layout(mountinfo_text)["mode"]


def parse_v1_controllers(proc_cgroups_text: str) -> list[str]:
    """List the controllers /proc/cgroups marks as enabled."""
    enabled = []
    for line in proc_cgroups_text.splitlines():
        fields = line.split()
        if len(fields) == 4 and not fields[0].startswith("#") and fields[3] == "1":
            enabled.append(fields[0])
    return enabled


def cgroup_facts(layout: Mapping[str, t.Any], proc_cgroups_text: str | None,
                 v2_controllers_text: str | None) -> dict[str, t.Any]:
    """Combine a cgroup layout with /proc/cgroups (v1, hybrid) or cgroup.controllers (v2) into the reported facts."""
    hierarchies: dict[str, str] = {}
    if layout["mode"] == "v2":
        controllers = sorted(set((v2_controllers_text or "").split()))
    else:
        enabled = set(parse_v1_controllers(proc_cgroups_text or ""))
        for point, names in sorted(layout["v1_mounts"].items()):
            for name in names:
                if name in enabled or name.startswith("name="):
                    hierarchies.setdefault(name, point)
        # Enabled but not mounted (e.g. net_cls on many hosts) cannot be used, so it is not available.
        controllers = sorted(name for name in hierarchies if name in enabled)
    return {
        "mode": layout["mode"],
        "mountpoint": layout["mountpoint"],
        "unified_mountpoint": layout["unified_mountpoint"],
        "controllers": controllers,
        "v1_hierarchies": dict(sorted(hierarchies.items())),
    }


def numa_node(node_id: int, cpulist_text: str, meminfo_text: str | None) -> dict[str, t.Any]:
    """Describe one NUMA node from its cpulist and meminfo texts."""
    memory = parse_meminfo(meminfo_text or "")
    return {
        "id": node_id,
        "cpulist": cpulist_text.strip(),
        "cpus": parse_cpu_list(cpulist_text),
        "memory_total_bytes": memory.get("MemTotal"),
    }


def nearest_existing_path(path: str, exists: Callable[[str], bool]) -> str:
    """Return ``path`` or its closest ancestor for which ``exists`` is true (``/`` at worst)."""
    current = posixpath.normpath(path)
    # dirname() is a fixed point at the root ("/", and "//" which normpath keeps): stop there.
    while not exists(current) and posixpath.dirname(current) != current:
        current = posixpath.dirname(current)
    return current


def statvfs_usage(stat: os.statvfs_result) -> dict[str, int]:
    """Total and free bytes of a filesystem; free counts what unprivileged users may use, as df's Avail."""
    return {"total_bytes": stat.f_blocks * stat.f_frsize, "free_bytes": stat.f_bavail * stat.f_frsize}
