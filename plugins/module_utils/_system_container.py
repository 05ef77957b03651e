# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Private to the collection: not a public API and may change without notice.

"""System containers: the deployment layout on the host, image unpacking, the systemd unit, and the decisions.

Layout under ``<root_dir>/<name>/``::

    deployments/<digest12>-<n>/   one deployment: rootfs/ (oci backend), config.json (oci), info.json
    current -> deployments/...    what the unit runs; switched atomically (a new symlink renamed over the old)
    previous -> deployments/...   what ``state=rollback`` returns to
    state.json                    {"rolled_back_from": id} after a rollback, so that a second rollback changes nothing

Any change to what the container runs (image digest, the rendered config or podman command) makes a new deployment
beside the old one; the unit only changes for its own settings. Pure except the filesystem helpers (unpacking,
cloning, links), which take paths.
"""

from __future__ import annotations

import collections
import errno
import json
import os
import re
import shutil
import stat
import tarfile
import typing as t

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

DEFAULT_ROOT = "/var/lib/containerhost/system-containers"
MODULE_NAME = "system_container"
BACKENDS = ("oci", "podman")
STATES = ("present", "started", "stopped", "absent", "rollback")
# The container's own cgroup below the unit's: the runtime puts it there, so the unit's limits cover it.
CGROUP_LEAF = "container"
INFO_FILE = "info.json"
CONFIG_FILE = "config.json"
STATE_FILE = "state.json"
LINKS = ("current", "previous")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_ID_RE = re.compile(r"^([0-9a-f]{12})-([0-9]+)$")
WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_MAX_SYMLINK_HOPS = 255
LAYER_MEDIA_TYPES = (
    "application/vnd.oci.image.layer.v1.tar", "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.docker.image.rootfs.diff.tar.gzip", "application/vnd.docker.image.rootfs.diff.tar",
)


class ContainerError(ValueError):
    """Bad input or a host state the module cannot work with; the message names the field or the path."""


class UnpackError(ContainerError):
    """An image layer that cannot be unpacked safely."""


def validate_name(name: t.Any) -> str:
    """A container name usable as runtime ID, podman name, directory and unit name."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ContainerError(f"name: {name!r} is not valid; accepted: up to 128 letters, digits, _ . - starting with a "
                             "letter or digit (the unit is <name>.service)")
    if name.endswith(".service"):
        raise ContainerError(f"name: {name!r}: give the name without .service; the unit is <name>.service")
    return name


# ---------------------------------------------------------------------------------------------------------------------
# deployments and their links

def short_digest(digest: str) -> str:
    """The first 12 hex digits of a digest (``sha256:abc...`` -> ``abc...``)."""
    return digest.split(":", 1)[-1][:12]


def deployment_id(digest: str, number: int) -> str:
    """``<digest12>-<n>``: the image's short digest and a number that grows with every deployment."""
    return f"{short_digest(digest)}-{number}"


def deployment_number(identifier: str) -> int:
    """The number of a deployment ID (0 for a name that is not one)."""
    match = _ID_RE.match(identifier or "")
    return int(match.group(2)) if match else 0


def next_number(identifiers: Iterable[str]) -> int:
    """One more than the highest deployment number."""
    return max((deployment_number(identifier) for identifier in identifiers), default=0) + 1


