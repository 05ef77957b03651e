# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Private to the collection: not a public API and may change without notice.

"""Placing units in slices and running commands in transient scopes: drop-in paths and content, where a running
unit really is, when a move needs a restart, the ``systemd-run --scope`` command line and how its end is read.

Pure: text and data in, data out. The modules unit_resources and scope do the I/O."""

from __future__ import annotations

import os
import re
import typing as t

from ansible_collections.containerhost.platform.plugins.module_utils._systemctl import LIST_PROPERTIES
from ansible_collections.containerhost.platform.plugins.module_utils._unit_files import (
    ROOT_SLICE,
    UnitNameError,
    managed_header,
    render_unit,
    validate_unit_name,
)

if t.TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

MODULE_NAME = "unit_resources"

# Our drop-in. systemd applies drop-ins in file name order across all directories, and "50-c..." sorts after the
# "50-<Property>.conf" files `systemctl set-property` writes (upper-case property names sort before "c"), so after a
# daemon-reload the declared values win over earlier runtime changes (seen on systemd 252).
DROPIN_NAME = "50-containerhost-resources.conf"

# Unit types that own a cgroup and accept Slice= and resource control settings, with their unit file section.
SECTIONS = {"service": "Service", "socket": "Socket", "mount": "Mount", "swap": "Swap", "scope": "Scope"}
PLACEABLE_TYPES = tuple(SECTIONS)

ACTIVE_STATES = ("active", "activating", "reloading", "deactivating", "refreshing")

# First stderr line of `systemd-run --scope` (without --quiet), printed just before it executes the command.
_SCOPE_NOTICE_RE = re.compile(r"^Running scope as unit:? (?P<unit>\S+?)\.?$")

# systemd's Result= when the kernel's OOM killer acted inside the unit (cgroup v2 memory.events).
OOM_RESULT = "oom-kill"

_SIGKILL = 9


class PlacementError(ValueError):
    """A unit entry that cannot be used; the message names the entry, the field and what is accepted."""


def validate_placeable(name: t.Any, where: str) -> str:
    """The unit name (``.service`` appended when it has no suffix) if its type can be placed, else PlacementError."""
    accepted = ", ".join(f".{suffix}" for suffix in PLACEABLE_TYPES)
    if isinstance(name, str) and name.endswith(".slice"):
        raise PlacementError(f"{where}: name: {name!r} is a slice; a slice's place and limits come from its name and "
                             "unit file, so declare it with containerhost.platform.slice; accepted here: " + accepted)
    try:
        return validate_unit_name(name, PLACEABLE_TYPES)
    except UnitNameError as exc:
        raise PlacementError(f"{where}: name: {exc}") from None


def validate_slice(name: t.Any, where: str) -> str:
    """A slice name to place a unit in (``.slice`` appended when missing), or PlacementError."""
    try:
        return validate_unit_name(name, "slice")
    except UnitNameError as exc:
        raise PlacementError(f"{where}: slice: {exc}") from None


def unit_type(name: str) -> str:
    """``nginx.service`` -> ``service``."""
    return name.rpartition(".")[2]


def unit_section(name: str) -> str:
    """The unit file section that holds Slice= and resource settings for this unit's type."""
    return SECTIONS[unit_type(name)]


def is_template(name: str) -> bool:
    """Whether the name is a template (``foo@.service``), which has no running instance of its own."""
    return name.rpartition(".")[0].endswith("@")


def dropin_path(unit_dir: str, name: str) -> str:
    """Where the unit's drop-in lives: ``<unit_dir>/<name>.d/50-containerhost-resources.conf``."""
    return os.path.join(unit_dir, f"{name}.d", DROPIN_NAME)


def render_dropin(name: str, slice_name: str | None, properties: Mapping[str, str]) -> str:
    """The drop-in text: header with the fingerprint, then ``[<Section>]`` with Slice= first and the properties."""
    assignments = {"Slice": slice_name} if slice_name else {}
    assignments.update(properties)
    return render_unit(managed_header(MODULE_NAME), {unit_section(name): assignments})


