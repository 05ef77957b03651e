# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Private to the collection: not a public API and may change without notice.

"""systemd unit names and unit files: validation, rendering, atomic writes and the ownership fingerprint."""

from __future__ import annotations

import errno
import os
import re
import tempfile
import typing as t

if t.TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from ansible.module_utils.basic import AnsibleModule

# systemd's UNIT_NAME_MAX is 256 including the terminating NUL.
UNIT_NAME_MAX = 255

# Every unit type systemd knows (unit_type_from_string); anything else after the last dot is refused.
UNIT_TYPES = ("service", "socket", "target", "device", "mount", "automount", "swap", "timer", "path", "slice", "scope")

# Unit types that may be templates ("foo@.service", "foo@bar.service"); slices and scopes may not.
_TEMPLATE_TYPES = frozenset(("service", "socket", "target", "mount", "automount", "swap", "timer", "path"))

# The characters unit_name_is_valid() accepts in the name before the type suffix (VALID_CHARS plus "@").
_NAME_CHARS_RE = re.compile(r"^[A-Za-z0-9:_.\\-]+$")

# First line of every generated file and the ownership fingerprint that tests and removal look for.
MANAGED_PREFIX = "Ansible managed: containerhost.platform."
FINGERPRINT_PREFIX = "containerhost.platform:"

ROOT_SLICE = "-.slice"


class UnitNameError(ValueError):
    """A unit name systemd would refuse (or of the wrong type); the message says why and what is accepted."""


def validate_unit_name(name: t.Any, suffix: str | Sequence[str] | None = None) -> str:
    """Return ``name`` (with ``.<suffix>`` appended when it has none) or raise UnitNameError as systemd would."""
    allowed = (suffix,) if isinstance(suffix, str) else tuple(suffix or UNIT_TYPES)
    accepted = " or ".join(f".{s}" for s in allowed)
    if not isinstance(name, str) or not name:
        raise UnitNameError(f"unit name {name!r} is not valid: expected a non-empty string ending in {accepted}")
    stem, dot, unit_type = name.rpartition(".")
    if dot and not unit_type:
        raise UnitNameError(f"unit name {name!r} ends with a dot; expected a name ending in {accepted}")
    if not dot or unit_type not in UNIT_TYPES:
        if dot and stem:
            raise UnitNameError(f"unit name {name!r} has the unknown unit suffix .{unit_type}; accepted: {accepted}")
        # No suffix at all: systemd's own tools append the default type, and so do we.
        stem, unit_type = name, allowed[0]
        name = f"{stem}.{unit_type}"
    if unit_type not in allowed:
        raise UnitNameError(f"unit name {name!r} has the suffix .{unit_type}; accepted here: {accepted}")
    if len(name) > UNIT_NAME_MAX:
        raise UnitNameError(f"unit name {name[:40]!r}... is {len(name)} characters long; systemd allows at most {UNIT_NAME_MAX}")
    if not stem:
        raise UnitNameError(f"unit name {name!r} has nothing before .{unit_type}")
    if not _NAME_CHARS_RE.match(stem.replace("@", "")):
        bad = sorted({c for c in stem.replace("@", "") if not _NAME_CHARS_RE.match(c)})
        raise UnitNameError(f"unit name {name!r} contains {''.join(bad)!r}; allowed are letters, digits and : _ . \\ -"
                            + (" and one @ (templates)" if unit_type in _TEMPLATE_TYPES else ""))
    if "\\" in stem and not re.fullmatch(r"(?:[^\\]|\\x[0-9a-fA-F]{2})*", stem):
        raise UnitNameError(f"unit name {name!r}: a backslash must start an escape such as \\x2d (systemd-escape)")
    if "@" in stem:
        prefix, _at, instance = stem.partition("@")
        if unit_type not in _TEMPLATE_TYPES:
            raise UnitNameError(f"unit name {name!r}: .{unit_type} units cannot be templates, so '@' is not allowed")
        if not prefix or "@" in instance:
            raise UnitNameError(f"unit name {name!r}: a template name is <prefix>@<instance>.{unit_type} with one '@'")
    if unit_type == "slice":
        _validate_slice_stem(name, stem)
    return name


