# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Private to the collection: not a public API and may change without notice.

"""Hugepage pools: sizes, sysfs paths, the boot-time file and unit, plans and shortfall advice.

Everything is pure except HostHugepages, the one class that reads and writes the kernel's files (below a root
directory, so that tests use a fake tree).
"""

from __future__ import annotations

import glob
import os
import re
import typing as t

from ansible_collections.containerhost.platform.plugins.module_utils._host_facts import (
    HUGEPAGE_COUNTERS,
    parse_hugepage_pools,
)
from ansible_collections.containerhost.platform.plugins.module_utils._unit_files import managed_header, render_unit

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

MODULE_NAME = "hugepages"
SYSTEM_POOLS_DIR = "/sys/kernel/mm/hugepages"
NODES_DIR = "/sys/devices/system/node"
CONFIG_PATH = "/etc/containerhost/hugepages.conf"
UNIT_NAME = "containerhost-hugepages.service"
UNIT_DIR = "/etc/systemd/system"
# The target whose .wants/ holds the unit: early in boot, before memory fragments and before any service starts.
WANTED_BY = "sysinit.target"

# "2M", "2MB", "2MiB", "1G", "2048kB", "2048 kB", "64K" (case-insensitive); a bare number is refused as ambiguous.
_SIZE_RE = re.compile(r"^\s*(?P<number>\d+)\s*(?P<unit>[kmgt])(?:i?b)?\s*$", re.IGNORECASE)
_UNIT_KIB = {"k": 1, "m": 1024, "g": 1024 ** 2, "t": 1024 ** 3}
_POOL_DIR_RE = re.compile(r"^hugepages-(?P<kib>\d+)kB$")
_COUNT_PATH_RE = re.compile(r"^/sys/(?:kernel/mm/hugepages|devices/system/node/node(?P<node>\d+)/hugepages)"
                            r"/hugepages-(?P<kib>\d+)kB/nr_hugepages$")

# Pages of this size or larger are "gigantic" on every architecture Linux supports them on: the buddy allocator
# cannot hand them out once memory is fragmented, so the kernel command line is the reliable way to get them.
GIGANTIC_KIB = 1024 ** 2

# The boot-time writer: reads "<sysfs file> <pages>" lines from CONFIG_PATH; other lines (comments) are skipped.
# $$ is a literal $ in a unit file; a file that cannot be written (a node that went away) fails the unit.
_EXEC_START = (
    "/bin/sh -c 'rc=0; while read -r path pages; do case \"$$path\" in /sys/*) "
    "echo \"$$pages\" > \"$$path\" || rc=1;; esac; done < " + CONFIG_PATH + "; exit $$rc'"
)

READ_ONLY_REASON = "sysfs is read-only (container): hugepages belong to the host"


class HugepageError(ValueError):
    """Bad pool input or a pool this kernel does not have; the message names the field and the accepted values."""


class PoolRequest:
    """One validated entry of the pools option."""

    def __init__(self, index: int, size_kib: int, node: int | None, count: int | None) -> None:
        self.index = index
        self.size_kib = size_kib
        self.node = node
        self.count = count

    @property
    def path(self) -> str:
        """The sysfs file holding this pool's persistent page count."""
        return count_path(self.size_kib, self.node)

    @property
    def where(self) -> str:
        """How error messages name the entry."""
        return f"pools[{self.index}]"

    def __repr__(self) -> str:
        return f"PoolRequest({self.index}, {self.size_kib}, {self.node}, {self.count})"


def parse_size(value: t.Any) -> int:
    """A hugepage size such as ``2M``, ``1G`` or ``2048kB`` in KiB; raises ValueError for anything else."""
    match = _SIZE_RE.match(str(value)) if isinstance(value, (str, int)) and not isinstance(value, bool) else None
    if not match:
        raise ValueError(f"{value!r} is not a hugepage size; give a number with a unit, such as 2M, 1G or 2048kB")
    kib = int(match.group("number")) * _UNIT_KIB[match.group("unit").lower()]
    if kib <= 0:
        raise ValueError(f"{value!r} is not a hugepage size: it must be larger than 0")
    return kib


