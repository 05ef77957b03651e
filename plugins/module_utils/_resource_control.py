# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Private to the collection: not a public API and may change without notice.

"""systemd resource control for slices, units and scopes: validate limits, translate them for the host, render them,
and compare them with ``systemctl show``. Pure except host_limits(), which reads /proc and /sys."""

from __future__ import annotations

import dataclasses
import glob
import os
import re
import typing as t

from ansible_collections.containerhost.platform.plugins.module_utils._host_facts import (
    CGROUP_ROOT,
    cgroup_facts,
    parse_cgroup_layout,
    parse_cpu_list,
    parse_meminfo,
    parse_systemd_version,
)
from ansible_collections.containerhost.platform.plugins.module_utils._unit_files import render_unit

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from ansible.module_utils.basic import AnsibleModule

INFINITY = "infinity"
WEIGHT_MIN, WEIGHT_MAX = 1, 10000
# systemd's TASKS_MAX: the largest pid_max the kernel allows, minus one.
TASKS_MAX_LIMIT = 4194303
PERIOD_MIN_USEC, PERIOD_MAX_USEC = 1000, 1000000

_SIZE_FACTORS = {"": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3, "T": 1024 ** 4, "P": 1024 ** 5, "E": 1024 ** 6}
_SIZE_RE = re.compile(r"^(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>[KMGTPE]?)(?:i?B)?$", re.IGNORECASE)
# A percentage with at most two decimals: systemd keeps percentages in permyriad (1/10000).
_PERCENT_RE = re.compile(r"^(?P<whole>\d+)(?:\.(?P<frac>\d{1,2}))?\s*%$")
_PLAIN_NUMBER_RE = re.compile(r"^(?P<whole>\d+)(?:\.(?P<frac>\d{1,2}))?$")
_DURATION_RE = re.compile(r"^(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>us|usec|ms|msec|s|sec)$")
_DURATION_FACTORS = {"us": 1, "usec": 1, "ms": 1000, "msec": 1000, "s": 1000000, "sec": 1000000}
# Units systemctl show uses when it prints a time span (format_timespan).
_TIMESPAN_FACTORS = {"us": 1, "ms": 1000, "s": 1000000, "min": 60000000, "h": 3600000000, "d": 86400000000,
                     "w": 604800000000, "M": 2629800000000, "y": 31557600000000}
_TIMESPAN_TOKEN_RE = re.compile(r"(?P<number>\d+(?:\.\d+)?)(?P<unit>us|ms|s|min|h|d|w|M|y)")
_DEVICE_RE = re.compile(r"^/dev/\S+$")
_INT_RE = re.compile(r"^\d+$")

_DEVICE_WEIGHT_SPEC = {"device": {"type": "str", "required": True}, "weight": {"type": "raw", "required": True}}
_DEVICE_LIMIT_SPEC = {"device": {"type": "str", "required": True}, "limit": {"type": "raw", "required": True}}

# argument_spec fragment shared by slice, unit_resources and scope. Scalar limits are "raw" so that our own
# validation (which names the slice or unit) judges every value; deep-copy it before adding it to a spec.
LIMIT_OPTIONS: dict[str, dict[str, t.Any]] = {
    "cpu_weight": {"type": "raw"},
    "startup_cpu_weight": {"type": "raw"},
    "cpu_quota": {"type": "raw"},
    "cpu_quota_period": {"type": "raw"},
    "memory_min": {"type": "raw"},
    "memory_low": {"type": "raw"},
    "memory_high": {"type": "raw"},
    "memory_max": {"type": "raw"},
    "memory_swap_max": {"type": "raw"},
    "tasks_max": {"type": "raw"},
    "io_weight": {"type": "raw"},
    "startup_io_weight": {"type": "raw"},
    "io_device_weight": {"type": "list", "elements": "dict", "options": _DEVICE_WEIGHT_SPEC},
    "io_read_bandwidth_max": {"type": "list", "elements": "dict", "options": _DEVICE_LIMIT_SPEC},
    "io_write_bandwidth_max": {"type": "list", "elements": "dict", "options": _DEVICE_LIMIT_SPEC},
    "io_read_iops_max": {"type": "list", "elements": "dict", "options": _DEVICE_LIMIT_SPEC},
    "io_write_iops_max": {"type": "list", "elements": "dict", "options": _DEVICE_LIMIT_SPEC},
    "allowed_cpus": {"type": "raw"},
    "startup_allowed_cpus": {"type": "raw"},
    "allowed_memory_nodes": {"type": "raw"},
    "startup_allowed_memory_nodes": {"type": "raw"},
}


class ResourceError(ValueError):
    """A limit value that cannot be used; the message names where, the field and the accepted forms."""


@dataclasses.dataclass(frozen=True)
class HostLimits:
    """What the host allows: systemd version, cgroup mode, controllers systemd can use, CPUs, NUMA nodes, bases of %."""

    systemd_version: int | None = None
    cgroup_mode: str = "v2"
    controllers: tuple[str, ...] = ()
    online_cpus: tuple[int, ...] = ()
    numa_nodes: tuple[int, ...] = ()
    # Bases systemd scales percentages by (physical memory, the system's task limit); None when unknown.
    memory_bytes: int | None = None
    tasks_max_system: int | None = None
    page_size: int = 4096
    # Why a controller the kernel has is unusable by systemd (e.g. inside a container); shown in not_honoured.
    controller_note: str = ""


