# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Private to the collection: not a public API and may change without notice.

"""Pure decisions of the image module: wanted entries + observed local and registry state -> actions per entry.

Entries are planned in order against a simulated local store, so that an entry sees what the entries before it
do (a pull that moves a tag, an untag that leaves a last name). Check mode reports the plan; a real run executes
exactly the planned actions, so the predicted ``changed`` is the real one. Also here: where a signature for a
pushed image is staged (registries.d look-aside configuration) and what a staged signature says.
"""

from __future__ import annotations

import bz2
import json
import re
import typing as t
import zlib

from ansible_collections.containerhost.platform.plugins.module_utils._image_ref import ImageRef, image_id_matches

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

# Where containers/image stages signatures when registries.d configures nothing (running as root).
BUILTIN_LOOKASIDE = "file:///var/lib/containers/sigstore"


class PlanError(ValueError):
    """The wanted state cannot be reached; the message names the entry and what is missing."""


def short_id(image_id: str | None) -> str:
    """An image ID without ``sha256:``."""
    return (image_id or "").split(":", 1)[-1]


# ---------------------------------------------------------------------------------------------------------------------
# The local store, as podman image inspect showed it, and as the planned actions change it

class LocalImage:
    """One image in local storage: ID, names (RepoTags), manifest digests and the repositories it came from."""

    def __init__(self, image_id: str, names: Iterable[str] = (), digests: Iterable[str] = (),
                 digest: str | None = None, repos: Iterable[str] = ()) -> None:
        self.id = short_id(image_id)
        self.names = list(dict.fromkeys(names))
        self.digests = set(digests)
        self.digest = digest
        self.repos = set(repos) | {name.rsplit(":", 1)[0] for name in self.names}

    @classmethod
    def from_inspect(cls, data: Mapping[str, t.Any]) -> LocalImage:
        """From one ``podman image inspect`` entry."""
        repo_digests = [item for item in data.get("RepoDigests") or [] if "@" in item]
        digests = {item.rsplit("@", 1)[1] for item in repo_digests}
        if data.get("Digest"):
            digests.add(data["Digest"])
        return cls(data.get("Id") or "", data.get("RepoTags") or [], digests, data.get("Digest"),
                   {item.rsplit("@", 1)[0] for item in repo_digests})

    def copy(self) -> LocalImage:
        """An independent copy."""
        return LocalImage(self.id, list(self.names), set(self.digests), self.digest, set(self.repos))

    def state(self, registry_digest: str | None = None) -> dict[str, t.Any]:
        """ID, digest and names as results and diffs show them; the registry's digest when the image has it."""
        digest = registry_digest if registry_digest and registry_digest in self.digests else self.digest
        return {"id": self.id, "digest": digest, "names": sorted(self.names)}


class LocalStore:
    """Images by ID; looked up by name or digest as podman resolves references."""

    def __init__(self, images: Iterable[LocalImage] = ()) -> None:
        self.images: dict[str, LocalImage] = {}
        for image in images:
            if image.id and image.id not in self.images:
                self.images[image.id] = image

    @classmethod
    def from_inspect(cls, inspected: Iterable[Mapping[str, t.Any] | None]) -> LocalStore:
        """From inspect entries (None entries, for missing names, are skipped; duplicates are one image)."""
        return cls(LocalImage.from_inspect(data) for data in inspected if data)

    def copy(self) -> LocalStore:
        """An independent copy (the simulation works on one)."""
        return LocalStore(image.copy() for image in self.images.values())

    def find(self, ref: ImageRef) -> LocalImage | None:
        """The image a reference names: by tag in its names, or by digest from the same repository."""
        if ref.image_id:
            return next((image for image in self.images.values() if image_id_matches(image.id, ref.image_id)), None)
        if ref.digest:
            return next((image for image in self.images.values()
                         if ref.digest in image.digests and ref.name in image.repos), None)
        return next((image for image in self.images.values() if ref.image in image.names), None)

    def get(self, image_id: str) -> LocalImage | None:
        """The image with an ID."""
        return self.images.get(short_id(image_id))

    def _drop_name(self, name: str) -> None:
        """A name moves: no other image keeps it."""
        for image in self.images.values():
            if name in image.names:
                image.names.remove(name)

    def add(self, image_id: str, ref: ImageRef, digests: Iterable[str] = ()) -> LocalImage:
        """A pull: the image (new or existing) gets the reference's tag and digests."""
        image = self.get(image_id)
        if image is None:
            image = LocalImage(image_id)
            self.images[image.id] = image
        if ref.tag and not ref.digest:
            self.tag(image, ref)
        image.digests.update(digests)
        if image.digest is None and digests:
            image.digest = sorted(digests)[0]
        image.repos.add(ref.name or "")
        return image

    def tag(self, image: LocalImage, ref: ImageRef) -> None:
        """Give an image a name (taking it from any other image)."""
        name = ref.image or ""
        self._drop_name(name)
        image.names.append(name)
        image.repos.add(ref.name or "")

    def untag(self, image: LocalImage, name: str) -> None:
        """Remove one name."""
        if name in image.names:
            image.names.remove(name)

    def remove(self, image: LocalImage) -> None:
        """Remove an image."""
        self.images.pop(image.id, None)