def size_name(size_kib: int) -> str:
    """The name sysfs uses for a size: 2048 -> ``2048kB``."""
    return f"{size_kib}kB"


def size_label(size_kib: int) -> str:
    """A short human label for a size: 2048 -> ``2M``, 1048576 -> ``1G``, 64 -> ``64K``."""
    for unit, factor in (("T", 1024 ** 3), ("G", 1024 ** 2), ("M", 1024)):
        if size_kib % factor == 0:
            return f"{size_kib // factor}{unit}"
    return f"{size_kib}K"


def describe_sizes(sizes: Iterable[int]) -> str:
    """``2048kB (2M), 1048576kB (1G)`` for messages; ``none`` for no sizes."""
    return ", ".join(f"{size_name(kib)} ({size_label(kib)})" for kib in sorted(sizes)) or "none"


def pool_dir(size_kib: int, node: int | None) -> str:
    """The sysfs directory of a pool: system-wide (node None) or one NUMA node's."""
    if node is None:
        return f"{SYSTEM_POOLS_DIR}/hugepages-{size_kib}kB"
    return f"{NODES_DIR}/node{node}/hugepages/hugepages-{size_kib}kB"


def count_path(size_kib: int, node: int | None) -> str:
    """The sysfs file holding a pool's persistent page count."""
    return f"{pool_dir(size_kib, node)}/nr_hugepages"


def pool_from_path(path: str) -> tuple[int, int | None] | None:
    """(size in KiB, node or None) for a pool count file; None for any other path."""
    match = _COUNT_PATH_RE.match(path)
    if not match:
        return None
    node = match.group("node")
    return int(match.group("kib")), None if node is None else int(node)


def pool_sizes(names: Iterable[str]) -> list[int]:
    """Sizes in KiB from sysfs directory names (``hugepages-2048kB``), sorted; other names are ignored."""
    sizes = []
    for name in names:
        match = _POOL_DIR_RE.match(name)
        if match:
            sizes.append(int(match.group("kib")))
    return sorted(sizes)


def pool_order(size_kib: int, node: int | None) -> tuple[int, int, int]:
    """Sort key: the largest pages first (they need contiguous memory most), system-wide before nodes."""
    return -size_kib, 0 if node is None else 1, node or 0


def _int_field(value: t.Any, where: str, field: str, minimum: int) -> int:
    """An integer of at least ``minimum`` or a HugepageError naming the field."""
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            value = int(str(value).strip())
        except ValueError:
            raise HugepageError(f"{where}.{field}: {value!r} is not a whole number; accepted: {minimum} or more") from None
    if value < minimum:
        raise HugepageError(f"{where}.{field}: {value} is too small; accepted: {minimum} or more")
    return value


def normalise_pools(entries: Sequence[Mapping[str, t.Any]], state: str) -> list[PoolRequest]:
    """Validate the pools option (syntax only, no host access); raise HugepageError naming the entry and field."""
    requests: list[PoolRequest] = []
    seen: dict[tuple[int, int | None], int] = {}
    # size -> (whole system?, first entry declaring it)
    modes: dict[int, tuple[bool, int]] = {}
    for index, entry in enumerate(entries):
        where = f"pools[{index}]"
        try:
            size = parse_size(entry.get("size"))
        except ValueError as exc:
            raise HugepageError(f"{where}.size: {exc}") from None
        node = entry.get("node")
        node = None if node is None else _int_field(node, where, "node", 0)
        count = entry.get("count")
        if count is None:
            if state == "present":
                raise HugepageError(f"{where}.count: required with state=present; accepted: 0 or more pages")
        else:
            count = _int_field(count, where, "count", 0)
        key = (size, node)
        if key in seen:
            raise HugepageError(f"{where}: {size_name(size)} for {_node_text(node)} is already declared by "
                                f"pools[{seen[key]}]; declare each pool once")
        seen[key] = index
        # Whole-system and per-node counts of one size overwrite each other in the kernel: refuse the mix.
        system, first = modes.setdefault(size, (node is None, index))
        if system != (node is None):
            raise HugepageError(f"{where}: {size_name(size)} is declared for {_node_text(entries[first].get('node'))} "
                                f"by pools[{first}] and for {_node_text(node)} here; the kernel's whole-system count "
                                "is the sum of the node counts, so declare either the whole-system count or "
                                "per-node counts")
        requests.append(PoolRequest(index, size, node, count))
    return requests