class Layout:
    """Paths of one system container's directory."""

    def __init__(self, root_dir: str, name: str) -> None:
        self.root_dir = root_dir
        self.name = name
        self.base = os.path.join(root_dir, name)
        self.deployments = os.path.join(self.base, "deployments")
        self.state_path = os.path.join(self.base, STATE_FILE)

    def link(self, which: str) -> str:
        """Path of the ``current`` or ``previous`` link."""
        return os.path.join(self.base, which)

    def deployment(self, identifier: str) -> str:
        """Directory of a deployment."""
        return os.path.join(self.deployments, identifier)

    def bundle(self) -> str:
        """The bundle the unit runs: the ``current`` link, resolved by the runtime when it starts."""
        return self.link("current")

    def read_link(self, which: str) -> str | None:
        """The deployment ID a link points at, or None when it is missing or points elsewhere."""
        try:
            target = os.readlink(self.link(which))
        except OSError:
            return None
        identifier = os.path.basename(target.rstrip("/"))
        if os.path.normpath(os.path.join(self.base, target)) != self.deployment(identifier):
            return None
        return identifier

    def list_deployments(self) -> list[str]:
        """Deployment IDs on disk, oldest first (by number)."""
        try:
            names = os.listdir(self.deployments)
        except FileNotFoundError:
            return []
        found = [name for name in names if _ID_RE.match(name) and os.path.isdir(self.deployment(name))]
        return sorted(found, key=deployment_number)

    def read_info(self, identifier: str) -> dict[str, t.Any] | None:
        """A deployment's info.json, or None when missing or unreadable."""
        return read_json(os.path.join(self.deployment(identifier), INFO_FILE))

    def read_config(self, identifier: str) -> dict[str, t.Any] | None:
        """A deployment's config.json (oci backend), or None."""
        return read_json(os.path.join(self.deployment(identifier), CONFIG_FILE))

    def read_state(self) -> dict[str, t.Any]:
        """state.json, or an empty state."""
        return read_json(self.state_path) or {}


def read_json(path: str) -> dict[str, t.Any] | None:
    """A JSON object from a file, or None when it is missing or not a JSON object."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_json(path: str, data: Mapping[str, t.Any], mode: int = 0o644) -> None:
    """Write JSON through a temporary file in the same directory and rename it into place."""
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def switch_link(layout: Layout, which: str, identifier: str | None) -> None:
    """Point ``current``/``previous`` at a deployment atomically (symlink to a temporary name, then rename over the
    link), or remove the link for None."""
    path = layout.link(which)
    if identifier is None:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        return
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
    os.symlink(os.path.join("deployments", identifier), tmp)
    os.replace(tmp, path)


def keep_set(identifiers: Sequence[str], keep: int, current: str | None, previous: str | None) -> list[str]:
    """The deployments to keep: current and (with keep >= 2) previous, then the newest others up to ``keep``."""
    kept = [current] if current else []
    if previous and keep >= 2 and previous not in kept:
        kept.append(previous)
    for identifier in sorted(identifiers, key=deployment_number, reverse=True):
        if len(kept) >= keep:
            break
        if identifier not in kept:
            kept.append(identifier)
    return kept


def prune_list(identifiers: Sequence[str], keep: int, current: str | None, previous: str | None) -> list[str]:
    """Deployments to remove, oldest first."""
    kept = set(keep_set(identifiers, keep, current, previous))
    return [identifier for identifier in sorted(identifiers, key=deployment_number) if identifier not in kept]


# ---------------------------------------------------------------------------------------------------------------------
# unpacking an image into a root filesystem

def clean_member_path(name: str) -> str:
    """A tar member's path relative to the root (``./a/b`` -> ``a/b``, ``./`` -> ``""``); UnpackError for ``..``."""
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise UnpackError(f"layer entry {name!r} leaves the root filesystem ('..')")
    return "/".join(parts)


def secure_join(root: str, relative: str, follow_last: bool = False) -> str:
    """The host path of ``relative`` inside ``root`` as the container would resolve it: symlinks on the way are
    followed relative to ``root`` (an absolute target starts again at ``root``) and ``..`` stops at ``root``, so the
    result never leaves it. The last component is followed only with ``follow_last``."""
    pending = collections.deque(relative.split("/"))
    resolved: list[str] = []
    hops = 0
    while pending:
        part = pending.popleft()
        if part in ("", "."):
            continue
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, part)
        is_last = not any(rest not in ("", ".") for rest in pending)
        if (follow_last or not is_last) and os.path.islink(candidate):
            hops += 1
            if hops > _MAX_SYMLINK_HOPS:
                raise UnpackError(f"too many symbolic links resolving {relative!r}")
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            pending.extendleft(reversed(target.split("/")))
            continue
        resolved.append(part)
    return os.path.join(root, *resolved)