# ---------------------------------------------------------------------------------------------------------------------
# What is wanted, what the registry holds, and the actions

class Remote:
    """What a registry (or layout) holds for a reference: manifest digest(s) and the config digest (= image ID)."""

    def __init__(self, digest: str, config_digest: str | None = None, instance_digest: str | None = None) -> None:
        self.digest = digest
        self.config_digest = config_digest
        self.instance_digest = instance_digest

    @property
    def digests(self) -> set[str]:
        """The manifest digest, and the platform instance digest of a list."""
        return {digest for digest in (self.digest, self.instance_digest) if digest}

    def same_image(self, image_id: str | None, digests: Iterable[str] = ()) -> bool:
        """Whether a local image (ID and digests) is the image the registry holds."""
        if self.digests & set(digests):
            return True
        return bool(self.config_digest and image_id and image_id_matches(self.config_digest, image_id))


class Wanted:
    """One entry of the image module: a name in a state, more tags, pushes, signing; or a copy (engine skopeo)."""

    def __init__(self, index: int, name: ImageRef, state: str = "present", tags: Sequence[ImageRef] = (),
                 push: bool = False, sign_by: str | None = None, source: ImageRef | None = None) -> None:
        self.index = index
        self.name = name
        self.state = state
        self.tags = list(tags)
        self.push = push
        self.sign_by = sign_by
        self.source = source

    @property
    def where(self) -> str:
        """How messages name the entry."""
        return f"images[{self.index}] ({self.name})"

    def push_targets(self) -> list[ImageRef]:
        """Registry names to push to: the name and the tags that are in a registry (not localhost) with a tag."""
        if not self.push:
            return []
        targets = [ref for ref in [self.name, *self.tags] if ref.is_registry and ref.tag and not ref.digest]
        return list(dict.fromkeys(targets))


class Action:
    """One step for an entry: kind (pull, tag, push, untag, remove, copy, delete, remove_path, remove_oci_ref)."""

    def __init__(self, kind: str, target: str, detail: str = "", **data: t.Any) -> None:
        self.kind = kind
        self.target = target
        self.detail = detail
        self.data = data

    def describe(self) -> str:
        """How results list the action."""
        return f"{self.kind} {self.target}" + (f" ({self.detail})" if self.detail else "")

    def __repr__(self) -> str:
        return f"Action({self.describe()!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Action) and (self.kind, self.target, self.detail) == (
            other.kind, other.target, other.detail)

    __hash__ = None  # type: ignore[assignment]


class EntryPlan:
    """The actions for one entry and the entry's state before and (predicted) after."""

    def __init__(self, wanted: Wanted) -> None:
        self.wanted = wanted
        self.actions: list[Action] = []
        self.before: dict[str, t.Any] | None = None
        self.after: dict[str, t.Any] | None = None
        self.registry_before: dict[str, str | None] = {}
        self.registry_after: dict[str, str | None] = {}
        self.notes: list[str] = []
        self.source_digest: str | None = None

    @property
    def changed(self) -> bool:
        """Whether the entry changes anything."""
        return bool(self.actions)


def _state(image: LocalImage | None, remote: Remote | None = None) -> dict[str, t.Any] | None:
    """An image's state for results, None when absent."""
    return image.state(remote.digest if remote else None) if image else None


