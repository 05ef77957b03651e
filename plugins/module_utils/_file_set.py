# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Private to the collection: not a public API and may change without notice.

"""A set of files in one directory: validation, comparison by digest and metadata, atomic writes, purge."""

from __future__ import annotations

import grp
import hashlib
import os
import pwd
import re
import stat
import tempfile
import typing as t

from dataclasses import dataclass, field

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

# "0600", "600", "0o600" or four digits with special bits ("2750").
_MODE_RE = re.compile(r"^(?:0o)?([0-7]{3,4})$")
# Prefix of the temporary files written next to their destination.
TMP_PREFIX = ".pki_files."
_READ_CHUNK = 1 << 16


class FileSetError(ValueError):
    """Bad input; the message names the field (``files[1] (member.key): mode: ...``) and what is accepted."""


class UnknownAccount(FileSetError):
    """An owner or group the host does not know (yet); a check run may assume an earlier task creates it."""


def parse_mode(value: t.Any, where: str) -> int:
    """An octal mode string as a number; numbers are refused, as YAML reads 0644 as the decimal 420."""
    if isinstance(value, bool) or not isinstance(value, str):
        raise FileSetError(f"{where}: {value!r} is not a string; give the mode quoted in octal, such as '0600' "
                           "(YAML reads an unquoted 0600 as the number 384)")
    match = _MODE_RE.match(value.strip())
    if not match:
        raise FileSetError(f"{where}: {value!r} is not an octal mode; accepted: 3 or 4 octal digits such as '0600', "
                           "'0644' or '640'")
    return int(match.group(1), 8)


def format_mode(mode: int) -> str:
    """A mode as four octal digits."""
    return f"{mode:04o}"


def check_name(value: t.Any, where: str) -> str:
    """A plain file name inside the directory: no slash, not empty, not ``.``/``..``, no NUL."""
    if not isinstance(value, str) or not value:
        raise FileSetError(f"{where}: {value!r} is not a file name; accepted: a non-empty name without '/'")
    if "/" in value or "\0" in value:
        bad = "'/'" if "/" in value else "a NUL byte"
        raise FileSetError(f"{where}: {value!r} contains {bad}; accepted: a file "
                           "name inside dir, without '/' (set dir for another directory)")
    if value in (".", ".."):
        raise FileSetError(f"{where}: {value!r} names a directory; accepted: a file name inside dir")
    if value.startswith(TMP_PREFIX):
        raise FileSetError(f"{where}: {value!r} starts with {TMP_PREFIX!r}, which the module uses for its "
                           "temporary files; choose another name")
    return value


@dataclass(frozen=True)
class Account:
    """A user or group: its number, and the name the diff shows (the number when the host has no name for it)."""

    id: int | None
    label: str

    @property
    def known(self) -> bool:
        """Whether the host has this account (an unknown one can only appear in check mode)."""
        return self.id is not None


class Accounts:
    """Resolves owner and group names or numbers on the host, and names file owners for the diff."""

    def user(self, value: str, where: str) -> Account:
        """A user name or number; UnknownAccount when the host has no such user name."""
        if value.isdigit():
            return Account(int(value), self.user_label(int(value)))
        try:
            return Account(pwd.getpwnam(value).pw_uid, value)
        except KeyError:
            raise UnknownAccount(f"{where}: there is no user {value!r} on the host; accepted: an existing user name "
                                 "or a number") from None

    def group(self, value: str, where: str) -> Account:
        """A group name or number; UnknownAccount when the host has no such group name."""
        if value.isdigit():
            return Account(int(value), self.group_label(int(value)))
        try:
            return Account(grp.getgrnam(value).gr_gid, value)
        except KeyError:
            raise UnknownAccount(f"{where}: there is no group {value!r} on the host; accepted: an existing group "
                                 "name or a number") from None

    def primary_group(self, user: Account, where: str) -> Account:
        """The primary group of a user, the default group of its files."""
        if not user.known:
            # A check run with a user still to be created: its group is presumably named after it.
            return Account(None, user.label)
        try:
            gid = pwd.getpwuid(t.cast(int, user.id)).pw_gid
        except KeyError:
            raise FileSetError(f"{where}: user {user.label} has no entry in the user database, so it has no primary "
                               "group; set group") from None
        return Account(gid, self.group_label(gid))

    def user_label(self, uid: int) -> str:
        """A user's name, or its number."""
        try:
            return pwd.getpwuid(uid).pw_name
        except KeyError:
            return str(uid)

    def group_label(self, gid: int) -> str:
        """A group's name, or its number."""
        try:
            return grp.getgrgid(gid).gr_name
        except KeyError:
            return str(gid)

    def running_user(self) -> Account:
        """The user the module runs as."""
        uid = os.geteuid()
        return Account(uid, self.user_label(uid))