def _node_text(node: t.Any) -> str:
    """``the whole system`` or ``node 1``."""
    return "the whole system" if node is None else f"node {node}"


def check_supported(requests: Iterable[PoolRequest], system_sizes: Sequence[int],
                    node_sizes: Mapping[int, Sequence[int]]) -> None:
    """Fail (HugepageError) for a size or node this kernel does not have, listing what it has."""
    if not system_sizes:
        raise HugepageError(f"pools: this kernel offers no hugepages ({SYSTEM_POOLS_DIR} has no pools); it needs "
                            "CONFIG_HUGETLBFS, which every distribution kernel has")
    for request in requests:
        if request.size_kib not in system_sizes:
            raise HugepageError(f"{request.where}.size: {size_name(request.size_kib)} "
                                f"({size_label(request.size_kib)}) is not supported by this kernel; available: "
                                f"{describe_sizes(system_sizes)}")
        if request.node is None:
            continue
        if request.node not in node_sizes:
            nodes = ", ".join(str(node) for node in sorted(node_sizes)) or "none (no NUMA support)"
            raise HugepageError(f"{request.where}.node: node {request.node} does not exist; available nodes: {nodes}")
        if request.size_kib not in node_sizes[request.node]:
            raise HugepageError(f"{request.where}.size: node {request.node} has no {size_name(request.size_kib)} "
                                f"pool; available there: {describe_sizes(node_sizes[request.node])}")


def parse_config(text: str | None) -> dict[str, int]:
    """``<sysfs file> <pages>`` lines of the boot-time file as path -> pages (comments and odd lines skipped)."""
    entries: dict[str, int] = {}
    for line in (text or "").splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[1].isdigit() and pool_from_path(fields[0]) is not None:
            entries[fields[0]] = int(fields[1])
    return entries


def _path_order(path: str) -> tuple[int, int, int]:
    """pool_order for a count file path."""
    pool = pool_from_path(path)
    return pool_order(*pool) if pool else (0, 2, 0)


def render_config(entries: Mapping[str, int]) -> str:
    """The boot-time file: header, then one ``<sysfs file> <pages>`` line per pool, largest pages first."""
    lines = [f"# {line}" for line in managed_header(MODULE_NAME)]
    lines.append(f"# <sysfs file> <pages>: written in this order early at boot by {UNIT_NAME}")
    lines.extend(f"{path} {entries[path]}" for path in sorted(entries, key=_path_order))
    return "\n".join(lines) + "\n"


def render_unit_file() -> str:
    """The oneshot unit that writes CONFIG_PATH's counts into sysfs at boot."""
    return render_unit(managed_header(MODULE_NAME), {
        "Unit": {
            "Description": "Hugepage pools (containerhost.platform.hugepages)",
            # Runs in early boot, so none of the default dependencies on basic.target may apply.
            "DefaultDependencies": "no",
            # Early, while memory is still unfragmented: before sysinit.target, so before every service that
            # maps hugepages (container engines, DPDK), and before hugetlbfs is mounted.
            "Before": f"{WANTED_BY} dev-hugepages.mount shutdown.target",
            # After sysctl.d, so that a vm.nr_hugepages there cannot undo the declared counts.
            "After": "systemd-sysctl.service",
            "Conflicts": "shutdown.target",
            "RequiresMountsFor": CONFIG_PATH,
            "ConditionPathExists": CONFIG_PATH,
            # In a container sysfs is read-only (or belongs to the host): do nothing there.
            "ConditionPathIsReadWrite": "/sys",
            "ConditionVirtualization": "!container",
        },
        "Service": {"Type": "oneshot", "RemainAfterExit": "yes", "ExecStart": _EXEC_START},
        "Install": {"WantedBy": WANTED_BY},
    })