def plan_podman(entries: Sequence[Wanted], store: LocalStore, remote: Mapping[str, Remote | None],
                signed: Mapping[str, bool | None] | None = None) -> list[EntryPlan]:
    """Plan every podman entry in order against a copy of the store.

    ``remote`` maps ``str(ref)`` to what the registry holds (None: the registry has no such image) for every
    reference that was queried; ``signed`` maps push targets to whether a signature for the registry's current
    digest is staged (None: unknown, as for an http staging location).
    """
    store = store.copy()
    signed = signed or {}
    return [_plan_podman_entry(entry, store, remote, signed) for entry in entries]


def _remote_for(entry: Wanted, remote: Mapping[str, Remote | None]) -> Remote | None:
    """The registry state of the entry's name; fails when the registry was asked and has no such image."""
    key = str(entry.name)
    if key in remote and remote[key] is None:
        raise PlanError(f"{entry.where}: {entry.name} is not in the registry (manifest unknown)")
    return remote.get(key)


def _plan_podman_entry(entry: Wanted, store: LocalStore, remote: Mapping[str, Remote | None],
                       signed: Mapping[str, bool | None]) -> EntryPlan:
    plan = EntryPlan(entry)
    name = entry.name
    image = store.find(name)
    name_remote = remote.get(str(name))
    plan.before = _state(image, name_remote)
    if entry.state == "absent":
        _plan_absent(plan, store, image)
        return plan
    pull = False
    reason = ""
    if image is None:
        if name.is_local_name:
            raise PlanError(f"{entry.where}: {name} is not in local storage, and localhost/ names cannot be pulled; "
                            "build or import it first, or name the registry to pull from")
        name_remote = _remote_for(entry, remote)
        pull = True
        reason = "missing"
    elif entry.state == "latest" and not name.digest:
        name_remote = _remote_for(entry, remote)
        if name_remote is not None and not name_remote.same_image(image.id, image.digests):
            pull = True
            reason = f"registry digest {name_remote.digest} differs"
    if pull:
        expected = short_id(name_remote.config_digest) if name_remote and name_remote.config_digest else f"<{name}>"
        plan.actions.append(Action("pull", str(name), reason))
        digests = name_remote.digests if name_remote else ([name.digest] if name.digest else [])
        image = store.add(expected, name, digests)
    if image is None:  # not reached: a missing image is pulled above
        raise PlanError(f"{entry.where}: {name} is neither in local storage nor to be pulled")
    retag = [ref for ref in entry.tags if getattr(store.find(ref), "id", None) != image.id]
    for ref in retag:
        store.tag(image, ref)
    if retag:
        plan.actions.append(Action("tag", ", ".join(str(ref) for ref in retag), f"image {image.id[:12]}",
                                   targets=[str(ref) for ref in retag]))
    for target in entry.push_targets():
        _plan_push(plan, entry, image, target, remote, signed)
    plan.after = _state(image, name_remote)
    return plan


def _plan_push(plan: EntryPlan, entry: Wanted, image: LocalImage, target: ImageRef,
               remote: Mapping[str, Remote | None], signed: Mapping[str, bool | None]) -> None:
    """Push when the registry's config digest is not the local image ID, or when a wanted signature is missing."""
    key = str(target)
    there = remote.get(key)
    plan.registry_before[key] = there.config_digest if there else None
    detail = ""
    if there is None or not there.same_image(image.id):
        detail = "not in the registry" if there is None else f"registry has config {there.config_digest}"
    elif entry.sign_by and signed.get(key) is False:
        detail = "no signature staged for the registry's digest"
    elif entry.sign_by and signed.get(key) is None:
        plan.notes.append(f"{key}: whether a signature is staged cannot be checked (the staging location is not a "
                          "file:// URL); not pushed again for it")
    if detail:
        if entry.sign_by:
            detail += f"; signed by {entry.sign_by}"
        plan.actions.append(Action("push", key, detail, sign=bool(entry.sign_by)))
        plan.registry_after[key] = f"sha256:{image.id}" if not image.id.startswith("<") else "(pushed)"
    else:
        plan.registry_after[key] = plan.registry_before[key]


