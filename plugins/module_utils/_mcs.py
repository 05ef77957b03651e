# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Private to the collection: not a public API and may change without notice.

"""SELinux MCS labels for containers: parsing, the labels running things hold, and a locked allocation record.

A label here is an MLS level with exactly two categories, ``s0:c3,c17``. ``McsAllocator`` hands each name a pair
from a range, keeps what it handed out in a JSON file on the host (read and written under an exclusive lock), and
never gives a pair to two names, to a static assignment of another name, or (for new allocations) to something
already running with it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import math
import os
import re
import tempfile
import time
import typing as t

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping, Sequence

Pair = t.Tuple[int, int]

STATE_VERSION = 1
# The categories every SELinux policy used for containers defines (c0..c1023).
CATEGORY_MAX = 1023
NAME_MAX = 255
LOCK_TIMEOUT = 60.0
SELINUX_ENFORCE = "/sys/fs/selinux/enforce"

_LEVEL_RE = re.compile(r"^s\d{1,4}$")
# "s0:c3,c17"; the kernel prints two adjacent categories as a range, "s0:c3.c4".
_LABEL_RE = re.compile(r"^(s\d{1,4}):c(\d{1,4})([,.])c(\d{1,4})$")
_SECURITY_OPT_LEVEL = "label=level:"


class McsError(ValueError):
    """Bad input or an impossible allocation; the message starts with the field it is about."""


class McsStateError(McsError):
    """The allocation file cannot be read, locked or written."""


# ---------------------------------------------------------------------------------------------------------------------
# labels

def parse_label(text: t.Any) -> tuple[str, int, int]:
    """``(level, low, high)`` from ``s0:c3,c17`` or a whole context ``user:role:type:s0:c3,c17``.

    Raises ValueError unless the level has exactly two different categories in 0..1023.
    """
    if not isinstance(text, str):
        raise ValueError(f"{text!r} is not an MCS label: expected a string such as s0:c3,c17")
    cleaned = text.strip().rstrip("\x00").strip()
    level = cleaned
    if not cleaned.startswith("s") or cleaned.count(":") > 1:
        # A full context: user:role:type:level, where the level holds the last colon(s).
        parts = cleaned.split(":", 3)
        if len(parts) != 4:
            raise ValueError(f"{text!r} is not an MCS label: expected sN:cX,cY (such as s0:c3,c17) or a context "
                             "user:role:type:sN:cX,cY")
        level = parts[3]
    match = _LABEL_RE.match(level)
    if not match:
        raise ValueError(f"{text!r} is not an MCS label with two categories: expected sN:cX,cY such as s0:c3,c17")
    sensitivity, first, separator, second = match.group(1), int(match.group(2)), match.group(3), int(match.group(4))
    low, high = sorted((first, second))
    if separator == "." and (first != low or high != low + 1):
        # c3.c7 is the range c3..c7: more than two categories.
        raise ValueError(f"{text!r} names the category range c{first}..c{second}, not a pair of two categories")
    if low == high:
        raise ValueError(f"{text!r} repeats category c{low}: a label needs two different categories")
    if high > CATEGORY_MAX:
        raise ValueError(f"{text!r}: category c{high} is outside c0..c{CATEGORY_MAX}")
    return sensitivity, low, high


def format_label(level: str, first: int, second: int) -> str:
    """``s0:cA,cB`` with A < B."""
    low, high = sorted((int(first), int(second)))
    if low == high or low < 0 or high > CATEGORY_MAX:
        raise ValueError(f"categories c{first} and c{second}: need two different categories in 0..{CATEGORY_MAX}")
    return f"{level}:c{low},c{high}"


def label_pair(text: t.Any) -> Pair | None:
    """The category pair of a label or context, or None when it holds no two-category level."""
    try:
        dummy_level, low, high = parse_label(text)
    except ValueError:
        return None
    return low, high


def validate_name(name: t.Any, where: str = "name") -> str:
    """A name allocations are recorded under: non-empty, at most 255 characters, no whitespace or control chars."""
    if not isinstance(name, str) or not name:
        raise McsError(f"{where}: {name!r} is not a valid name: expected a non-empty string")
    if len(name) > NAME_MAX:
        raise McsError(f"{where}: {name[:40]!r}... is {len(name)} characters long; at most {NAME_MAX} are accepted")
    if any(char.isspace() or ord(char) < 32 or ord(char) == 127 for char in name):
        raise McsError(f"{where}: {name!r} contains whitespace or control characters, which names may not")
    return name


# ---------------------------------------------------------------------------------------------------------------------
# what the host runs with

def _read_text(path: str) -> str | None:
    """A file's text, or None when it is gone or unreadable (processes exit while we look)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except (OSError, ValueError):
        return None