@dataclass(frozen=True)
class Meta:
    """Owner, group and mode, wanted or found."""

    owner: Account
    group: Account
    mode: int

    def text(self) -> str:
        """As the diff shows it."""
        return f"owner {self.owner.label}, group {self.group.label}, mode {format_mode(self.mode)}"


def meta_changes(have: Meta, want: Meta) -> list[str]:
    """What differs between found and wanted metadata, e.g. ``["mode 0644 -> 0600"]``."""
    changes = []
    if have.owner.id != want.owner.id:
        changes.append(f"owner {have.owner.label} -> {want.owner.label}")
    if have.group.id != want.group.id:
        changes.append(f"group {have.group.label} -> {want.group.label}")
    if have.mode != want.mode:
        changes.append(f"mode {format_mode(have.mode)} -> {format_mode(want.mode)}")
    return changes


@dataclass
class WantedFile:
    """One declared file: its name, data and metadata."""

    where: str
    name: str
    data: bytes
    meta: Meta

    @property
    def digest(self) -> str:
        """sha256 of the wanted data."""
        return hashlib.sha256(self.data).hexdigest()


@dataclass
class Found:
    """What the directory holds under a name (from lstat, without following a symlink)."""

    kind: str  # "file", "symlink", "directory" or "other"
    meta: Meta
    digest: str | None = None


@dataclass
class FileAction:
    """What happens to one name: write (content), adjust (owner/group/mode only) or remove; with the reasons."""

    name: str
    action: str  # "write", "adjust", "remove" or "none"
    changes: list[str] = field(default_factory=list)
    before: str = ""
    after: str = ""
    wanted: WantedFile | None = None

    @property
    def changed(self) -> bool:
        """Whether anything happens to this name."""
        return self.action != "none"


@dataclass
class DirSpec:
    """The directory's wanted metadata; None leaves a value as it is (a new directory: running user, 0700)."""

    path: str
    owner: Account | None = None
    group: Account | None = None
    mode: int | None = None


def validate_files(entries: Sequence[Mapping[str, t.Any]], accounts: Accounts,
                   allow_unknown: bool = False) -> tuple[list[WantedFile], list[str]]:
    """Check every entry before anything is read or written; returns the files and warnings for unknown accounts.

    Each entry has name, content (str or bytes), owner, group and mode (None: the running user, the owner's primary
    group, 0600). With ``allow_unknown`` (check mode) an owner or group the host lacks is a warning, not an error.
    """
    files: list[WantedFile] = []
    warnings: list[str] = []
    seen: dict[str, str] = {}
    for index, entry in enumerate(entries):
        where = f"files[{index}] ({entry.get('name')})"
        name = check_name(entry.get("name"), f"{where}: name")
        if name in seen:
            raise FileSetError(f"{where}: name: {name} is already declared by {seen[name]}; declare each file once")
        seen[name] = where
        content = entry.get("content")
        if isinstance(content, str):
            data = content.encode("utf-8", errors="surrogateescape")
        elif isinstance(content, bytes):
            data = content
        else:
            raise FileSetError(f"{where}: content: a {type(content).__name__} is not text; accepted: a string")
        mode = parse_mode(entry.get("mode") if entry.get("mode") is not None else "0600", f"{where}: mode")
        owner = _account(accounts.user, entry.get("owner"), f"{where}: owner", allow_unknown, warnings)
        if owner is None:
            owner = accounts.running_user()
        group = _account(accounts.group, entry.get("group"), f"{where}: group", allow_unknown, warnings)
        if group is None:
            group = accounts.primary_group(owner, f"{where}: group")
        files.append(WantedFile(where, name, data, Meta(owner, group, mode)))
    return files, warnings