def parse_dropin(text: str | None) -> dict[str, str]:
    """Assignments of a unit file or drop-in, all sections together: the last value of a key wins, except that
    list properties (several lines) are joined with newlines and an empty assignment resets them."""
    values: dict[str, str] = {}
    for raw in (text or "").splitlines():
        line = raw.strip()
        if not line or line[0] in "#;[":
            continue
        key, sep, value = line.partition("=")
        if not sep:
            continue
        key, value = key.strip(), value.strip()
        if key in LIST_PROPERTIES and value and values.get(key):
            # Each line adds a device; an empty assignment (below) starts the list again.
            values[key] = f"{values[key]}\n{value}"
        else:
            values[key] = value
    return values


def running_slice(control_group: str | None) -> str | None:
    """The slice a running unit's processes are in, from ``ControlGroup=`` (its parent directory); None when the
    unit has no cgroup (inactive, or a mount whose helper ended). A prefix outside systemd's tree (a container's
    own cgroup) is not a slice: a unit directly below it is in ``-.slice``."""
    if not control_group:
        return None
    parts = [part for part in control_group.split("/") if part]
    if len(parts) < 2 or not parts[-2].endswith(".slice"):
        return ROOT_SLICE
    return parts[-2]


def is_active(shown: Mapping[str, str]) -> bool:
    """Whether systemctl show says the unit runs (or is starting, reloading or stopping)."""
    return shown.get("ActiveState") in ACTIVE_STATES


def restart_required(shown: Mapping[str, str], wanted_slice: str | None) -> bool:
    """Whether the unit runs in another slice than ``wanted_slice``: systemd only moves a unit when it starts."""
    if not wanted_slice or not is_active(shown):
        return False
    current = running_slice(shown.get("ControlGroup"))
    return current is not None and current != wanted_slice


def default_slice(name: str) -> str:
    """The slice systemd's system manager gives a unit that sets no Slice=: ``system-<prefix>.slice`` for a template
    instance (dashes in the prefix escaped as in systemd-escape), ``system.slice`` otherwise."""
    stem = name.rpartition(".")[0]
    if "@" in stem:
        prefix = stem.partition("@")[0]
        return "system-" + prefix.replace("\\", "\\x5c").replace("-", "\\x2d") + ".slice"
    return "system.slice"


def slice_without_ours(name: str, other_texts: Sequence[str | None]) -> str:
    """The Slice= a unit has once our drop-in is gone: the last one in its unit file and the other drop-ins (given in
    the order systemd applies them), else systemd's default."""
    found = None
    for text in other_texts:
        value = parse_dropin(text).get("Slice")
        if value is not None:
            # An empty assignment resets to the default.
            found = value or None
    return found or default_slice(name)


# cgroup v2 controller behind each family of resource control properties (systemd.resource-control(5)).
_CONTROLLER_PREFIXES = (("StartupCPU", "cpu"), ("CPU", "cpu"), ("Memory", "memory"), ("Tasks", "pids"),
                        ("StartupIO", "io"), ("IO", "io"), ("StartupAllowed", "cpuset"), ("Allowed", "cpuset"))


def controller_for(property_name: str) -> str | None:
    """The cgroup v2 controller a property needs (CPUQuota -> cpu, AllowedCPUs -> cpuset), None if it needs none."""
    for prefix, controller in _CONTROLLER_PREFIXES:
        if property_name.startswith(prefix):
            return controller
    return None


def pending_until_restart(properties: Sequence[str], enabled: Sequence[str]) -> dict[str, str]:
    """Properties whose controller is not enabled in the cgroup a unit runs in, as property -> controller.

    When a unit's Slice= changed but it still runs in the old slice, a daemon-reload applies new values only for
    controllers already enabled there; systemd enables missing ones along the new slice (seen on systemd 252,
    cgroup v2), so these limits wait for the restart."""
    pending = {}
    for name in properties:
        controller = controller_for(name)
        if controller and controller not in enabled:
            pending[name] = controller
    return pending