def selinux_state(enforce_path: str = SELINUX_ENFORCE) -> str:
    """``disabled`` (no selinuxfs), ``permissive`` (enforce is 0) or ``enforcing`` (enforce is 1)."""
    text = _read_text(enforce_path)
    if text is None:
        return "disabled"
    return "enforcing" if text.strip() == "1" else "permissive"


def oci_config_pairs(config: Mapping[str, t.Any]) -> set[Pair]:
    """Pairs in an OCI runtime config: ``process.selinuxLabel`` and ``linux.mountLabel``."""
    pairs: set[Pair] = set()
    process = config.get("process") if isinstance(config.get("process"), dict) else {}
    linux = config.get("linux") if isinstance(config.get("linux"), dict) else {}
    for text in (process.get("selinuxLabel"), linux.get("mountLabel")):
        pair = label_pair(text) if text else None
        if pair:
            pairs.add(pair)
    return pairs


def labels_in_use(proc_root: str | None = "/proc", extra_paths: Iterable[str] = ()) -> set[Pair]:
    """Pairs held by running processes (``<proc_root>/<pid>/attr/current``) and by OCI configs in ``extra_paths``.

    ``extra_paths`` are ``config.json`` files or bundle directories holding one. Vanished processes and unreadable
    or malformed files are skipped. ``proc_root=None`` skips the processes (SELinux disabled: they carry no label).
    """
    pairs: set[Pair] = set()
    if proc_root:
        try:
            entries = os.listdir(proc_root)
        except OSError:
            entries = []
        for entry in entries:
            if not entry.isdigit():
                continue
            pair = label_pair(_read_text(os.path.join(proc_root, entry, "attr", "current")))
            if pair:
                pairs.add(pair)
    for path in extra_paths:
        if os.path.isdir(path):
            path = os.path.join(path, "config.json")
        text = _read_text(path)
        try:
            config = json.loads(text) if text else None
        except ValueError:
            continue
        if isinstance(config, dict):
            pairs |= oci_config_pairs(config)
    return pairs


def parse_podman_ps(text: str) -> list[str]:
    """Container IDs from ``podman ps --all --format json`` (an empty list for no containers)."""
    text = (text or "").strip()
    if not text:
        return []
    data = json.loads(text)
    if data is None:
        return []
    if not isinstance(data, list):
        raise ValueError("podman ps did not print a JSON array")
    return [str(entry["Id"]) for entry in data if isinstance(entry, dict) and entry.get("Id")]


def parse_podman_inspect(text: str) -> set[Pair]:
    """Pairs of the containers in ``podman container inspect`` output.

    ``ProcessLabel`` and ``MountLabel`` hold them when SELinux is on; a level asked for with
    ``--security-opt label=level:...`` is also in ``HostConfig.SecurityOpt``, where podman keeps it with SELinux off.
    """
    text = (text or "").strip()
    if not text:
        return set()
    data = json.loads(text)
    if not isinstance(data, list):
        raise ValueError("podman container inspect did not print a JSON array")
    pairs: set[Pair] = set()
    for container in data:
        if not isinstance(container, dict):
            continue
        host_config = container.get("HostConfig") if isinstance(container.get("HostConfig"), dict) else {}
        options = [option[len(_SECURITY_OPT_LEVEL):] for option in host_config.get("SecurityOpt") or []
                   if isinstance(option, str) and option.startswith(_SECURITY_OPT_LEVEL)]
        for label in (container.get("ProcessLabel"), container.get("MountLabel"), *options):
            pair = label_pair(label) if label else None
            if pair:
                pairs.add(pair)
    return pairs


# ---------------------------------------------------------------------------------------------------------------------
# allocation

class Plan:
    """What one allocation run decides: labels for the present names, the record before and after."""

    def __init__(self, labels: dict[str, str], before: dict[str, str], after: dict[str, str],
                 allocated: list[str], moved: dict[str, str], released: list[str]) -> None:
        self.labels = labels
        self.before = before
        self.after = after
        # Names that get a label they did not have (new, or replacing an invalid one: see moved).
        self.allocated = allocated
        # Name -> why its recorded label was replaced.
        self.moved = moved
        self.released = released

    @property
    def changed(self) -> bool:
        """Whether the record changes."""
        return self.before != self.after

    def diff(self) -> dict[str, dict[str, str]]:
        """The changed names only: their labels before and after (a missing name has no label on that side)."""
        names = sorted(name for name in set(self.before) | set(self.after)
                       if self.before.get(name) != self.after.get(name))
        return {"before": {name: self.before[name] for name in names if name in self.before},
                "after": {name: self.after[name] for name in names if name in self.after}}