def _remove(path: str) -> None:
    """Remove a file, link or directory tree (nothing when missing)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISDIR(mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def _clear_directory(path: str) -> None:
    """Remove everything inside a directory (an opaque directory hides what lower layers put there)."""
    if not os.path.isdir(path) or os.path.islink(path):
        return
    for entry in os.listdir(path):
        _remove(os.path.join(path, entry))


def _set_metadata(path: str, member: tarfile.TarInfo, as_root: bool) -> None:
    """Owner, mode and extended attributes of an extracted entry (the owner first: chown clears set-id bits)."""
    if as_root:
        os.lchown(path, member.uid, member.gid)
    if not member.issym():
        os.chmod(path, member.mode & 0o7777)
    for key, value in (member.pax_headers or {}).items():
        if key.startswith("SCHILY.xattr."):
            try:
                os.setxattr(path, key[len("SCHILY.xattr."):], value.encode("utf-8", "surrogateescape"),
                            follow_symlinks=False)
            except OSError as exc:
                # A filesystem without xattrs, or a namespace only root may write: the file is still usable.
                if exc.errno not in (errno.ENOTSUP, errno.EPERM, errno.EOPNOTSUPP):
                    raise


def _parent_dir(rootfs: str, relative: str) -> str:
    """The host directory an entry goes into, created when missing; UnpackError when a non-directory is in the way."""
    parent = secure_join(rootfs, os.path.dirname(relative), follow_last=True)
    if not os.path.lexists(parent):
        os.makedirs(parent, mode=0o755)
    elif not os.path.isdir(parent):
        raise UnpackError(f"layer entry {relative!r}: {os.path.relpath(parent, rootfs)} is not a directory")
    return parent


def apply_layer(layer: tarfile.TarFile, rootfs: str, as_root: bool | None = None) -> int:
    """Apply one layer (an open tar) to a root filesystem; returns the number of entries written.

    Whiteouts (``.wh.NAME``) delete NAME from lower layers and an opaque marker (``.wh..wh..opq``) empties its
    directory, before the layer's own entries are written (the OCI image spec: a whiteout only hides lower layers).
    Entries are written without following symlinks, paths resolve inside ``rootfs``, and hard links must point
    inside it, so a layer cannot write outside the root filesystem.
    """
    if as_root is None:
        as_root = os.geteuid() == 0
    members = layer.getmembers()
    for member in members:
        relative = clean_member_path(member.name)
        base = os.path.basename(relative)
        if not base.startswith(WHITEOUT_PREFIX):
            continue
        directory = os.path.dirname(relative)
        if base == OPAQUE_MARKER:
            _clear_directory(os.path.join(secure_join(rootfs, os.path.dirname(directory), follow_last=True),
                                          os.path.basename(directory)) if directory else rootfs)
        else:
            parent = secure_join(rootfs, directory, follow_last=True)
            _remove(os.path.join(parent, base[len(WHITEOUT_PREFIX):]))
    written = 0
    directories: list[tuple[str, tarfile.TarInfo]] = []
    for member in members:
        relative = clean_member_path(member.name)
        if not relative:
            directories.append((rootfs, member))
            continue
        base = os.path.basename(relative)
        if base.startswith(WHITEOUT_PREFIX):
            continue
        target = os.path.join(_parent_dir(rootfs, relative), base)
        try:
            existing = os.lstat(target).st_mode
        except FileNotFoundError:
            existing = None
        if member.isdir():
            if existing is not None and not stat.S_ISDIR(existing):
                os.unlink(target)
                existing = None
            if existing is None:
                os.mkdir(target, 0o700)
            directories.append((target, member))
            written += 1
            continue
        if existing is not None:
            _remove(target)
        if member.isreg():
            source = layer.extractfile(member)
            descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            with os.fdopen(descriptor, "wb") as handle:
                if source is not None:
                    shutil.copyfileobj(source, handle)
        elif member.issym():
            os.symlink(member.linkname, target)
        elif member.islnk():
            linked = secure_join(rootfs, clean_member_path(member.linkname))
            if not os.path.lexists(linked) or os.path.isdir(linked):
                raise UnpackError(f"layer entry {member.name!r} is a hard link to {member.linkname!r}, which is not a "
                                  "file in the root filesystem")
            os.link(linked, target, follow_symlinks=False)
            written += 1
            continue
        elif member.isfifo():
            os.mkfifo(target)
        elif member.ischr() or member.isblk():
            if not as_root:
                continue
            kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
            os.mknod(target, kind | 0o600, os.makedev(member.devmajor, member.devminor))
        else:
            raise UnpackError(f"layer entry {member.name!r} has the unsupported tar type {member.type!r}")
        _set_metadata(target, member, as_root)
        os.utime(target, (member.mtime, member.mtime), follow_symlinks=False)
        written += 1
    # Directories last, deepest first: writing into a directory changes its time, and a mode without w would stop
    # a non-root unpack.
    for path, member in sorted(directories, key=lambda entry: entry[0].count("/"), reverse=True):
        _set_metadata(path, member, as_root)
        os.utime(path, (member.mtime, member.mtime))
    return written


def open_layer(path: str) -> tarfile.TarFile:
    """Open a layer blob: plain tar, gzip, bzip2 or xz (zstd is refused with the reason)."""
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if magic == _ZSTD_MAGIC:
        raise UnpackError(f"layer {os.path.basename(path)} is zstd-compressed, which this module cannot unpack; "
                          "push the image with gzip layers")
    try:
        return tarfile.open(path, mode="r:*")
    except tarfile.TarError as exc:
        raise UnpackError(f"layer {os.path.basename(path)} is not a tar archive: {exc}") from None


def _blob_path(layout_dir: str, digest: str) -> str:
    """Where an OCI layout keeps a blob."""
    algorithm, _sep, hexdigest = (digest or "").partition(":")
    if not re.match(r"^[a-z0-9]+$", algorithm) or not re.match(r"^[0-9a-f]+$", hexdigest):
        raise UnpackError(f"{digest!r} is not a digest")
    return os.path.join(layout_dir, "blobs", algorithm, hexdigest)


def read_layout(layout_dir: str) -> tuple[dict[str, t.Any], dict[str, t.Any], list[str]]:
    """The manifest, image configuration and layer blob paths (in order) of the one image in an OCI layout."""
    index = read_json(os.path.join(layout_dir, "index.json"))
    manifests = (index or {}).get("manifests") or []
    if len(manifests) != 1:
        raise UnpackError(f"the OCI layout {layout_dir} holds {len(manifests)} images; expected one")
    manifest = read_json(_blob_path(layout_dir, manifests[0].get("digest")))
    if manifest is None or "layers" not in manifest:
        raise UnpackError(f"the manifest in {layout_dir} is not an image manifest")
    config = read_json(_blob_path(layout_dir, (manifest.get("config") or {}).get("digest")))
    if config is None:
        raise UnpackError(f"the image configuration in {layout_dir} is missing or not JSON")
    layers = []
    for layer in manifest["layers"]:
        media_type = layer.get("mediaType") or ""
        if media_type not in LAYER_MEDIA_TYPES and not media_type.endswith("+zstd"):
            raise UnpackError(f"layer {layer.get('digest')} has the media type {media_type!r}, which is not a "
                              "filesystem layer this module unpacks")
        layers.append(_blob_path(layout_dir, layer.get("digest")))
    return manifest, config, layers


def unpack_layout(layout_dir: str, rootfs: str) -> dict[str, t.Any]:
    """Unpack the image of an OCI layout into ``rootfs`` (created 0755); returns the image configuration."""
    dummy_manifest, config, layers = read_layout(layout_dir)
    os.makedirs(rootfs, mode=0o755, exist_ok=True)
    os.chmod(rootfs, 0o755)
    for path in layers:
        with open_layer(path) as layer:
            apply_layer(layer, rootfs)
    return config


def clone_tree(source: str, destination: str) -> None:
    """Copy a root filesystem as hard links (directories and symlinks are made anew with owner, mode and times).

    The deployments share file contents: the runtime mounts each root read-only, so no deployment changes another.
    """
    as_root = os.geteuid() == 0
    os.mkdir(destination, 0o700)
    directories = [(source, destination)]
    for current, dirnames, filenames in os.walk(source):
        relative = os.path.relpath(current, source)
        target_dir = destination if relative == "." else os.path.join(destination, relative)
        for dirname in list(dirnames):
            src = os.path.join(current, dirname)
            dst = os.path.join(target_dir, dirname)
            if os.path.islink(src):
                # os.walk lists symlinks to directories among dirnames; they are links, not directories to copy.
                _copy_link(src, dst, as_root)
                dirnames.remove(dirname)
                continue
            os.mkdir(dst, 0o700)
            directories.append((src, dst))
        for filename in filenames:
            src = os.path.join(current, filename)
            dst = os.path.join(target_dir, filename)
            if os.path.islink(src):
                _copy_link(src, dst, as_root)
            else:
                os.link(src, dst, follow_symlinks=False)
    for src, dst in reversed(directories):
        info = os.lstat(src)
        if as_root:
            os.lchown(dst, info.st_uid, info.st_gid)
        os.chmod(dst, stat.S_IMODE(info.st_mode))
        os.utime(dst, ns=(info.st_atime_ns, info.st_mtime_ns))


def _copy_link(source: str, destination: str, as_root: bool) -> None:
    """Recreate a symlink with its owner and time."""
    os.symlink(os.readlink(source), destination)
    info = os.lstat(source)
    if as_root:
        os.lchown(destination, info.st_uid, info.st_gid)
    os.utime(destination, ns=(info.st_atime_ns, info.st_mtime_ns), follow_symlinks=False)


def read_rootfs_text(rootfs: str, relative: str, limit: int = 1 << 20) -> str | None:
    """A text file of an unpacked image (resolved inside it), or None when it is missing or not a regular file."""
    path = secure_join(rootfs, relative, follow_last=True)
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read(limit)
    except OSError:
        return None


def read_rootfs_json(rootfs: str, relative: str) -> t.Any:
    """A JSON file of an unpacked image, or None when missing; ContainerError when it is not JSON."""
    text = read_rootfs_text(rootfs, relative)
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ContainerError(f"the image's /{relative} is not valid JSON: {exc}") from None


# ---------------------------------------------------------------------------------------------------------------------
# the systemd unit

# Arguments that use systemd's specifiers on purpose (the runtime directory and the unit name), written as they are.
# Plain strings, so that a command kept in info.json renders the same unit again.
CIDFILE = "%t/%n.ctr-id"
CIDFILE_OPTION = f"--cidfile={CIDFILE}"
SPECIFIER_ARGUMENTS = frozenset((CIDFILE, CIDFILE_OPTION))


def exec_quote(argument: str) -> str:
    """One argument of an Exec line: ``%`` and ``$`` doubled (systemd expands both), quoted when it holds white space,
    quotes, backslashes or ``;``, or is empty. Control characters are refused; SPECIFIER_ARGUMENTS pass as they are."""
    if argument in SPECIFIER_ARGUMENTS:
        return argument
    if any(ord(char) < 32 or ord(char) == 127 for char in argument):
        raise ContainerError(f"{argument!r} contains a control character (such as a newline), which a unit file "
                             "command line cannot hold")
    text = argument.replace("%", "%%").replace("$", "$$")
    if not text or re.search(r"[\s\"'\\;]", text):
        text = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def exec_line(argv: Sequence[str], prefix: str = "") -> str:
    """An Exec*= value (``prefix`` ``-`` ignores a failure)."""
    return prefix + " ".join(exec_quote(argument) for argument in argv)


def oci_service(runtime: str, name: str, bundle: str) -> dict[str, str]:
    """[Service] lines that run the bundle with runc or crun in the foreground.

    The runtime stays the main process and forwards signals to the container; KillMode=mixed sends SIGTERM to it
    alone first, and SIGKILL to everything left in the unit's cgroup after the timeout. Leftover runtime state of a
    crashed run is deleted before each start and after each stop.
    """
    delete = exec_line([runtime, "delete", "--force", name], prefix="-")
    return {
        "Type": "simple",
        "KillMode": "mixed",
        "ExecStartPre": delete,
        "ExecStart": exec_line([runtime, "run", "--bundle", bundle, name]),
        "ExecStopPost": delete,
    }


def podman_run_argv(*, podman: str, name: str, image: str, label: str | None, network: str, env: Mapping[str, str],
                    ro_binds: Mapping[str, str], rw_binds: Mapping[str, str], command: Sequence[str] | None,
                    hostname: str | None = None, runtime: str | None = None) -> list[str]:
    """``podman run`` for the unit: detached with conmon notifying systemd, read-only root, the container split
    into the unit's cgroup (``--cgroups=split``: conmon and the container in sub-cgroups of the unit, so the unit's
    slice and limits cover both), removed when it stops."""
    argv = [podman]
    if runtime:
        argv += ["--runtime", runtime]
    argv += ["run", CIDFILE_OPTION, "--cgroups=split", "--rm", "--sdnotify=conmon", "--detach",
             "--replace", "--name", name, "--read-only", "--network", network]
    if label:
        argv += ["--security-opt", f"label=level:{label}"]
    if hostname:
        argv += ["--hostname", hostname]
    for key, value in env.items():
        argv += ["--env", f"{key}={value}"]
    for source, destination in ro_binds.items():
        argv += ["--volume", f"{source}:{destination}:ro"]
    for source, destination in rw_binds.items():
        argv += ["--volume", f"{source}:{destination}:rw"]
    if command:
        argv += ["--entrypoint", command[0], image, *command[1:]]
    else:
        argv.append(image)
    return argv


def podman_service(podman: str, run_argv: Sequence[str], rm: str) -> dict[str, str]:
    """[Service] lines around ``podman run`` as ``podman generate systemd --new`` writes them (podman 4.3)."""
    return {
        "Type": "notify",
        "NotifyAccess": "all",
        "Environment": "PODMAN_SYSTEMD_UNIT=%n",
        "ExecStartPre": exec_line([rm, "-f", CIDFILE]),
        "ExecStart": exec_line(run_argv),
        "ExecStop": exec_line([podman, "stop", "--ignore", "-t", "10", CIDFILE_OPTION]),
        "ExecStopPost": exec_line([podman, "rm", "-f", "--ignore", "-t", "10", CIDFILE_OPTION]),
    }


def unit_sections(*, description: str, service: Mapping[str, str], slice_name: str,
                  limits: Mapping[str, str], after: Sequence[str] = (), before: Sequence[str] = (),
                  requires: Sequence[str] = (), wants: Sequence[str] = (), restart: str = "on-failure",
                  restart_sec: int = 5, backend: str = "oci") -> dict[str, dict[str, str]]:
    """The unit's sections: ordering and dependencies, the service with its slice and limits, the install target.

    Delegate=yes: the runtime makes the container's cgroup below the unit's, which systemd leaves alone then.
    """
    unit = {"Description": description,
            "Wants": " ".join(dict.fromkeys(["network-online.target", *wants])),
            "After": " ".join(dict.fromkeys(["network-online.target", *after]))}
    if before:
        unit["Before"] = " ".join(before)
    if requires:
        unit["Requires"] = " ".join(requires)
    if backend == "podman":
        unit["RequiresMountsFor"] = "%t/containers"
    service_section = {**service, "Slice": slice_name, "Delegate": "yes", "Restart": restart,
                       "RestartSec": f"{restart_sec}s", "TimeoutStopSec": "70", **limits}
    return {"Unit": unit, "Service": service_section, "Install": {"WantedBy": "multi-user.target"}}


def restart_relevant(sections: Mapping[str, Mapping[str, str]] | None, limit_names: Iterable[str]) -> dict[str, str]:
    """The [Service] settings a change of which needs a restart: all but the resource limits, which a daemon-reload
    applies to the running unit."""
    if not sections:
        return {}
    skip = set(limit_names)
    return {key: value for key, value in (sections.get("Service") or {}).items() if key not in skip}


def parse_unit_sections(text: str | None) -> dict[str, dict[str, str]]:
    """A unit file's sections as ``{section: {key: value}}`` (repeated keys joined with newlines); comments skipped."""
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in (text or "").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", ";")):
            continue
        if stripped.startswith("[") and stripped.endswith("]"):
            current = sections.setdefault(stripped[1:-1], {})
            continue
        key, sep, value = stripped.partition("=")
        if sep and current is not None:
            key = key.strip()
            current[key] = f"{current[key]}\n{value}" if key in current else value
    return sections