def validate_dir(path: t.Any, owner: str | None, group: str | None, mode: t.Any, accounts: Accounts,
                 allow_unknown: bool = False) -> tuple[DirSpec, list[str]]:
    """The directory's wanted state from dir, dir_owner, dir_group and dir_mode."""
    if not isinstance(path, str) or not os.path.isabs(path):
        raise FileSetError(f"dir: {path!r} is not an absolute path")
    warnings: list[str] = []
    return DirSpec(
        path=os.path.normpath(path),
        owner=_account(accounts.user, owner, "dir_owner", allow_unknown, warnings),
        group=_account(accounts.group, group, "dir_group", allow_unknown, warnings),
        mode=None if mode is None else parse_mode(mode, "dir_mode"),
    ), warnings


def _account(resolve: Callable[[str, str], Account], value: t.Any, where: str, allow_unknown: bool,
             warnings: list[str]) -> Account | None:
    """Resolve an owner or group option (None when not given)."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise FileSetError(f"{where}: {value!r} is not a user or group; accepted: a name or a number")
    try:
        return resolve(value.strip(), where)
    except UnknownAccount as exc:
        if not allow_unknown:
            raise
        warnings.append(f"{exc} (check mode: assumed to be created by an earlier task; a real run fails without it)")
        return Account(None, value.strip())


# ---- reading the host

def file_digest(path: str) -> str:
    """sha256 of a regular file, opened without following a symlink."""
    digest = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as handle:
        for chunk in iter(lambda: handle.read(_READ_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _kind(mode: int) -> str:
    """The kind of a directory entry from its lstat mode."""
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISDIR(mode):
        return "directory"
    return "other"


def read_entry(path: str, accounts: Accounts, with_digest: bool = True) -> Found | None:
    """What is at ``path`` (None when nothing is), with the content digest of a regular file."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    kind = _kind(info.st_mode)
    meta = Meta(Account(info.st_uid, accounts.user_label(info.st_uid)),
                Account(info.st_gid, accounts.group_label(info.st_gid)), stat.S_IMODE(info.st_mode))
    return Found(kind, meta, file_digest(path) if kind == "file" and with_digest else None)


def list_names(directory: str) -> list[str]:
    """Names in a directory, sorted; empty when it does not exist."""
    try:
        return sorted(os.listdir(directory))
    except FileNotFoundError:
        return []


# ---- deciding

def plan_dir(spec: DirSpec, found: Found | None) -> list[str]:
    """What changes about the directory (``["created"]``, ``["mode 0755 -> 0750"]``, ...); raises if not one."""
    if found is None:
        return ["created"]
    if found.kind != "directory":
        raise FileSetError(f"dir: {spec.path} is a {found.kind}, not a directory")
    want = Meta(spec.owner or found.meta.owner, spec.group or found.meta.group,
                found.meta.mode if spec.mode is None else spec.mode)
    return meta_changes(found.meta, want)


def dir_text(spec: DirSpec, found: Found | None, side: str) -> str:
    """The directory's line in the diff, before or after."""
    if side == "before":
        return "directory: absent\n" if found is None else f"directory: {found.meta.text()}\n"
    have = found.meta if found is not None else None
    owner = spec.owner or (have.owner if have else None)
    group = spec.group or (have.group if have else None)
    mode = spec.mode if spec.mode is not None else (have.mode if have else 0o700)
    parts = [f"owner {owner.label}" if owner else "owner (running user)",
             f"group {group.label}" if group else "group (running user's)", f"mode {format_mode(mode)}"]
    return f"directory: {', '.join(parts)}\n"