def _plan_absent(plan: EntryPlan, store: LocalStore, image: LocalImage | None) -> None:
    """Untag when the image keeps other names, remove it with its last name; a digest removes the whole image."""
    name = plan.wanted.name
    if image is None:
        plan.after = None
        return
    if name.digest:
        if image.names:
            plan.actions.append(Action("untag", ", ".join(image.names), f"image {image.id[:12]}",
                                       image_id=image.id, names=list(image.names)))
        plan.actions.append(Action("remove", image.id[:12], f"carries {name.digest}", image=image.id))
        store.remove(image)
        plan.after = None
        return
    others = [other for other in image.names if other != name.image]
    if others:
        plan.actions.append(Action("untag", str(name), f"image {image.id[:12]} keeps {', '.join(sorted(others))}",
                                   image_id=image.id, names=[str(name)]))
        store.untag(image, name.image or "")
        plan.after = _state(image)
    else:
        plan.actions.append(Action("remove", str(name), f"image {image.id[:12]}, its last name", image=str(name)))
        store.remove(image)
        plan.after = None


# ---------------------------------------------------------------------------------------------------------------------
# engine skopeo: copies

def plan_copy(entry: Wanted, dest: Remote | None, source: Remote | None, source_queried: bool,
              signed: bool | None = None) -> EntryPlan:
    """Plan one copy entry: present copies when the destination is missing, latest when it holds another image,
    absent deletes the destination; with sign_by a docker destination without a staged signature is copied again."""
    plan = EntryPlan(entry)
    name = entry.name
    plan.source_digest = source.digest if source else None
    plan.before = {"digest": dest.digest, "config": dest.config_digest} if dest else None
    if entry.state == "absent":
        if dest is not None:
            plan.actions.append(_removal(name))
        plan.after = None
        return plan
    if source_queried and source is None:
        raise PlanError(f"{entry.where}: the source {entry.source} does not exist (manifest unknown or no such "
                        "file)")
    detail = ""
    if dest is None:
        detail = "destination missing"
    elif entry.state == "latest" and source is not None and not source.same_image(
            dest.config_digest and short_id(dest.config_digest), dest.digests):
        detail = f"source digest {source.digest} differs from {dest.digest}"
    elif entry.sign_by and name.transport == "docker" and signed is False:
        detail = "no signature staged for the destination's digest"
    if detail:
        if entry.sign_by:
            detail += f"; signed by {entry.sign_by}"
        plan.actions.append(Action("copy", str(name), f"from {entry.source}: {detail}", sign=bool(entry.sign_by)))
        keeps = source is not None and entry.source is not None and manifest_preserved(entry.source, name)
        plan.after = {"digest": source.digest if keeps and source else None,
                      "config": source.config_digest if source else None}
    else:
        plan.after = plan.before
    return plan


def manifest_preserved(source: ImageRef, dest: ImageRef) -> bool:
    """Whether a copy keeps the manifest bytes, so the destination gets the source's digest.

    Local storage and docker-archive hold uncompressed layers, which a copy compresses; a docker-archive destination
    converts to the Docker schema 2 format. The config digest (the image ID) stays the same in every case.
    """
    return source.transport in ("docker", "oci", "oci-archive", "dir") and dest.transport != "docker-archive"


def _removal(name: ImageRef) -> Action:
    """How a copy destination goes away, by transport."""
    if name.transport in ("docker", "containers-storage"):
        return Action("delete", str(name))
    if name.transport == "oci" and name.layout_ref:
        return Action("remove_oci_ref", str(name), f"{name.layout_ref} from the layout {name.path}")
    return Action("remove_path", str(name), name.path or "")


# ---------------------------------------------------------------------------------------------------------------------
# OCI layouts: what stays reachable when one name is removed

def oci_reachable(index: Mapping[str, t.Any], read_blob: t.Callable[[str], bytes | None]) -> set[str]:
    """Every blob digest reachable from an OCI layout's index (manifests, nested indexes, configs, layers)."""
    seen: set[str] = set()
    pending = [desc for desc in index.get("manifests") or [] if isinstance(desc, dict)]
    while pending:
        desc = pending.pop()
        digest = desc.get("digest")
        if not digest or digest in seen:
            continue
        seen.add(digest)
        media_type = desc.get("mediaType") or ""
        if "manifest" not in media_type and "index" not in media_type:
            continue
        blob = read_blob(digest)
        if blob is None:
            continue
        try:
            data = json.loads(blob)
        except ValueError:
            continue
        if not isinstance(data, dict):
            continue
        for child in [*(data.get("manifests") or []), data.get("config"), *(data.get("layers") or [])]:
            if isinstance(child, dict):
                child = dict(child)
                child.setdefault("mediaType", "application/octet-stream")
                pending.append(child)
    return seen