def foreign_dropins(dropin_paths: str, ours: str) -> list[str]:
    """Drop-ins applied after ours (DropInPaths is in the order systemd applies them), which override our values."""
    paths = dropin_paths.split()
    if ours not in paths:
        return []
    return paths[paths.index(ours) + 1:]


def runtime_conflicts(properties: Sequence[str], dropin_text: str | None) -> list[str]:
    """Properties a runtime change sets that our persistent drop-in also sets: that drop-in sorts after the runtime
    ones, so the next daemon-reload puts its values back."""
    persistent = parse_dropin(dropin_text)
    return [name for name in properties if name in persistent]


# ---------------------------------------------------------------------------------------------------------------------
# Transient scopes

def generated_scope_name(token: str) -> str:
    """A scope name for a run that did not name one: ``containerhost-<token>.scope``."""
    return f"containerhost-{token}.scope"


def scope_argv(systemd_run: str, scope: str, slice_name: str | None, description: str | None,
               properties: Mapping[str, str], command: Sequence[str]) -> list[str]:
    """``systemd-run --scope --unit=<scope> [--slice=] [--description=] -p Key=Value... -- <command>``.

    A property holding several lines (one device per line) becomes one ``-p`` per line."""
    argv = [systemd_run, "--scope", f"--unit={scope}"]
    if slice_name:
        argv.append(f"--slice={slice_name}")
    if description:
        argv.append(f"--description={description}")
    for key, value in properties.items():
        for part in str(value).split("\n"):
            argv.extend(["-p", f"{key}={part}"])
    argv.append("--")
    argv.extend(command)
    return argv


def split_scope_notice(stderr: str) -> tuple[str | None, str]:
    """Take systemd-run's ``Running scope as unit: X.scope`` line off the command's stderr: (unit or None, rest).

    No such line means systemd-run failed before it ran the command."""
    first, newline, rest = stderr.partition("\n")
    match = _SCOPE_NOTICE_RE.match(first.strip())
    if match:
        return match.group("unit"), rest
    return None, stderr


def scope_outcome(rc: int, shown: Mapping[str, str]) -> dict[str, t.Any]:
    """How a scope ended, from the command's exit status and systemctl show (LoadState, ActiveState, Result).

    A scope that ended cleanly is garbage-collected at once (LoadState=not-found); a failed one stays loaded with
    its Result until reset-failed. A negative rc is the signal that killed the command."""
    load_state = shown.get("LoadState", "")
    result = shown.get("Result") or None
    if load_state == "not-found" or not load_state:
        # Collected: systemd saw nothing fail (a failed scope would still be loaded).
        result = "success"
    active_state = shown.get("ActiveState") or None
    signal = -rc if rc < 0 else None
    if signal is None and rc in (128 + _SIGKILL,):
        # A shell in between reports a signal death as 128 + signal.
        signal = _SIGKILL
    return {
        "result": result,
        "active_state": active_state if load_state not in ("not-found", "") else "inactive",
        "oom_killed": result == OOM_RESULT,
        "signal": signal,
        "needs_reset": load_state == "loaded" and active_state == "failed",
    }


def scope_failure_message(scope: str, outcome: Mapping[str, t.Any], rc: int, capped: Sequence[str]) -> str:
    """The task's failure message for a command that did not exit with 0."""
    if outcome.get("oom_killed"):
        limits = f" ({', '.join(capped)})" if capped else ""
        return (f"{scope}: the kernel's OOM killer stopped the command because the scope reached its memory "
                f"limit{limits}; systemd Result=oom-kill")
    if outcome.get("signal"):
        return f"{scope}: the command was killed by signal {outcome['signal']}"
    return f"{scope}: non-zero return code {rc}"
