# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Private to the collection: not a public API and may change without notice.

"""The one wrapper around ``systemctl``: every call is an argv list, and output parsing is pure and unit-tested."""

from __future__ import annotations

import typing as t

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from ansible.module_utils.basic import AnsibleModule

# Fixed, parseable output whatever the host's locale and terminal.
_ENVIRON = {"LANG": "C", "LC_ALL": "C", "LC_MESSAGES": "C", "SYSTEMD_COLORS": "0", "SYSTEMD_PAGER": "", "PAGER": "cat"}


# Properties holding a list (one assignment per device) where an empty assignment resets the list.
LIST_PROPERTIES = frozenset((
    "IODeviceWeight", "IOReadBandwidthMax", "IOWriteBandwidthMax", "IOReadIOPSMax", "IOWriteIOPSMax",
    "IODeviceLatencyTargetSec", "BlockIODeviceWeight", "BlockIOReadBandwidth", "BlockIOWriteBandwidth",
))


class SystemctlError(Exception):
    """A systemctl call failed; carries the argv, exit status and output for the task result."""

    def __init__(self, argv: Sequence[str], rc: int, stdout: str, stderr: str) -> None:
        self.argv = list(argv)
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        detail = (stderr or stdout).strip() or "no output"
        super().__init__(f"{' '.join(self.argv)} failed (exit status {rc}): {detail}")

    def result(self) -> dict[str, t.Any]:
        """The failure as keyword arguments for fail_json (cmd, rc, stdout, stderr)."""
        return {"cmd": self.argv, "rc": self.rc, "stdout": self.stdout, "stderr": self.stderr}


def parse_show(text: str, units: Sequence[str]) -> dict[str, dict[str, str]]:
    """Split ``systemctl show`` output for several units (blocks separated by blank lines) into one dict per unit.

    A property printed several times (``IODeviceWeight=``, one line per device) is joined with newlines.
    Blocks are matched to units by their ``Id=`` line when present, otherwise by position.
    """
    blocks: list[dict[str, str]] = []
    current: dict[str, str] | None = None
    for line in text.splitlines():
        if not line.strip():
            current = None
            continue
        key, sep, value = line.partition("=")
        if not sep:
            continue
        if current is None:
            current = {}
            blocks.append(current)
        current[key] = f"{current[key]}\n{value}" if key in current else value
    result: dict[str, dict[str, str]] = {}
    wanted = set(units)
    for position, block in enumerate(blocks):
        unit = block.get("Id")
        if unit not in wanted or unit in result:
            # Id can name the unit an alias points to; fall back to the order systemctl prints in.
            unit = units[position] if position < len(units) else None
        if unit is not None:
            result[unit] = block
    for unit in units:
        result.setdefault(unit, {})
    return result


def parse_is_active(text: str, units: Sequence[str]) -> dict[str, str]:
    """Map each unit to the state ``systemctl is-active`` printed for it, in order (``unknown`` when missing)."""
    states = [line.strip() for line in text.splitlines() if line.strip()]
    return {unit: states[i] if i < len(states) else "unknown" for i, unit in enumerate(units)}


def parse_unit_list(text: str) -> list[str]:
    """Unit names from ``list-units``/``list-unit-files --plain --no-legend`` (first column; a failure mark is skipped)."""
    names = []
    for line in text.splitlines():
        fields = line.replace("\u25cf", " ").split()
        if fields and "." in fields[0]:
            names.append(fields[0])
    return names


def parse_unit_states(text: str) -> dict[str, dict[str, str]]:
    """``list-units --plain --no-legend`` lines as unit -> {load, active, sub} (a failure mark is skipped)."""
    states = {}
    for line in text.splitlines():
        fields = line.replace("\u25cf", " ").split()
        if len(fields) >= 4 and "." in fields[0]:
            states[fields[0]] = {"load": fields[1], "active": fields[2], "sub": fields[3]}
    return states