def _unique(names: Iterable[str], where: str) -> list[str]:
    """Names validated, duplicates dropped, order kept."""
    checked = [validate_name(name, f"{where}[{index}]") for index, name in enumerate(names)]
    return list(dict.fromkeys(checked))


class McsAllocator:
    """Allocates category pairs per name from a range and keeps them in a JSON file under an exclusive lock."""

    def __init__(self, state_path: str, level: str = "s0", category_min: int = 0, category_max: int = CATEGORY_MAX,
                 static: Mapping[str, str] | None = None) -> None:
        if not isinstance(level, str) or not _LEVEL_RE.match(level):
            raise McsError(f"level: {level!r} is not a sensitivity: expected s followed by a number, such as s0")
        if not (isinstance(category_min, int) and isinstance(category_max, int)
                and 0 <= category_min < category_max <= CATEGORY_MAX):
            raise McsError(f"categories: min={category_min!r}, max={category_max!r} is not a range of categories: "
                           f"expected integers with 0 <= min < max <= {CATEGORY_MAX} (at least two categories, "
                           "one pair)")
        self.state_path = state_path
        self.level = level
        self.category_min = category_min
        self.category_max = category_max
        self.static: dict[str, str] = {}
        self._static_owner: dict[Pair, str] = {}
        for name, label in (static or {}).items():
            validate_name(name, "static")
            try:
                static_level, low, high = parse_label(label)
            except ValueError as exc:
                raise McsError(f"static.{name}: {exc}") from None
            if static_level != level:
                raise McsError(f"static.{name}: {label!r} has the level {static_level}, but level is {level}; "
                               f"write it as {format_label(level, low, high)}")
            if (low, high) in self._static_owner:
                raise McsError(f"static.{name}: {label!r} is also the static label of {self._static_owner[(low, high)]}"
                               "; each name needs a pair of its own")
            self._static_owner[(low, high)] = name
            self.static[name] = format_label(level, low, high)
        # Recorded allocations: name -> label, as load() read them.
        self.allocations: dict[str, str] = {}

    # ---- the pair space: every (a, b) with min <= a < b <= max, numbered row by row
    @property
    def pair_count(self) -> int:
        """How many pairs the range holds."""
        size = self.category_max - self.category_min + 1
        return size * (size - 1) // 2

    def in_range(self, pair: Pair) -> bool:
        """Whether both categories lie in the range."""
        return self.category_min <= pair[0] < pair[1] <= self.category_max

    def _row_start(self, row: int) -> int:
        """Index of the first pair whose first category is min + row."""
        size = self.category_max - self.category_min + 1
        return row * (2 * size - row - 1) // 2

    def pair_at(self, index: int) -> Pair:
        """The pair numbered ``index`` (0 <= index < pair_count)."""
        size = self.category_max - self.category_min + 1
        discriminant = (2 * size - 1) ** 2 - 8 * index
        row = max(0, ((2 * size - 1) - math.isqrt(max(discriminant, 0))) // 2)
        # isqrt rounds down; step to the exact row.
        while row > 0 and self._row_start(row) > index:
            row -= 1
        while self._row_start(row + 1) <= index:
            row += 1
        column = row + 1 + index - self._row_start(row)
        return self.category_min + row, self.category_min + column

    def start_index(self, name: str) -> int:
        """Where probing for a name starts: a hash of the name over the pair space (stable across runs and hosts)."""
        digest = hashlib.sha256(name.encode("utf-8")).digest()
        return int.from_bytes(digest[:8], "big") % self.pair_count

    # ---- deciding
    def plan(self, names_present: Sequence[str], names_absent: Sequence[str] = (),
             in_use: Iterable[Pair] | None = None) -> Plan:
        """Decide labels for ``names_present`` and releases for ``names_absent`` against ``self.allocations``.

        A recorded label is kept while it is at the configured level, inside the range, not another name's static
        pair and not recorded earlier (by name order) for another name. New pairs start at the name's hash and probe
        to the next pair that is not recorded for another name, static, or in ``in_use``. Raises McsError when a name
        is both present and absent or the range has no free pair left.
        """
        present = _unique(names_present, "names")
        absent = _unique(names_absent, "names")
        both = sorted(set(present) & set(absent))
        if both:
            raise McsError(f"names: {', '.join(both)} cannot be both present and absent")
        before = dict(self.allocations)
        after = dict(before)
        released = [name for name in absent if name in after]
        for name in released:
            del after[name]
        recorded: dict[str, Pair | None] = {name: label_pair(label) for name, label in after.items()}
        # First holder (by name) of each recorded pair; later holders of the same pair are duplicates.
        first_holder: dict[Pair, str] = {}
        for name in sorted(recorded):
            pair = recorded[name]
            if pair is not None:
                first_holder.setdefault(pair, name)

        labels: dict[str, str] = {}
        moved: dict[str, str] = {}
        pending: list[str] = []
        for name in present:
            if name in self.static:
                labels[name] = self.static[name]
                if after.get(name) not in (None, labels[name]):
                    moved[name] = f"{after[name]} differs from its static label"
                continue
            current = after.get(name)
            if current is None:
                pending.append(name)
                continue
            reason = self._invalid_reason(name, current, first_holder)
            if reason:
                moved[name] = reason
                pending.append(name)
                continue
            level, low, high = parse_label(current)
            # A label at another level keeps its pair and takes the configured level.
            labels[name] = format_label(self.level, low, high)
            if level != self.level:
                moved[name] = f"{current} is at level {level}, but level is {self.level}"

        taken: set[Pair] = set(self._static_owner)
        taken.update(pair for name, pair in recorded.items() if pair is not None and name not in pending)
        taken.update(pair for name, label in labels.items() for pair in [label_pair(label)] if pair)
        taken.update(in_use or ())
        free = self.pair_count - sum(1 for pair in taken if self.in_range(pair))
        if len(pending) > free:
            raise McsError(self._exhausted_message(len(pending), free, in_use))
        for name in sorted(pending):
            pair = self._probe(name, taken)
            taken.add(pair)
            labels[name] = format_label(self.level, *pair)

        allocated = [name for name in present if after.get(name) != labels[name]]
        for name in present:
            after[name] = labels[name]
        return Plan({name: labels[name] for name in present}, before, after, allocated, moved, released)

    def _invalid_reason(self, name: str, label: str, first_holder: Mapping[Pair, str]) -> str | None:
        """Why a recorded label can no longer be kept for ``name``, or None when it can."""
        try:
            dummy_level, low, high = parse_label(label)
        except ValueError as exc:
            return f"the recorded label is not valid ({exc})"
        pair = (low, high)
        if not self.in_range(pair):
            return f"{label} is outside categories c{self.category_min}..c{self.category_max}"
        owner = self._static_owner.get(pair)
        if owner is not None and owner != name:
            return f"{label} is the static label of {owner}"
        if first_holder.get(pair, name) != name:
            return f"{label} is also recorded for {first_holder[pair]}"
        return None

    def _probe(self, name: str, taken: set[Pair]) -> Pair:
        """The first pair at or after the name's hash that is not taken (plan() checked that one exists)."""
        count = self.pair_count
        start = self.start_index(name)
        for offset in range(count):
            pair = self.pair_at((start + offset) % count)
            if pair not in taken:
                return pair
        raise McsError(self._exhausted_message(1, 0, None))

    def _exhausted_message(self, wanted: int, free: int, in_use: Iterable[Pair] | None) -> str:
        """The error for a range without enough free pairs, with the counts and the fix."""
        in_range_use = len({pair for pair in in_use or () if self.in_range(pair)})
        return (f"categories: c{self.category_min}..c{self.category_max} hold {self.pair_count} pairs and {free} are "
                f"free, but {wanted} new labels are needed ({len(self.allocations)} recorded, {len(self.static)} "
                f"static, {in_range_use} in use by running containers or processes); widen categories or release "
                "names that are gone (state=absent)")

    # ---- the record on the host
    @property
    def lock_path(self) -> str:
        """The lock file next to the state file."""
        return f"{self.state_path}.lock"

    def _ensure_directory(self) -> None:
        """Create the state directory (0700) and missing parents (0755)."""
        directory = os.path.dirname(os.path.abspath(self.state_path))
        if os.path.isdir(directory):
            return
        os.makedirs(os.path.dirname(directory), mode=0o755, exist_ok=True)
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            return
        # mkdir's mode goes through the umask.
        os.chmod(directory, 0o700)

    @contextlib.contextmanager
    def locked(self, write: bool = True, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
        """Hold the lock for a whole read-modify-write: exclusive for writing, creating the lock file and directory.

        ``write=False`` (check mode) creates nothing: it takes a shared lock when the lock file exists, else none.
        """
        try:
            if write:
                self._ensure_directory()
                descriptor = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            else:
                descriptor = os.open(self.lock_path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            if write:
                raise McsStateError(f"state_path: cannot create the lock file {self.lock_path}") from None
            descriptor = None
        except OSError as exc:
            raise McsStateError(f"state_path: cannot open the lock file {self.lock_path}: {exc.strerror}") from None
        try:
            if descriptor is not None:
                self._lock(descriptor, fcntl.LOCK_EX if write else fcntl.LOCK_SH, timeout)
            yield
        finally:
            if descriptor is not None:
                os.close(descriptor)

    def _lock(self, descriptor: int, operation: int, timeout: float) -> None:
        """flock with a deadline, so a stuck holder makes a clear error instead of a hung task."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(descriptor, operation | fcntl.LOCK_NB)
                return
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise McsStateError(f"state_path: cannot lock {self.lock_path}: {exc.strerror}") from None
            if time.monotonic() >= deadline:
                raise McsStateError(f"state_path: {self.lock_path} has been locked by another process for "
                                    f"{timeout:.0f}s; is another allocation stuck?")
            time.sleep(0.05)

    def load(self) -> dict[str, str]:
        """Read the recorded allocations into ``self.allocations`` (none when the file does not exist)."""
        try:
            with open(self.state_path, encoding="utf-8") as handle:
                text = handle.read()
        except FileNotFoundError:
            self.allocations = {}
            return {}
        except OSError as exc:
            raise McsStateError(f"state_path: cannot read {self.state_path}: {exc.strerror}") from None
        self.allocations = parse_state(text, self.state_path)
        return dict(self.allocations)

    def save(self, allocations: Mapping[str, str] | None = None) -> None:
        """Write the allocations (default: ``self.allocations``) atomically as a 0600 file; hold locked() around it."""
        if allocations is not None:
            self.allocations = dict(allocations)
        self._ensure_directory()
        content = render_state(self.level, self.allocations)
        directory = os.path.dirname(os.path.abspath(self.state_path))
        descriptor, tmp_path = tempfile.mkstemp(prefix=f".{os.path.basename(self.state_path)}.", suffix=".tmp",
                                                dir=directory)
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                os.fchmod(handle.fileno(), 0o600)
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp_path, self.state_path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp_path)
            raise
        # Make the rename itself durable.
        directory_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(directory_fd)
        finally:
            os.close(directory_fd)

    # ---- one-name conveniences (system_container)
    def allocate(self, name: str, check_mode: bool = False, in_use: Iterable[Pair] | None = None) -> tuple[str, bool]:
        """Lock, load, plan one present name, save unless ``check_mode``; ``(label, changed)``."""
        with self.locked(write=not check_mode):
            self.load()
            plan = self.plan([name], [], in_use)
            if plan.changed and not check_mode:
                self.save(plan.after)
        return plan.labels[name], plan.changed

    def release(self, name: str, check_mode: bool = False) -> bool:
        """Lock, load, drop the name's allocation, save unless ``check_mode``; whether it had one."""
        with self.locked(write=not check_mode):
            self.load()
            plan = self.plan([], [name])
            if plan.changed and not check_mode:
                self.save(plan.after)
        return plan.changed


def parse_state(text: str, path: str = "the allocation file") -> dict[str, str]:
    """The allocations in a version 1 state file; McsStateError naming the file when it is anything else."""
    fix = "fix or remove it (removing forgets every allocation)"
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise McsStateError(f"state_path: {path} is not valid JSON ({exc}); {fix}") from None
    if not isinstance(data, dict) or not isinstance(data.get("allocations"), dict):
        raise McsStateError(f"state_path: {path} has no 'allocations' object; {fix}")
    if data.get("version") != STATE_VERSION:
        raise McsStateError(f"state_path: {path} has version {data.get('version')!r}; this collection reads "
                            f"version {STATE_VERSION}")
    allocations: dict[str, str] = {}
    for name, label in data["allocations"].items():
        if not isinstance(label, str) or label_pair(label) is None:
            raise McsStateError(f"state_path: {path}: the label {label!r} of {name} is not sN:cX,cY; {fix}")
        allocations[name] = label
    return allocations


def render_state(level: str, allocations: Mapping[str, str]) -> str:
    """The state file's text: versioned, names sorted, one allocation per line."""
    data = {"version": STATE_VERSION, "level": level, "allocations": dict(sorted(allocations.items()))}
    return json.dumps(data, indent=2, sort_keys=False) + "\n"