def plan_config(current: Mapping[str, int], requests: Sequence[PoolRequest], state: str) -> dict[str, int]:
    """The boot-time entries after this task.

    ``present`` sets the requested pools and keeps the others, except entries of a requested size in the other
    mode (whole system vs per node), which the kernel would let overwrite each other. ``absent`` drops the
    requested pools, or every entry when none is requested.
    """
    if state == "absent":
        if not requests:
            return {}
        dropped = {request.path for request in requests}
        return {path: pages for path, pages in current.items() if path not in dropped}
    modes = {(request.size_kib, request.node is None) for request in requests}
    planned: dict[str, int] = {}
    for path, pages in current.items():
        pool = pool_from_path(path)
        if pool and pool[0] in {size for size, dummy in modes} and (pool[0], pool[1] is None) not in modes:
            continue
        planned[path] = pages
    for request in requests:
        planned[request.path] = t.cast(int, request.count)
    return planned


def live_targets(current_config: Mapping[str, int], requests: Sequence[PoolRequest],
                 state: str) -> list[PoolRequest]:
    """The pools to set now: the requested ones, or for ``absent`` without pools every pool in the boot file (to 0)."""
    if state == "present":
        return list(requests)
    if requests:
        return [PoolRequest(request.index, request.size_kib, request.node, 0) for request in requests]
    targets = []
    for index, path in enumerate(sorted(current_config, key=_path_order)):
        size, node = t.cast("tuple[int, int | None]", pool_from_path(path))
        targets.append(PoolRequest(index, size, node, 0))
    return targets


def write_order(targets: Sequence[PoolRequest], before: Mapping[str, int | None]) -> list[PoolRequest]:
    """Shrinking pools first (their memory can serve the others), then growing ones, largest pages first."""

    def key(request: PoolRequest) -> tuple[int, tuple[int, int, int]]:
        current = before.get(request.path)
        shrinking = current is not None and t.cast(int, request.count) < current
        return (0 if shrinking else 1), pool_order(request.size_kib, request.node)

    return sorted(targets, key=key)


def persistent_count(counters: Mapping[str, int | None]) -> int | None:
    """The pool's persistent size: nr_hugepages minus surplus pages (in-use pages kept past a shrink, overcommit)."""
    total = counters.get("total")
    if total is None:
        return None
    return total - (counters.get("surplus") or 0)


def cmdline_suggestion(shortfalls: Sequence[tuple[int, int | None, int]]) -> str | None:
    """Kernel command line parameters reserving the short gigantic pools at boot, from (size, node, pages)."""
    by_size: dict[int, dict[int | None, int]] = {}
    for size, node, pages in shortfalls:
        if size >= GIGANTIC_KIB:
            by_size.setdefault(size, {})[node] = pages
    parts = []
    for size in sorted(by_size, reverse=True):
        pools = by_size[size]
        if None in pools:
            parts.append(f"hugepagesz={size_label(size)} hugepages={pools[None]}")
        else:
            # The node:pages form exists since Linux 5.16.
            parts.append(f"hugepagesz={size_label(size)} hugepages="
                         + ",".join(f"{node}:{pages}" for node, pages in sorted(pools.items())))
    return " ".join(parts) or None


def shortfall_message(pools: Sequence[Mapping[str, t.Any]], suggestion: str | None) -> str:
    """One sentence per short pool plus what to do about it."""
    parts = [f"{pool['size']} {_node_text(pool['node'])}: asked for {pool['wanted']}, the kernel gave "
             f"{pool['achieved']}" for pool in pools]
    advice = ("memory is short or too fragmented for more pages; free memory (stop workloads, "
              "echo 1 > /proc/sys/vm/compact_memory) and run again")
    if suggestion:
        advice += (f"; gigantic pages are reliably reserved only at boot: add '{suggestion}' to the kernel command "
                   "line (GRUB_CMDLINE_LINUX in /etc/default/grub, then update-grub or grub2-mkconfig, and reboot)")
    return f"hugepage shortfall: {'; '.join(parts)}. {advice}"