@dataclasses.dataclass
class Plan:
    """Properties to write for a set of limits on one host, with what was translated and what cannot be honoured."""

    properties: dict[str, str] = dataclasses.field(default_factory=dict)
    translated: list[dict[str, str]] = dataclasses.field(default_factory=list)
    not_honoured: list[dict[str, str]] = dataclasses.field(default_factory=list)
    # systemd property -> the option it came from, and the comparison kind used against systemctl show.
    sources: dict[str, str] = dataclasses.field(default_factory=dict)
    host: HostLimits | None = None

    def as_dict(self) -> dict[str, t.Any]:
        """The plan as returned to the user."""
        return {"properties": dict(self.properties), "translated": list(self.translated),
                "not_honoured": list(self.not_honoured)}


@dataclasses.dataclass(frozen=True)
class _Prop:
    """How one option maps onto systemd: names, value kind, controllers and the systemd release that knows it."""

    option: str
    name: str
    show: str
    kind: str
    controller: str
    v1_controller: str | None
    since: int
    legacy: str | None = None
    legacy_since: int = 0


# Versions from systemd.resource-control(5) "Added in version" notes; the legacy names predate the unified hierarchy.
_PROPS = (
    _Prop("cpu_weight", "CPUWeight", "CPUWeight", "cpu_weight", "cpu", "cpu", 232, "CPUShares", 208),
    _Prop("startup_cpu_weight", "StartupCPUWeight", "StartupCPUWeight", "weight", "cpu", "cpu", 232,
          "StartupCPUShares", 214),
    _Prop("cpu_quota", "CPUQuota", "CPUQuotaPerSecUSec", "quota", "cpu", "cpu", 213),
    _Prop("cpu_quota_period", "CPUQuotaPeriodSec", "CPUQuotaPeriodUSec", "duration", "cpu", "cpu", 242),
    _Prop("memory_min", "MemoryMin", "MemoryMin", "size", "memory", None, 240),
    _Prop("memory_low", "MemoryLow", "MemoryLow", "size", "memory", None, 240),
    _Prop("memory_high", "MemoryHigh", "MemoryHigh", "size", "memory", None, 231),
    _Prop("memory_max", "MemoryMax", "MemoryMax", "size", "memory", "memory", 231, "MemoryLimit", 208),
    _Prop("memory_swap_max", "MemorySwapMax", "MemorySwapMax", "size", "memory", None, 232),
    _Prop("tasks_max", "TasksMax", "TasksMax", "tasks", "pids", "pids", 227),
    _Prop("io_weight", "IOWeight", "IOWeight", "weight", "io", "blkio", 230, "BlockIOWeight", 208),
    _Prop("startup_io_weight", "StartupIOWeight", "StartupIOWeight", "weight", "io", "blkio", 230,
          "StartupBlockIOWeight", 214),
    _Prop("io_device_weight", "IODeviceWeight", "IODeviceWeight", "devices", "io", "blkio", 230,
          "BlockIODeviceWeight", 208),
    _Prop("io_read_bandwidth_max", "IOReadBandwidthMax", "IOReadBandwidthMax", "devices", "io", "blkio", 230,
          "BlockIOReadBandwidth", 208),
    _Prop("io_write_bandwidth_max", "IOWriteBandwidthMax", "IOWriteBandwidthMax", "devices", "io", "blkio", 230,
          "BlockIOWriteBandwidth", 208),
    _Prop("io_read_iops_max", "IOReadIOPSMax", "IOReadIOPSMax", "devices", "io", None, 230),
    _Prop("io_write_iops_max", "IOWriteIOPSMax", "IOWriteIOPSMax", "devices", "io", None, 230),
    _Prop("allowed_cpus", "AllowedCPUs", "AllowedCPUs", "cpuset", "cpuset", None, 244),
    _Prop("startup_allowed_cpus", "StartupAllowedCPUs", "StartupAllowedCPUs", "cpuset", "cpuset", None, 252),
    _Prop("allowed_memory_nodes", "AllowedMemoryNodes", "AllowedMemoryNodes", "cpuset", "cpuset", None, 244),
    _Prop("startup_allowed_memory_nodes", "StartupAllowedMemoryNodes", "StartupAllowedMemoryNodes", "cpuset",
          "cpuset", None, 252),
)
_BY_OPTION = {prop.option: prop for prop in _PROPS}
# Written name (modern or legacy) -> (prop, show name, kind).
_BY_NAME: dict[str, tuple[_Prop, str, str]] = {}
for _prop in _PROPS:
    _BY_NAME[_prop.name] = (_prop, _prop.show, _prop.kind)
    if _prop.legacy:
        _BY_NAME[_prop.legacy] = (_prop, _prop.legacy, "legacy_" + _prop.kind)
del _prop

# CPUWeight=idle arrived with cpu.idle support.
_CPU_IDLE_SINCE = 250
# TasksMax=N% arrived one release after TasksMax=.
_TASKS_PERCENT_SINCE = 229


def limit_option_names() -> tuple[str, ...]:
    """The limit option names, in documentation order."""
    return tuple(LIMIT_OPTIONS)


def property_names() -> tuple[str, ...]:
    """Every systemd property (modern and legacy) the limit options can be written as."""
    return tuple(_BY_NAME)


# ---------------------------------------------------------------------------------------------------------------------
# Parsing and validation of single values

def _fail(where: str, field: str, value: t.Any, accepted: str, why: str = "") -> t.NoReturn:
    """Raise ResourceError naming where, the field, the value and the accepted forms."""
    detail = f" ({why})" if why else ""
    raise ResourceError(f"{where}: {field}: {value!r} is not valid{detail}; accepted: {accepted}")