def oci_without_ref(index: Mapping[str, t.Any], ref_name: str) -> dict[str, t.Any]:
    """The layout index without the descriptors named ``ref_name``."""
    out = dict(index)
    out["manifests"] = [desc for desc in index.get("manifests") or []
                        if (desc.get("annotations") or {}).get("org.opencontainers.image.ref.name") != ref_name]
    return out


# ---------------------------------------------------------------------------------------------------------------------
# Look-aside signature staging (containers-registries.d(5)) and staged signatures

_PLAIN_KEY_RE = re.compile(r"""^(?P<key>"(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s'"#][^#]*?)\s*:(?:\s+(?P<value>.*))?$""")


def _scalar(text: str) -> t.Any:
    """A YAML scalar of the simple kinds registries.d files use (quoted or plain strings, booleans)."""
    text = text.strip()
    if text.startswith('"'):
        end = re.match(r'"(?:[^"\\]|\\.)*"', text)
        return json.loads(end.group(0)) if end else text
    if text.startswith("'"):
        end = re.match(r"'(?:[^']|'')*'", text)
        return end.group(0)[1:-1].replace("''", "'") if end else text
    text = re.sub(r"\s+#.*$", "", text).strip()
    if text in ("true", "false"):
        return text == "true"
    return text


def parse_simple_yaml(text: str) -> dict[str, t.Any]:
    """Block-style YAML mappings of scalars (what registries.d files hold), for hosts without PyYAML."""
    root: dict[str, t.Any] = {}
    stack: list[tuple[int, dict[str, t.Any]]] = [(-1, root)]
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#") or line.strip() in ("---", "..."):
            continue
        indent = len(line) - len(line.lstrip(" "))
        match = _PLAIN_KEY_RE.match(line.strip())
        if not match:
            raise ValueError(f"cannot read the line {line.strip()!r} (only block mappings are understood)")
        key = _scalar(match.group("key"))
        value = match.group("value")
        while stack and indent <= stack[-1][0]:
            stack.pop()
        parent = stack[-1][1]
        if value is None or not value.strip() or value.strip().startswith("#"):
            child: dict[str, t.Any] = {}
            parent[str(key)] = child
            stack.append((indent, child))
        else:
            parent[str(key)] = _scalar(value)
    return root


def merge_registries_d(documents: Iterable[Mapping[str, t.Any] | None]) -> dict[str, t.Any]:
    """Merge registries.d files: ``docker`` scopes of every file and the one ``default-docker``."""
    merged: dict[str, t.Any] = {"docker": {}, "default-docker": None}
    for document in documents:
        if not isinstance(document, dict):
            continue
        for scope, section in (document.get("docker") or {}).items():
            merged["docker"][str(scope)] = section or {}
        if document.get("default-docker") is not None:
            merged["default-docker"] = document["default-docker"] or {}
    return merged


def _section_url(section: Mapping[str, t.Any] | None, write: bool) -> str:
    """The look-aside URL of one configuration section (staging first when writing)."""
    if not isinstance(section, dict):
        return ""
    keys = ("lookaside-staging", "sigstore-staging", "lookaside", "sigstore") if write else ("lookaside", "sigstore")
    return next((str(section[key]) for key in keys if section.get(key)), "")


def policy_namespaces(ref: ImageRef) -> list[str]:
    """Scopes from the most to the least specific for a docker reference, as containers/image searches them."""
    name = ref.name or ""
    exact = ref.image or name
    scopes = [exact] if exact != name else []
    parts = name.split("/")
    for end in range(len(parts), 0, -1):
        scopes.append("/".join(parts[:end]))
    host = (ref.registry or "").split(":")[0]
    labels = host.split(".")
    if ":" not in (ref.registry or "") and len(labels) > 1:
        scopes.extend("*." + ".".join(labels[i:]) for i in range(1, len(labels)))
    return list(dict.fromkeys(scopes))


def staging_url(config: Mapping[str, t.Any], ref: ImageRef, write: bool = True) -> str:
    """The look-aside base URL containers/image uses for a docker reference (the built-in one when none is set)."""
    docker = config.get("docker") or {}
    for scope in policy_namespaces(ref):
        url = _section_url(docker.get(scope), write)
        if url:
            return url
    return _section_url(config.get("default-docker"), write) or BUILTIN_LOOKASIDE