def plan_file(wanted: WantedFile, found: Found | None) -> FileAction:
    """Compare one declared file with what the directory holds under its name."""
    after = f"{wanted.name}: {wanted.meta.text()}"
    if found is None:
        return FileAction(wanted.name, "write", ["created"], "", f"{after}, content new\n", wanted)
    if found.kind == "directory":
        raise FileSetError(f"{wanted.where}: name: {wanted.name} is a directory in dir; remove it or choose another "
                           "name")
    before = f"{wanted.name}: {found.meta.text()}"
    if found.kind != "file":
        # Replaced by a regular file (never written through a symlink).
        return FileAction(wanted.name, "write", [f"{found.kind} replaced by a file"], f"{wanted.name}: {found.kind}\n",
                          f"{after}, content new\n", wanted)
    changes = []
    if found.digest != wanted.digest:
        changes.append("content changed")
    changes.extend(meta_changes(found.meta, wanted.meta))
    if not changes:
        return FileAction(wanted.name, "none")
    action = "write" if found.digest != wanted.digest else "adjust"
    suffix = ", content changed" if action == "write" else ""
    return FileAction(wanted.name, action, changes, f"{before}\n", f"{after}{suffix}\n", wanted)


def plan_purge(names: Iterable[str], wanted: Iterable[str], found: Mapping[str, Found]) -> list[FileAction]:
    """Removals of the names in dir that are not declared (subdirectories are left alone)."""
    keep = set(wanted)
    actions = []
    for name in names:
        entry = found.get(name)
        if name in keep or entry is None or entry.kind == "directory":
            continue
        shown = entry.meta.text() if entry.kind == "file" else entry.kind
        actions.append(FileAction(name, "remove", ["removed"], f"{name}: {shown}\n", ""))
    return actions


def diff_entry(path: str, dir_before: str, dir_after: str, actions: Sequence[FileAction]) -> dict[str, str]:
    """One diff with the directory's and every changed file's metadata, never a file's content."""
    return {"before_header": path, "after_header": path,
            "before": dir_before + "".join(a.before for a in actions if a.changed),
            "after": dir_after + "".join(a.after for a in actions if a.changed)}


# ---- acting

def make_dir(spec: DirSpec) -> None:
    """Create the directory (missing parents 0755) private first, then give it its owner, group and mode."""
    parent = os.path.dirname(spec.path)
    if not os.path.isdir(parent):
        os.makedirs(parent, mode=0o755)
    os.mkdir(spec.path, 0o700)
    fix_dir(spec)


def fix_dir(spec: DirSpec) -> None:
    """Set the directory's declared owner, group and mode (chown first: it can clear set-group-ID)."""
    if spec.owner is not None or spec.group is not None:
        os.chown(spec.path, -1 if spec.owner is None else t.cast(int, spec.owner.id),
                 -1 if spec.group is None else t.cast(int, spec.group.id))
    if spec.mode is not None:
        os.chmod(spec.path, spec.mode)


def write_file(directory: str, wanted: WantedFile, prepare: Callable[[str, str], None] | None = None) -> None:
    """Write through a temporary file in the same directory, owned and moded before the rename.

    mkstemp creates the file 0600 for the running user, so the data is never readable by others before its final
    owner and mode are set; the rename then replaces the old file (or a symlink) in one step.
    """
    path = os.path.join(directory, wanted.name)
    fd, tmp = tempfile.mkstemp(prefix=f"{TMP_PREFIX}{wanted.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(wanted.data)
            handle.flush()
            os.fchown(handle.fileno(), t.cast(int, wanted.meta.owner.id), t.cast(int, wanted.meta.group.id))
            os.fchmod(handle.fileno(), wanted.meta.mode)
            os.fsync(handle.fileno())
        if prepare is not None:
            prepare(tmp, path)
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def adjust_file(directory: str, wanted: WantedFile) -> None:
    """Set owner, group and mode of a file whose content is right (chown first: it clears set-user-ID bits)."""
    path = os.path.join(directory, wanted.name)
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    try:
        os.fchown(fd, t.cast(int, wanted.meta.owner.id), t.cast(int, wanted.meta.group.id))
        os.fchmod(fd, wanted.meta.mode)
    finally:
        os.close(fd)


def sync_dir(directory: str) -> None:
    """fsync the directory so the renames survive a crash."""
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