def _is_int(value: t.Any) -> bool:
    """True for an int that is not a bool (YAML's yes/no must not pass as 1/0)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _permyriad(whole: str, frac: str | None) -> int:
    """``"12", "5"`` -> 1250: a percentage with up to two decimals in 1/10000 units."""
    return int(whole) * 100 + int((frac or "").ljust(2, "0") or 0)


def format_percent(permyriad: int) -> str:
    """1250 -> ``12.5%``, 15000 -> ``150%``."""
    whole, frac = divmod(permyriad, 100)
    return f"{whole}%" if not frac else f"{whole}.{frac:02d}".rstrip("0") + "%"


def parse_percent(value: t.Any) -> int | None:
    """``"12.5%"`` -> 1250 (permyriad); None when the value is not a percentage."""
    if not isinstance(value, str):
        return None
    match = _PERCENT_RE.match(value.strip())
    return _permyriad(match.group("whole"), match.group("frac")) if match else None


def parse_size(value: t.Any) -> int | None:
    """Bytes from an int or a size such as ``512M``/``1.5G`` (K, M, G, T, P, E base 1024); None if not a size."""
    if _is_int(value):
        return value if value >= 0 else None
    if not isinstance(value, str):
        return None
    match = _SIZE_RE.match(value.strip())
    if not match:
        return None
    number = match.group("number")
    factor = _SIZE_FACTORS[match.group("unit").upper()]
    whole, _dot, frac = number.partition(".")
    # Exact integer arithmetic: "1.5G" must be 1610612736, not a float approximation.
    return (int(whole) * factor) + (int(frac) * factor // 10 ** len(frac) if frac else 0)


def parse_duration(value: t.Any) -> int | None:
    """Microseconds from ``100ms``, ``1s``, ``500us`` (also usec, msec, sec); None if not such a duration."""
    if not isinstance(value, str):
        return None
    match = _DURATION_RE.match(value.strip())
    if not match:
        return None
    factor = _DURATION_FACTORS[match.group("unit")]
    whole, _dot, frac = match.group("number").partition(".")
    usec = int(whole) * factor + (int(frac) * factor // 10 ** len(frac) if frac else 0)
    return usec


def format_duration(usec: int) -> str:
    """Microseconds as the shortest exact ``s``/``ms``/``us`` duration: 100000 -> ``100ms``."""
    if usec and usec % 1000000 == 0:
        return f"{usec // 1000000}s"
    if usec and usec % 1000 == 0:
        return f"{usec // 1000}ms"
    return f"{usec}us"


def parse_timespan(text: str) -> int | None:
    """Microseconds from a time span as systemctl show prints it (``1.500000s``, ``1min 30s``); None for infinity."""
    text = text.strip()
    if text in ("", INFINITY, "[not set]"):
        return None
    if _INT_RE.match(text):
        return int(text)
    total = 0
    position = 0
    for match in _TIMESPAN_TOKEN_RE.finditer(text):
        if text[position:match.start()].strip():
            raise ValueError(f"invalid time span {text!r}")
        whole, _dot, frac = match.group("number").partition(".")
        factor = _TIMESPAN_FACTORS[match.group("unit")]
        total += int(whole) * factor + (int(frac) * factor // 10 ** len(frac) if frac else 0)
        position = match.end()
    if position == 0 or text[position:].strip():
        raise ValueError(f"invalid time span {text!r}")
    return total


def format_cpu_list(numbers: Iterable[int]) -> str:
    """``[0, 1, 2, 3, 6]`` -> ``0-3,6`` (the kernel's list format)."""
    ordered = sorted(set(numbers))
    ranges: list[str] = []
    start = prev = None
    for number in ordered:
        if start is None:
            start = prev = number
        elif number == prev + 1:
            prev = number
        else:
            ranges.append(f"{start}-{prev}" if prev != start else f"{start}")
            start = prev = number
    if start is not None:
        ranges.append(f"{start}-{prev}" if prev != start else f"{start}")
    return ",".join(ranges)


def parse_shown_cpu_set(text: str) -> list[int]:
    """CPUs or nodes from systemctl show: ``0-3,6``, or the hex byte mask systemd 252 prints for Startup* sets."""
    text = text.strip()
    if not text:
        return []
    if len(text) % 16 == 0 and re.fullmatch(r"[0-9a-f]+", text):
        # One byte per two hex digits, least significant CPU first within each byte.
        found = []
        for index in range(0, len(text), 2):
            byte = int(text[index:index + 2], 16)
            found.extend(index // 2 * 8 + bit for bit in range(8) if byte & (1 << bit))
        return found
    return parse_cpu_list(text.replace(" ", ","))


def _cpu_set(value: t.Any, where: str, field: str, allowed: tuple[int, ...], what: str) -> list[int]:
    """Validate a CPU or NUMA node set given as ``0-3,6`` or a list of ints; every member must exist on the host."""
    accepted = f"a list such as \"0-3,6\" or [0, 1, 2, 3, 6] of {what}" + (
        f" within this host's {format_cpu_list(allowed)}" if allowed else "")
    if _is_int(value):
        value = [value]
    if isinstance(value, list):
        if not value or not all(_is_int(item) and item >= 0 or isinstance(item, str) and _INT_RE.match(item.strip())
                                for item in value):
            _fail(where, field, value, accepted)
        numbers = sorted({int(item) for item in value})
    elif isinstance(value, str) and value.strip() and re.fullmatch(r"[\d\s,-]+", value):
        try:
            numbers = parse_cpu_list(value.replace(" ", ","))
        except ValueError as exc:
            _fail(where, field, value, accepted, str(exc))
        if not numbers:
            _fail(where, field, value, accepted)
    else:
        _fail(where, field, value, accepted)
    if allowed:
        outside = [n for n in numbers if n not in allowed]
        if outside:
            _fail(where, field, value, accepted, f"{format_cpu_list(outside)} not on this host")
    return numbers


def _weight(value: t.Any, where: str, field: str, idle: bool = False) -> int | str:
    """An integer weight 1..10000 (or ``idle`` where allowed)."""
    accepted = f"an integer {WEIGHT_MIN}..{WEIGHT_MAX}" + (" or \"idle\"" if idle else "")
    if idle and isinstance(value, str) and value.strip() == "idle":
        return "idle"
    if isinstance(value, str) and _INT_RE.match(value.strip()):
        value = int(value)
    if not _is_int(value) or not WEIGHT_MIN <= value <= WEIGHT_MAX:
        _fail(where, field, value, accepted)
    return value


def _quota(value: t.Any, where: str, field: str) -> str:
    """A CPU quota in percent of one CPU, above 0 and possibly above 100: ``150%``, 150, ``12.5%``."""
    accepted = "a percentage of one CPU above 0, such as \"150%\", 150 or \"12.5%\" (at most two decimals)"
    permyriad = None
    if _is_int(value):
        permyriad = value * 100
    elif isinstance(value, float):
        permyriad = round(value * 100) if abs(value * 100 - round(value * 100)) < 1e-6 else None
    elif isinstance(value, str):
        permyriad = parse_percent(value)
        if permyriad is None:
            match = _PLAIN_NUMBER_RE.match(value.strip())
            permyriad = _permyriad(match.group("whole"), match.group("frac")) if match else None
    if permyriad is None or permyriad <= 0:
        _fail(where, field, value, accepted)
    return format_percent(permyriad)


def _period(value: t.Any, where: str, field: str) -> int:
    """A CPU quota period between 1ms and 1s, in microseconds."""
    accepted = "a duration from 1ms to 1s with its unit, such as \"100ms\", \"1s\" or \"20000us\""
    usec = parse_duration(value)
    if usec is None or not PERIOD_MIN_USEC <= usec <= PERIOD_MAX_USEC:
        _fail(where, field, value, accepted)
    return usec


def _memory(value: t.Any, where: str, field: str, allow_zero: bool, allow_percent: bool) -> int | str:
    """A memory size: bytes, K/M/G/T sizes, ``infinity`` or (where allowed) a percentage of physical memory."""
    accepted = ("bytes as an integer, a size such as \"512M\" or \"1G\" (K, M, G, T = 1024-based), \"infinity\""
                + (" or a percentage of physical memory such as \"25%\"" if allow_percent else ""))
    if isinstance(value, str) and value.strip() == INFINITY:
        return INFINITY
    percent = parse_percent(value)
    if percent is not None:
        if not allow_percent or not 0 < percent <= 10000:
            _fail(where, field, value, accepted, "a percentage must be above 0% and at most 100%" if allow_percent else "")
        return format_percent(percent)
    size = parse_size(value)
    if size is None:
        _fail(where, field, value, accepted)
    if size == 0 and not allow_zero:
        _fail(where, field, value, accepted, "0 would leave no memory at all")
    return size


def _tasks(value: t.Any, where: str, field: str) -> int | str:
    """A task limit: a positive integer, ``infinity`` or a percentage of the system's limit."""
    accepted = "a positive integer, \"infinity\" or a percentage of the system's task limit such as \"10%\""
    if isinstance(value, str) and value.strip() == INFINITY:
        return INFINITY
    percent = parse_percent(value)
    if percent is not None:
        if not 0 < percent <= 10000:
            _fail(where, field, value, accepted, "a percentage must be above 0% and at most 100%")
        return format_percent(percent)
    if isinstance(value, str) and _INT_RE.match(value.strip()):
        value = int(value)
    if not _is_int(value) or value <= 0:
        _fail(where, field, value, accepted)
    return value


def _devices(value: t.Any, where: str, field: str, key: str,
             parse: Callable[[t.Any, str, str], t.Any]) -> list[dict]:
    """A list of ``{device: /dev/..., <key>: value}``, each device at most once, sorted by device."""
    if not isinstance(value, list):
        _fail(where, field, value, f"a list of {{device: /dev/..., {key}: ...}}")
    seen: dict[str, t.Any] = {}
    for index, entry in enumerate(value):
        entry_field = f"{field}[{index}]"
        if not isinstance(entry, dict) or set(entry) - {"device", key}:
            _fail(where, entry_field, entry, f"{{device: /dev/..., {key}: ...}}")
        device = entry.get("device")
        if not isinstance(device, str) or not _DEVICE_RE.match(device):
            _fail(where, f"{entry_field}.device", device, "a block device path such as /dev/sda (no spaces)")
        if device in seen:
            _fail(where, f"{entry_field}.device", device, "each device once per list", "listed twice")
        seen[device] = parse(entry.get(key), where, f"{entry_field}.{key}")
    return [{"device": device, key: seen[device]} for device in sorted(seen)]


def normalise_limits(options: Mapping[str, t.Any], where: str, host: HostLimits) -> dict[str, t.Any]:
    """Validate the limit options that are set (not None) and return them in canonical form, or raise ResourceError.

    Canonical forms: weights int (``idle`` for cpu_weight); cpu_quota ``"150%"``; cpu_quota_period int microseconds;
    memory int bytes, ``"infinity"`` or ``"25%"``; tasks_max int, ``"infinity"`` or ``"10%"``; device lists sorted
    lists of dicts with int values; CPU and node sets sorted lists of int.
    """
    unknown = sorted(set(options) - set(LIMIT_OPTIONS))
    if unknown:
        raise ResourceError(f"{where}: unknown option(s) {', '.join(unknown)}; accepted: {', '.join(LIMIT_OPTIONS)}")
    result: dict[str, t.Any] = {}
    for option, value in options.items():
        if value is None:
            continue
        if option == "cpu_weight":
            result[option] = _weight(value, where, option, idle=True)
        elif option in ("startup_cpu_weight", "io_weight", "startup_io_weight"):
            result[option] = _weight(value, where, option)
        elif option == "cpu_quota":
            result[option] = _quota(value, where, option)
        elif option == "cpu_quota_period":
            result[option] = _period(value, where, option)
        elif option.startswith("memory_"):
            result[option] = _memory(value, where, option,
                                     allow_zero=option in ("memory_min", "memory_low", "memory_swap_max"),
                                     # MemorySwapMax=N% is relative to swap, and only on newer systemd: refused.
                                     allow_percent=option != "memory_swap_max")
        elif option == "tasks_max":
            result[option] = _tasks(value, where, option)
        elif option == "io_device_weight":
            result[option] = _devices(value, where, option, "weight", _weight)
        elif option in ("io_read_bandwidth_max", "io_write_bandwidth_max"):
            result[option] = _devices(value, where, option, "limit", _bandwidth)
        elif option in ("io_read_iops_max", "io_write_iops_max"):
            result[option] = _devices(value, where, option, "limit", _iops)
        elif option in ("allowed_cpus", "startup_allowed_cpus"):
            result[option] = _cpu_set(value, where, option, host.online_cpus, "online CPUs")
        else:
            result[option] = _cpu_set(value, where, option, host.numa_nodes, "NUMA nodes")
    return result


def _bandwidth(value: t.Any, where: str, field: str) -> int:
    """A per-device bandwidth limit in bytes per second, above 0."""
    size = parse_size(value)
    if not size:
        _fail(where, field, value, "bytes per second above 0, as an integer or a size such as \"10M\" (1024-based)")
    return size


def _iops(value: t.Any, where: str, field: str) -> int:
    """A per-device IO operations per second limit, above 0."""
    if isinstance(value, str) and _INT_RE.match(value.strip()):
        value = int(value)
    if not _is_int(value) or value <= 0:
        _fail(where, field, value, "a positive integer (operations per second)")
    return value


# ---------------------------------------------------------------------------------------------------------------------
# Translation for the host and rendering

def _render(kind: str, value: t.Any) -> str:
    """A canonical value as written in a unit file or passed to set-property."""
    if kind == "duration":
        return format_duration(value)
    if kind == "devices":
        return "\n".join(f"{entry['device']} {entry.get('weight', entry.get('limit'))}" for entry in value)
    if kind == "cpuset":
        return format_cpu_list(value)
    return str(value)


def cpu_weight_to_shares(weight: int) -> int:
    """systemd's cgroup_cpu_weight_to_shares(): weight x 1024 / 100, clamped to 2..262144."""
    return min(max(weight * 1024 // 100, 2), 262144)


def io_weight_to_blkio(weight: int) -> int:
    """systemd's cgroup_weight_io_to_blkio(): weight x 500 / 100, clamped to 10..1000."""
    return min(max(weight * 500 // 100, 10), 1000)


def _legacy_value(prop: _Prop, value: t.Any) -> tuple[t.Any, str]:
    """The value for a legacy property name and how it was derived."""
    if prop.legacy in ("CPUShares", "StartupCPUShares"):
        return cpu_weight_to_shares(value), "weight x 1024 / 100"
    if prop.legacy in ("BlockIOWeight", "StartupBlockIOWeight"):
        return io_weight_to_blkio(value), "weight x 500 / 100, clamped to 10..1000"
    if prop.legacy == "BlockIODeviceWeight":
        return [{"device": e["device"], "weight": io_weight_to_blkio(e["weight"])} for e in value], \
            "weight x 500 / 100, clamped to 10..1000"
    return value, "same value"


def _kernel_note(prop: _Prop, value: t.Any, host: HostLimits) -> str | None:
    """How systemd itself applies a modern property on the legacy hierarchy, when it converts the value."""
    if prop.option in ("cpu_weight", "startup_cpu_weight"):
        shares = cpu_weight_to_shares(0 if value == "idle" else value)
        return f"cgroup {host.cgroup_mode}: systemd applies {prop.name}={value} as cpu.shares={shares}"
    if prop.option in ("io_weight", "startup_io_weight"):
        return f"cgroup {host.cgroup_mode}: systemd applies {prop.name}={value} as blkio.weight={io_weight_to_blkio(value)}"
    if prop.option == "io_device_weight":
        pairs = ", ".join(f"{e['device']} {io_weight_to_blkio(e['weight'])}" for e in value)
        return f"cgroup {host.cgroup_mode}: systemd applies {prop.name} as blkio.weight_device ({pairs})"
    if prop.option in ("io_read_bandwidth_max", "io_write_bandwidth_max"):
        direction = "read" if "read" in prop.option else "write"
        return f"cgroup {host.cgroup_mode}: systemd applies {prop.name} as blkio.throttle.{direction}_bps_device"
    if prop.option == "memory_max":
        return f"cgroup {host.cgroup_mode}: systemd applies {prop.name} as memory.limit_in_bytes"
    return None


def plan_properties(limits: Mapping[str, t.Any], host: HostLimits) -> Plan:
    """Turn normalised limits into the systemd properties this host's systemd knows, reporting translations and gaps."""
    plan = Plan(host=host)
    legacy_hierarchy = host.cgroup_mode in ("v1", "hybrid")
    version = host.systemd_version
    for option in LIMIT_OPTIONS:
        if option not in limits:
            continue
        prop, value = _BY_OPTION[option], limits[option]
        name, kind = prop.name, prop.kind
        # CPUWeight=idle has no CPUShares equivalent, so it is checked before any translation.
        if option == "cpu_weight" and value == "idle" and version is not None and version < _CPU_IDLE_SINCE:
            plan.not_honoured.append({"option": option, "reason": (
                f"systemd {version} does not know CPUWeight=idle (added in {_CPU_IDLE_SINCE}); not written")})
            continue
        # 1. Does this systemd know the property (or an older name for it)?
        if version is not None and version < prop.since:
            if prop.legacy and version >= prop.legacy_since:
                value, how = _legacy_value(prop, value)
                name = prop.legacy
                plan.translated.append({"option": option, "property": name, "reason": (
                    f"systemd {version} does not know {prop.name} (added in {prop.since}); "
                    f"written as {name}={_render(kind, value).replace(chr(10), ', ')} ({how})")})
            else:
                plan.not_honoured.append({"option": option, "reason": (
                    f"systemd {version} does not know {prop.name} (added in {prop.since}) and has no older equivalent; "
                    "not written")})
                continue
        if option == "tasks_max" and isinstance(value, str) and value.endswith("%") and version is not None \
                and version < _TASKS_PERCENT_SINCE:
            plan.not_honoured.append({"option": option, "reason": (
                f"systemd {version} does not accept TasksMax as a percentage (added in {_TASKS_PERCENT_SINCE}); "
                "not written")})
            continue
        plan.properties[name] = _render(kind, value)
        plan.sources[name] = option
        # 2. Can the cgroup hierarchy enforce it? Written anyway: systemd records it and a v2 host would enforce it.
        reason = _enforcement_gap(prop, value, host)
        if reason:
            plan.not_honoured.append({"option": option, "reason": reason})
        elif legacy_hierarchy and name == prop.name:
            note = _kernel_note(prop, value, host)
            if note:
                plan.translated.append({"option": option, "property": name, "reason": note})
    return plan


def _enforcement_gap(prop: _Prop, value: t.Any, host: HostLimits) -> str | None:
    """Why the host's cgroup setup cannot enforce a property systemd knows, or None when it can."""
    mode = host.cgroup_mode
    if mode == "none":
        return "no cgroup hierarchy is mounted, so systemd records the value but nothing enforces it"
    if mode in ("v1", "hybrid"):
        if prop.v1_controller is None:
            return (f"cgroup {mode}: {prop.name} needs the unified hierarchy (cgroup v2); systemd records it but the "
                    "kernel does not enforce it here")
        controller = prop.v1_controller
    else:
        controller = prop.controller
    if controller not in host.controllers:
        note = f" ({host.controller_note})" if host.controller_note else ""
        return (f"cgroup {mode}: the {controller} controller is not available to systemd{note}; systemd records "
                f"{prop.name} but nothing enforces it")
    return None


def render_section(section: str, plan: Plan) -> str:
    """One ``[Section]`` block with the plan's properties (device lists one line per device), no header."""
    return render_unit([], {section: plan.properties})


def show_names(plan: Plan) -> list[str]:
    """The ``systemctl show`` property names to read back the plan's properties."""
    return [_BY_NAME[name][1] for name in plan.properties if name in _BY_NAME]


def all_show_names(host: HostLimits | None = None) -> list[str]:
    """Every show name a plan on this host may need (modern names, plus legacy ones for old systemd)."""
    names = [prop.show for prop in _PROPS]
    if host is None or host.systemd_version is None or host.systemd_version < 232:
        names.extend(prop.legacy for prop in _PROPS if prop.legacy)
    return names


# ---------------------------------------------------------------------------------------------------------------------
# Comparison with systemctl show

def _shown_int(text: str) -> int | None:
    """An integer from systemctl show, None for ``[not set]``, ``infinity`` or anything else."""
    text = text.strip()
    return int(text) if _INT_RE.match(text) else None


def _percent_base(kind: str, host: HostLimits | None) -> tuple[int | None, int]:
    """The base systemd scales a percentage by, and its rounding unit (a page for memory)."""
    if host is None:
        return None, 1
    if kind == "size":
        return host.memory_bytes, host.page_size
    return host.tasks_max_system, 1


def _scaled(permyriad: int, base: int, unit: int) -> int:
    """systemd's physical_memory_scale() / system_tasks_max_scale(): floor(base/unit x p / 10000) x unit."""
    return (base // unit) * permyriad // 10000 * unit


def _same_scalar(kind: str, want: str, shown: str, host: HostLimits | None) -> bool:
    """Compare one rendered scalar value with its systemctl show text."""
    shown = shown.strip()
    if kind in ("cpu_weight", "weight", "legacy_cpu_weight", "legacy_weight", "int", "legacy_int"):
        if want == "idle":
            # systemd 252 prints "idle"; older D-Bus clients print the raw CGROUP_WEIGHT_IDLE (0).
            return shown in ("idle", "0")
        return _shown_int(shown) == int(want)
    if kind == "quota":
        permyriad = parse_percent(want)
        try:
            return parse_timespan(shown) == permyriad * 100
        except ValueError:
            return False
    if kind == "duration":
        try:
            return parse_timespan(shown) == parse_duration(want)
        except ValueError:
            return False
    if kind in ("size", "tasks", "legacy_size", "legacy_tasks"):
        if want == INFINITY:
            return shown == INFINITY
        permyriad = parse_percent(want)
        shown_value = _shown_int(shown)
        if permyriad is None:
            return shown_value == int(want)
        if shown_value is None:
            return False
        base, unit = _percent_base(kind.replace("legacy_", ""), host)
        if not base:
            # Without the base the percentage cannot be checked; the unit file comparison still catches changes.
            return True
        # Half a percent of slack: systemd's base can differ (a container's memory limit, the root pids.max).
        return abs(shown_value - _scaled(permyriad, base, unit)) <= max(base // 200, unit)
    if kind == "cpuset":
        try:
            return parse_shown_cpu_set(shown) == parse_cpu_list(want)
        except ValueError:
            return False
    return shown == want


def _device_pairs(text: str) -> set[tuple[str, str]]:
    """``/dev/vda 500`` lines as a set of (device, value)."""
    pairs = set()
    for line in text.splitlines():
        device, _sep, value = line.strip().rpartition(" ")
        if device:
            pairs.add((device.strip(), value.strip()))
    return pairs


def live_differences(plan: Plan, shown: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """Properties of the plan whose ``systemctl show`` value differs (normalised): name -> (wanted, shown)."""
    differences: dict[str, tuple[str, str]] = {}
    for name, want in plan.properties.items():
        if name not in _BY_NAME:
            continue
        dummy_prop, show, kind = _BY_NAME[name]
        have = shown.get(show, "")
        if kind.endswith("devices"):
            same = _device_pairs(want) == _device_pairs(have)
        else:
            same = _same_scalar(kind, want, have, plan.host)
        if not same:
            differences[name] = (want, have)
    return differences


# Values systemctl show prints for a limit that is not set (systemd's defaults, meaning no limit).
_UNSET_SHOWN = {"", "[not set]", INFINITY}
_UNSET_BY_OPTION = {"memory_min": {"0"}, "memory_low": {"0"}}


def _shown_devices(text: str, key: str) -> list[dict[str, t.Any]] | None:
    """Device list lines from systemctl show as sorted ``{device, <key>}`` dicts (None when empty)."""
    entries = sorted(_device_pairs(text))
    if not entries:
        return None
    return [{"device": device, key: int(value) if _INT_RE.match(value) else value} for device, value in entries]


def shown_limits(shown: Mapping[str, str]) -> dict[str, t.Any]:
    """Every limit option with its value as systemctl show reports it, in the canonical forms of normalise_limits
    (percentages appear as the bytes or tasks systemd computed); None where systemd has no limit set."""
    limits: dict[str, t.Any] = {}
    for prop in _PROPS:
        text = shown.get(prop.show, "").strip()
        if text in _UNSET_SHOWN or text in _UNSET_BY_OPTION.get(prop.option, ()):
            value: t.Any = None
        elif prop.kind in ("cpu_weight", "weight"):
            value = text if text == "idle" else _shown_int(text)
        elif prop.kind in ("quota", "duration"):
            try:
                usec = parse_timespan(text)
            except ValueError:
                # A format this parser does not know: report systemd's text rather than fail an info call.
                limits[prop.option] = text
                continue
            if not usec:
                value = None
            else:
                value = format_percent(usec // 100) if prop.kind == "quota" else format_duration(usec)
        elif prop.kind in ("size", "tasks"):
            value = _shown_int(text)
        elif prop.kind == "devices":
            value = _shown_devices(text, "weight" if prop.option == "io_device_weight" else "limit")
        else:
            value = parse_shown_cpu_set(text) or None
        limits[prop.option] = value
    return limits


def shown_usage(shown: Mapping[str, str]) -> dict[str, int | None]:
    """Current memory (bytes), tasks and CPU time (ns) from systemctl show; None where accounting is off."""
    def counter(name: str) -> int | None:
        value = _shown_int(shown.get(name, ""))
        # 2^64-1 is systemd's "unknown".
        return None if value is None or value >= 2 ** 64 - 1 else value

    return {"memory_current_bytes": counter("MemoryCurrent"), "tasks_current": counter("TasksCurrent"),
            "cpu_usage_nsec": counter("CPUUsageNSec")}


USAGE_SHOW_NAMES = ("MemoryCurrent", "TasksCurrent", "CPUUsageNSec")


# ---------------------------------------------------------------------------------------------------------------------
# Host facts

def systemd_cgroup_root(proc1_cgroup_text: str, mode: str) -> str:
    """The cgroup systemd (PID 1) manages, from /proc/1/cgroup: ``/`` on a host, a sub-path in some containers."""
    wanted = "0::" if mode == "v2" else None
    path = None
    for line in proc1_cgroup_text.splitlines():
        hierarchy, _sep, rest = line.partition(":")
        controllers, _sep, cgroup = rest.partition(":")
        if wanted and line.startswith(wanted):
            path = cgroup
        elif not wanted and controllers == "name=systemd":
            path = cgroup
        elif not wanted and path is None and hierarchy == "0" and controllers == "":
            path = cgroup
    path = (path or "/").strip() or "/"
    # systemd's cg_get_root_path(): PID 1 sits in init.scope (older: system.slice or system) below the root.
    for suffix in ("/init.scope", "/system.slice", "/system"):
        if path.endswith(suffix):
            path = path[:-len(suffix)]
            break
    return path or "/"


def cgroup_fs_path(mountinfo_text: str, control_group: str) -> str | None:
    """Directory of a unit's cgroup (``ControlGroup=`` from systemctl show) in the hierarchy systemd tracks processes
    in: cgroup2 on /sys/fs/cgroup (v2), the cgroup2 mount (hybrid) or the name=systemd hierarchy (v1). None when that
    hierarchy does not show the cgroup (its mount root is elsewhere)."""
    if not control_group:
        return None
    visible: dict[str, tuple[str, str, str]] = {}
    for line in mountinfo_text.splitlines():
        fields = line.split()
        if "-" not in fields[6:]:
            continue
        dash = fields.index("-", 6)
        if len(fields) < dash + 4:
            continue
        # The last mount on a mount point hides the earlier ones there.
        visible[fields[4]] = (fields[3], fields[dash + 1], fields[dash + 3])
    candidates = [point for point, (root, fstype, opts) in visible.items() if fstype == "cgroup2"]
    candidates.sort(key=lambda point: point != CGROUP_ROOT)
    if not candidates:
        candidates = [point for point, (root, fstype, opts) in visible.items()
                      if fstype == "cgroup" and "name=systemd" in opts.split(",")]
    for point in candidates:
        root = visible[point][0].rstrip("/")
        if control_group == root or control_group.startswith(root + "/"):
            return point.rstrip("/") + control_group[len(root):]
    return None


def build_host_limits(*, version_text: str | None, mountinfo_text: str, proc_cgroups_text: str | None,
                      v2_controllers_text: str | None, proc1_cgroup_text: str | None, online_cpus_text: str | None,
                      numa_node_ids: Iterable[int], meminfo_text: str | None, threads_max_text: str | None,
                      pid_max_text: str | None, page_size: int = 4096,
                      accessible: Callable[[str], bool] | None = None) -> HostLimits:
    """Assemble HostLimits from file texts; ``accessible(path)`` says whether a v1 controller path is usable."""
    layout = parse_cgroup_layout(mountinfo_text)
    mode = layout["mode"]
    facts = cgroup_facts(layout, proc_cgroups_text, v2_controllers_text if mode == "v2" else None)
    controllers = list(facts["controllers"])
    note = ""
    if mode in ("v1", "hybrid") and accessible is not None:
        # systemd only uses a v1 controller whose hierarchy has its root cgroup (cg_mask_supported()); in a
        # container that shares the host's cgroup namespace that path is missing, and limits are not enforced.
        root = systemd_cgroup_root(proc1_cgroup_text or "", mode)
        usable = [name for name in controllers
                  if accessible(facts["v1_hierarchies"][name].rstrip("/") + (root if root != "/" else ""))]
        missing = [name for name in controllers if name not in usable]
        if missing and root != "/":
            note = (f"its root cgroup {root} is missing from the v1 controller hierarchies, as in a container "
                    "sharing the host's cgroup namespace")
        controllers = usable
    threads = _shown_int(threads_max_text or "")
    pid_max = _shown_int(pid_max_text or "")
    candidates = [TASKS_MAX_LIMIT] + ([threads] if threads else []) + ([pid_max - 1] if pid_max else [])
    total = parse_meminfo(meminfo_text or "").get("MemTotal")
    return HostLimits(
        systemd_version=parse_systemd_version(version_text or "")["version"],
        cgroup_mode=mode,
        controllers=tuple(sorted(controllers)),
        online_cpus=tuple(parse_cpu_list(online_cpus_text or "")),
        numa_nodes=tuple(sorted(numa_node_ids)) or (0,),
        memory_bytes=total // page_size * page_size if total else None,
        tasks_max_system=min(candidates),
        page_size=page_size,
        controller_note=note,
    )


def _read(path: str) -> str | None:
    """A host file's text, or None when it cannot be read."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        # Missing kernel files mean "not available here"; build_host_limits treats None as unknown.
        return None


def host_limits(module: AnsibleModule, root: str = "/", systemctl: str | None = None) -> HostLimits:
    """Read this host's limits (one ``systemctl --version`` plus /proc and /sys reads)."""
    def host_path(path: str) -> str:
        return os.path.join(root, path.lstrip("/"))

    binary = systemctl or module.get_bin_path("systemctl")
    version_text = None
    if binary:
        dummy_rc, version_text, dummy_err = module.run_command([binary, "--version"],
                                                               environ_update={"LANG": "C", "LC_ALL": "C"})
    mountinfo = _read(host_path("/proc/self/mountinfo")) or ""
    mode = parse_cgroup_layout(mountinfo)["mode"]
    proc1 = _read(host_path("/proc/1/cgroup"))
    cgroup_root = systemd_cgroup_root(proc1 or "", mode)
    v2_text = None
    if mode == "v2":
        v2_text = _read(host_path(f"{CGROUP_ROOT}{cgroup_root if cgroup_root != '/' else ''}/cgroup.controllers"))
    node_ids = []
    for node_dir in glob.glob(host_path("/sys/devices/system/node/node[0-9]*")):
        suffix = os.path.basename(node_dir)[len("node"):]
        if suffix.isdigit():
            node_ids.append(int(suffix))
    return build_host_limits(
        version_text=version_text,
        mountinfo_text=mountinfo,
        proc_cgroups_text=_read(host_path("/proc/cgroups")),
        v2_controllers_text=v2_text,
        proc1_cgroup_text=proc1,
        online_cpus_text=_read(host_path("/sys/devices/system/cpu/online")),
        numa_node_ids=node_ids,
        meminfo_text=_read(host_path("/proc/meminfo")),
        threads_max_text=_read(host_path("/proc/sys/kernel/threads-max")),
        pid_max_text=_read(host_path("/proc/sys/kernel/pid_max")),
        page_size=os.sysconf("SC_PAGE_SIZE"),
        accessible=lambda path: os.access(host_path(path), os.W_OK),
    )