# ---------------------------------------------------------------------------------------------------------------------
# decisions

class Decision:
    """What to do with the deployments: ``action`` is none, new, switch_previous or rollback."""

    def __init__(self, action: str, reason: str, clone_from: str | None = None) -> None:
        self.action = action
        self.reason = reason
        # For a new deployment of an image already unpacked: the deployment whose root filesystem is reused.
        self.clone_from = clone_from

    @property
    def switches(self) -> bool:
        """Whether ``current`` moves."""
        return self.action != "none"

    def __repr__(self) -> str:
        return f"Decision({self.action!r}, {self.reason!r}, clone_from={self.clone_from!r})"


def decide_deployment(*, state: str, current: Mapping[str, t.Any] | None, previous: Mapping[str, t.Any] | None,
                      desired_digest: str | None, current_matches: bool, previous_matches: bool,
                      rolled_back_from: str | None = None) -> Decision:
    """Decide the deployment change for a state.

    ``current``/``previous`` are the deployments' info (with ``id`` and ``digest``); ``*_matches`` say whether a
    deployment runs exactly what the options ask for (digest and rendered config or podman command).
    ``desired_digest`` is None when no image is given (nothing to deploy). Raises ContainerError for a rollback
    without a previous deployment.
    """
    if state == "absent":
        return Decision("none", "removed")
    if state == "rollback":
        if current is None:
            raise ContainerError("state: rollback, but nothing is installed under this name")
        if previous is None:
            if rolled_back_from:
                return Decision("none", f"already rolled back from {rolled_back_from}")
            raise ContainerError(f"state: rollback, but {current['id']} has no previous deployment to return to "
                                 "(the first deployment, or keep_deployments=1)")
        if rolled_back_from and rolled_back_from == previous.get("id"):
            return Decision("none", f"already rolled back from {rolled_back_from}")
        return Decision("rollback", f"back from {current['id']} to {previous['id']}")
    if desired_digest is None:
        if current is None and state != "stopped":
            raise ContainerError(f"image: required with state={state} when nothing is installed yet")
        return Decision("none", "no image given")
    if current is not None and current.get("digest") == desired_digest and current_matches:
        return Decision("none", f"{current['id']} runs {short_digest(desired_digest)} as configured")
    if previous is not None and previous.get("digest") == desired_digest and previous_matches:
        return Decision("switch_previous", f"{previous['id']} already holds this image and configuration")
    clone_from = None
    for candidate in (current, previous):
        if candidate is not None and candidate.get("digest") == desired_digest:
            clone_from = candidate["id"]
            break
    reason = "new image" if clone_from is None else "new configuration of the same image"
    return Decision("new", reason, clone_from=clone_from)