def assignment_args(assignments: Mapping[str, str] | Iterable[tuple[str, str]]) -> list[str]:
    """``Key=Value`` arguments for set-property; a list property is reset first, then set one line per entry."""
    items = assignments.items() if hasattr(assignments, "items") else assignments
    args = []
    for key, value in items:
        parts = str(value).split("\n")
        if key in LIST_PROPERTIES:
            # Each assignment of a device list adds to what the unit has; the empty one first makes it exactly ours.
            args.append(f"{key}=")
            args.extend(f"{key}={part}" for part in parts if part)
        else:
            args.extend(f"{key}={part}" for part in parts)
    return args


class Systemctl:
    """Runs systemctl for a module; methods raise SystemctlError when systemctl fails."""

    def __init__(self, module: AnsibleModule, binary: str = "systemctl") -> None:
        self.module = module
        self.binary = binary if "/" in binary else module.get_bin_path(binary, required=True)

    def run(self, args: Sequence[str], check: bool = True) -> tuple[int, str, str]:
        """Run ``systemctl <args>``; with check, a non-zero exit raises SystemctlError."""
        argv = [self.binary, *args]
        rc, out, err = self.module.run_command(argv, environ_update=_ENVIRON)
        if check and rc != 0:
            raise SystemctlError(argv, rc, out, err)
        return rc, out, err

    def show(self, units: Sequence[str], properties: Sequence[str]) -> dict[str, dict[str, str]]:
        """Read ``properties`` of every unit with ONE ``systemctl show`` call; ``Id`` is always read too."""
        units = list(units)
        if not units:
            return {}
        props = ",".join(dict.fromkeys(["Id", *properties]))
        dummy_rc, out, dummy_err = self.run(["show", f"--property={props}", "--", *units])
        return parse_show(out, units)

    def daemon_reload(self) -> None:
        """Make systemd re-read unit files (and, on systemd >= 252 at least, re-apply cgroup attributes)."""
        self.run(["daemon-reload"])

    def set_property(self, unit: str, assignments: Mapping[str, str] | Iterable[tuple[str, str]],
                     runtime: bool = True) -> None:
        """Change properties of a loaded unit now; ``runtime`` keeps the change in /run (lost at reboot)."""
        args = assignment_args(assignments)
        if args:
            self.run(["set-property", *(["--runtime"] if runtime else []), "--", unit, *args])

    def start(self, units: Sequence[str]) -> None:
        """Start units (one call)."""
        if units:
            self.run(["start", "--", *units])

    def stop(self, units: Sequence[str]) -> None:
        """Stop units (one call)."""
        if units:
            self.run(["stop", "--", *units])

    def restart(self, units: Sequence[str]) -> None:
        """Restart units (one call)."""
        if units:
            self.run(["restart", "--", *units])

    def is_active(self, units: Sequence[str]) -> dict[str, str]:
        """State of each unit (``active``, ``inactive``, ``failed``...) from one ``systemctl is-active`` call."""
        units = list(units)
        if not units:
            return {}
        # is-active exits non-zero when any unit is not active: the printed states are the answer.
        dummy_rc, out, dummy_err = self.run(["is-active", "--", *units], check=False)
        return parse_is_active(out, units)

    def list_units(self, unit_type: str) -> list[str]:
        """Names of every loaded unit of a type, active or not (one ``list-units --all`` call)."""
        return list(self.unit_states(unit_type))

    def unit_states(self, unit_type: str) -> dict[str, dict[str, str]]:
        """Load, active and sub state of every loaded unit of a type, from one ``list-units --all`` call.

        Much cheaper than ``show`` for many units: one D-Bus call, and units that are not loaded stay unloaded
        (``show`` loads each unit file and reads every property, several milliseconds per unit).
        """
        out = self.run(["list-units", f"--type={unit_type}", "--all", "--plain", "--no-legend", "--no-pager"])[1]
        return parse_unit_states(out)

    def list_unit_files(self, unit_type: str) -> list[str]:
        """Names of every unit file of a type, loaded or not (one ``list-unit-files`` call)."""
        out = self.run(["list-unit-files", f"--type={unit_type}", "--plain", "--no-legend", "--no-pager"])[1]
        return parse_unit_list(out)

    def version(self) -> str:
        """Output of ``systemctl --version``."""
        return self.run(["--version"])[1]