def signature_dir(base_url: str, ref: ImageRef, digest: str) -> str | None:
    """The directory holding ``signature-N`` files for a digest; None when the URL is not file://."""
    if not base_url.startswith("file://"):
        return None
    algorithm, _sep, hexdigest = digest.partition(":")
    return f"{base_url[len('file://'):].rstrip('/')}/{ref.repository}@{algorithm}={hexdigest}"


def _packets(data: bytes) -> list[tuple[int, bytes]]:
    """(tag, body) of OpenPGP packets, old and new formats, partial and indeterminate lengths (RFC 4880 4.2)."""
    out = []
    pos = 0
    while pos < len(data):
        head = data[pos]
        if not head & 0x80:
            raise ValueError("not an OpenPGP packet")
        pos += 1
        if head & 0x40:
            tag = head & 0x3F
            body = b""
            while True:
                first = data[pos]
                if first < 192:
                    length, pos = first, pos + 1
                elif first < 224:
                    length, pos = ((first - 192) << 8) + data[pos + 1] + 192, pos + 2
                elif first == 255:
                    length, pos = int.from_bytes(data[pos + 1:pos + 5], "big"), pos + 5
                else:
                    length, pos = 1 << (first & 0x1F), pos + 1
                    body += data[pos:pos + length]
                    pos += length
                    continue
                body += data[pos:pos + length]
                pos += length
                break
        else:
            tag = (head >> 2) & 0x0F
            kind = head & 0x03
            if kind == 3:
                length = len(data) - pos
            else:
                size = (1, 2, 4)[kind]
                length, pos = int.from_bytes(data[pos:pos + size], "big"), pos + size
            body = data[pos:pos + length]
            pos += length
        out.append((tag, body))
    return out


def signature_payload(data: bytes) -> dict[str, t.Any] | None:
    """The JSON a simple-signing signature signs (identity and manifest digest), without verifying it."""
    try:
        pending = _packets(data)
        while pending:
            tag, body = pending.pop(0)
            if tag == 8:
                algorithm, compressed = body[0], body[1:]
                if algorithm == 1:
                    inner = zlib.decompress(compressed, -15)
                elif algorithm == 2:
                    inner = zlib.decompress(compressed)
                elif algorithm == 3:
                    inner = bz2.decompress(compressed)
                else:
                    inner = compressed
                pending = _packets(inner) + pending
            elif tag == 11:
                name_length = body[1]
                payload = json.loads(body[2 + name_length + 4:])
                return payload if isinstance(payload, dict) else None
    except (ValueError, IndexError, zlib.error, OSError):
        return None
    return None


def signature_matches(payload: Mapping[str, t.Any] | None, ref: ImageRef, digest: str) -> str | None:
    """``exact`` when a signature payload names the reference and digest, ``repository`` when another tag of the
    same repository, else None."""
    if not payload:
        return None
    critical = payload.get("critical") or {}
    identity = ((critical.get("identity") or {}).get("docker-reference") or "")
    signed_digest = (critical.get("image") or {}).get("docker-manifest-digest")
    if signed_digest != digest:
        return None
    if identity == (ref.image or ""):
        return "exact"
    if identity.split("@")[0].rsplit(":", 1)[0] == ref.name or identity.split("@")[0] == ref.name:
        return "repository"
    return None


def validsig_matches(status: str, sign_by: str) -> bool:
    """Whether ``gpg --status-fd 1 --verify`` output reports a good signature by the ``sign_by`` key.

    VALIDSIG carries the signing (sub)key's fingerprint and, last, the primary key's; a key ID or fingerprint given as
    sign_by must end one of them. A sign_by that is not hexadecimal (a user ID) accepts any valid signature.
    """
    wanted = sign_by.replace(" ", "").upper()
    if wanted.startswith("0X"):
        wanted = wanted[2:]
    for line in (status or "").splitlines():
        fields = line.split()
        if len(fields) < 3 or fields[:2] != ["[GNUPG:]", "VALIDSIG"]:
            continue
        if not re.fullmatch(r"[0-9A-F]+", wanted):
            return True
        fingerprints = [fields[2].upper(), fields[-1].upper()]
        if any(fingerprint.endswith(wanted) for fingerprint in fingerprints):
            return True
    return False