ACTIVE_STATES = ("active", "activating", "reloading")


def decide_service(*, state: str, active_state: str, switched: bool, restart_settings_changed: bool,
                   sub_state: str = "") -> str | None:
    """What to do with the running service: start, restart, stop or None.

    A unit waiting for an automatic restart (``activating``/``auto-restart``: the container keeps exiting) does not
    count as running: ``started`` starts it again and waits for it, so the task shows the failure.
    """
    crash_loop = active_state == "activating" and sub_state == "auto-restart"
    running = active_state in ACTIVE_STATES and not crash_loop
    if state == "absent" or state == "stopped":
        return "stop" if running or crash_loop or active_state == "deactivating" else None
    if state in ("started", "rollback"):
        if not running:
            return "start"
        return "restart" if switched or restart_settings_changed else None
    # present: keep the service as it is, but a running one picks up a new deployment.
    if running and (switched or restart_settings_changed):
        return "restart"
    return None


def is_enabled(unit_file_state: str | None) -> bool:
    """Whether systemctl's UnitFileState counts as enabled."""
    return (unit_file_state or "") in ("enabled", "enabled-runtime", "linked", "linked-runtime")


# ---------------------------------------------------------------------------------------------------------------------
# waiting for a start

def watch_start(observe: Callable[[], Mapping[str, str]], *, clock: Callable[[], float],
                sleep: Callable[[float], None], timeout: float, stable_seconds: float,
                health: Callable[[], tuple[bool, str]] | None = None,
                interval: float = 1.0) -> tuple[bool, str]:
    """Wait until a (re)started unit is up: ``(True, how)`` or ``(False, why not)``.

    Up means active with the same invocation and main PID, and then the health check passes (with ``health``) or
    that lasted ``stable_seconds`` (without). A failed unit, an exited container, or an automatic restart (a crash
    systemd is handling) fail at once; otherwise the wait ends after ``timeout`` seconds.
    """
    deadline = clock() + timeout
    baseline: int | None = None
    key: tuple[str, str] | None = None
    since = clock()
    last_health = ""
    while True:
        shown = observe()
        active, sub = shown.get("ActiveState", ""), shown.get("SubState", "")
        restarts = int(shown.get("NRestarts") or 0) if str(shown.get("NRestarts") or "0").isdigit() else 0
        if baseline is None:
            baseline = restarts
        status = f"ActiveState={active}, SubState={sub}, Result={shown.get('Result', '')}, " \
                 f"exit status {shown.get('ExecMainStatus', '?')}"
        if active == "failed":
            return False, f"the unit failed ({status})"
        if restarts > baseline or sub == "auto-restart":
            return False, f"the container exited and systemd is restarting it ({status})"
        if active == "inactive" and key is not None:
            return False, f"the container exited ({status})"
        if active == "active":
            current_key = (shown.get("InvocationID", ""), shown.get("MainPID", ""))
            if current_key != key:
                key, since = current_key, clock()
            if health is not None:
                healthy, last_health = health()
                if healthy:
                    again = observe()
                    if again.get("ActiveState") == "active" and \
                            (again.get("InvocationID", ""), again.get("MainPID", "")) == key:
                        return True, f"active and healthy ({last_health})" if last_health else "active and healthy"
            elif clock() - since >= stable_seconds:
                return True, f"active for {stable_seconds:g}s"
        if clock() >= deadline:
            detail = f"; last health check: {last_health}" if last_health else ""
            return False, f"not up after {timeout:g}s ({status}){detail}"
        sleep(interval)