def detect_container(markers: Mapping[str, str | None]) -> str | None:
    """The container manager from marker files (path -> text, None when absent), or None on a host or VM.

    Looks at what systemd itself uses: /run/systemd/container (written by systemd in a container), PID 1's
    ``container=`` environment variable, and the files podman (/run/.containerenv) and docker (/.dockerenv) add.
    """
    systemd = (markers.get("/run/systemd/container") or "").strip()
    if systemd:
        return systemd
    for variable in (markers.get("/proc/1/environ") or "").split("\0"):
        name, sep, value = variable.partition("=")
        if sep and name == "container" and value.strip():
            return value.strip()
    if markers.get("/run/.containerenv") is not None:
        return "podman"
    if markers.get("/.dockerenv") is not None:
        return "docker"
    return None


CONTAINER_MARKERS = ("/run/systemd/container", "/proc/1/environ", "/run/.containerenv", "/.dockerenv")


def skip_reason(container: str | None, sysfs_read_only: bool) -> str | None:
    """Why hugepages cannot be managed here, or None when they can."""
    if sysfs_read_only:
        return READ_ONLY_REASON if container else "sysfs is read-only: the kernel's hugepage pools cannot be changed"
    if container:
        return (f"running in a container ({container}) with a writable sysfs: hugepages belong to the host, and "
                "changing them here would change the host's pools; manage them on the host")
    return None


class HostHugepages:
    """The kernel's hugepage files and the container markers, read and written below ``root``."""

    def __init__(self, root: str = "/") -> None:
        self.root = root

    def host_path(self, path: str) -> str:
        """Map an absolute host path below the root."""
        return os.path.join(self.root, path.lstrip("/"))

    def read_text(self, path: str) -> str | None:
        """A file's text, or None when it cannot be read."""
        try:
            with open(self.host_path(path), encoding="utf-8", errors="replace") as handle:
                return handle.read()
        except OSError:
            # Missing or unreadable means "not there" for markers and counters alike.
            return None

    def system_sizes(self) -> list[int]:
        """Sizes (KiB) of the system-wide pools."""
        return pool_sizes(os.path.basename(path) for path in glob.glob(self.host_path(f"{SYSTEM_POOLS_DIR}/hugepages-*")))

    def node_sizes(self) -> dict[int, list[int]]:
        """NUMA node -> sizes (KiB) of its pools; empty without NUMA support."""
        nodes = {}
        for node_dir in glob.glob(self.host_path(f"{NODES_DIR}/node[0-9]*")):
            name = os.path.basename(node_dir)
            if name[len("node"):].isdigit():
                nodes[int(name[len("node"):])] = pool_sizes(os.listdir(os.path.join(node_dir, "hugepages"))
                                                            if os.path.isdir(os.path.join(node_dir, "hugepages"))
                                                            else [])
        return dict(sorted(nodes.items()))

    def read_pool(self, size_kib: int, node: int | None) -> dict[str, int | None]:
        """A pool's counters (total, free, reserved, surplus; None where the kernel has no such file)."""
        base = pool_dir(size_kib, node)
        texts = {counter: self.read_text(f"{base}/{counter}") for counter in HUGEPAGE_COUNTERS}
        counters = parse_hugepage_pools({size_name(size_kib): texts})[size_name(size_kib)]
        counters.pop("size_bytes", None)
        return counters

    def write_count(self, size_kib: int, node: int | None, pages: int) -> None:
        """Ask the kernel for ``pages`` persistent pages in the pool (it may give fewer)."""
        with open(self.host_path(count_path(size_kib, node)), "w", encoding="utf-8") as handle:
            handle.write(f"{pages}\n")

    def sysfs_read_only(self) -> bool:
        """Whether the hugepage files sit on a read-only mount (as in most containers)."""
        path = self.host_path(SYSTEM_POOLS_DIR)
        if not os.path.isdir(path):
            path = self.host_path("/sys")
        try:
            read_only = bool(os.statvfs(path).f_flag & os.ST_RDONLY)
        except OSError:
            return True
        return read_only or not os.access(path, os.W_OK)

    def container(self) -> str | None:
        """The container manager this runs under, or None."""
        markers = {}
        for path in CONTAINER_MARKERS:
            markers[path] = self.read_text(path)
            if markers[path] is None and os.path.exists(self.host_path(path)):
                # Present but unreadable (/proc/1/environ as non-root): presence is what counts for the flag files.
                markers[path] = ""
        return detect_container(markers)