def _validate_slice_stem(name: str, stem: str) -> None:
    """Apply slice_name_is_valid(): dashes separate nesting levels, so none may lead, trail or repeat."""
    if name == ROOT_SLICE:
        raise UnitNameError(f"slice {name!r} is the root slice, which systemd manages itself")
    if stem.startswith("-") or stem.endswith("-") or "--" in stem:
        raise UnitNameError(f"slice name {name!r}: a dash separates nesting levels (tenant-a.slice is under tenant.slice), "
                            "so it may not lead, trail or be doubled")


def slice_parents(name: str) -> list[str]:
    """Parent slices of a slice, outermost first: ``a-b-c.slice`` -> ``["a.slice", "a-b.slice"]``."""
    stem = name[:-len(".slice")] if name.endswith(".slice") else name
    if stem in ("", "-"):
        return []
    parts = stem.split("-")
    return ["-".join(parts[:i]) + ".slice" for i in range(1, len(parts))]


def slice_parent(name: str) -> str:
    """The slice directly above a slice (``-.slice`` for a top-level one)."""
    parents = slice_parents(name)
    return parents[-1] if parents else ROOT_SLICE


def slice_cgroup_path(name: str) -> str:
    """Relative cgroup path systemd uses for a slice: ``a-b.slice`` -> ``a.slice/a-b.slice``."""
    return "/".join([*slice_parents(name), name])


def managed_header(module_name: str) -> list[str]:
    """Header comment lines (without ``#``) marking a file as generated by one of the collection's modules."""
    return [f"{MANAGED_PREFIX}{module_name}", "Changes are overwritten by the next run; change the playbook instead.",
            f"{FINGERPRINT_PREFIX}{module_name}"]


def has_fingerprint(text: str | None, module_name: str) -> bool:
    """Whether a file's text carries the ownership fingerprint of ``module_name``."""
    wanted = f"# {FINGERPRINT_PREFIX}{module_name}"
    return text is not None and any(line.strip() == wanted for line in text.splitlines())


def escape_value(value: str) -> str:
    """Escape a free-text unit file value (``%`` specifiers); refuse characters a unit file cannot hold."""
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError(f"{value!r} contains a control character (such as a newline), which a unit file cannot hold")
    if value.rstrip().endswith("\\"):
        raise ValueError(f"{value!r} ends with a backslash, which would continue the line in a unit file")
    return value.strip().replace("%", "%%")


def render_assignments(assignments: Mapping[str, str]) -> list[str]:
    """``Key=Value`` lines; a value holding several lines becomes one assignment per line, in order."""
    lines = []
    for key, value in assignments.items():
        for part in str(value).split("\n"):
            lines.append(f"{key}={part}")
    return lines


def render_unit(header_lines: Sequence[str], sections: Mapping[str, Mapping[str, str]]) -> str:
    """A complete unit file or drop-in: ``# header`` comment lines, then each non-empty ``[Section]``."""
    out = [f"# {line}" if line else "#" for line in header_lines]
    for section, assignments in sections.items():
        if not assignments:
            continue
        if out:
            out.append("")
        out.append(f"[{section}]")
        out.extend(render_assignments(assignments))
    return "\n".join(out) + "\n"


def read_text_or_none(path: str) -> str | None:
    """A file's text, or None when it does not exist."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def atomic_write(module: AnsibleModule, path: str, content: str, mode: int = 0o644) -> None:
    """Write ``content`` to ``path`` through a temporary file in the same directory and module.atomic_move."""
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        os.makedirs(directory, mode=0o755)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        if os.geteuid() == 0:
            os.chown(tmp, 0, 0)
    except OSError:
        os.unlink(tmp)
        raise
    # atomic_move copies the old file's mode and owner when it replaces one: set ours again afterwards.
    module.atomic_move(tmp, path)
    os.chmod(path, mode)
    if os.geteuid() == 0:
        os.chown(path, 0, 0)


def remove_file(path: str) -> bool:
    """Delete a file; True when it existed."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True


def remove_empty_dir(path: str) -> bool:
    """Delete a directory if it exists and is empty; True when it was removed."""
    try:
        os.rmdir(path)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR):
            return False
        raise
    return True
