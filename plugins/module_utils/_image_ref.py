# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Private to the collection: not a public API and may change without notice.

"""Image references: parsing and validation for the transports the image modules accept, with clear errors.

The grammar follows the distribution reference grammar that podman and skopeo use (containers/image): a docker
reference is ``[registry[:port]/]path[:tag][@digest]``; the other transports are ``<transport>:<details>``.
"""

from __future__ import annotations

import re
import typing as t

TRANSPORTS = ("docker", "containers-storage", "oci", "oci-archive", "dir", "docker-archive")
# Transports containers/image knows but these modules do not handle: named in the error instead of a parse failure.
OTHER_TRANSPORTS = ("docker-daemon", "ostree", "sif", "tarball", "atomic")
LAYOUT_TRANSPORTS = ("oci", "oci-archive", "dir", "docker-archive")

NAME_TOTAL_LENGTH_MAX = 255
_HOST_COMPONENT = r"(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])"
_DOMAIN_RE = re.compile(rf"^(?:{_HOST_COMPONENT}(?:\.{_HOST_COMPONENT})*|\[[0-9A-Fa-f:]+\])(?::[0-9]{{1,5}})?$")
_PATH_COMPONENT_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGESTS = {"sha256": 64, "sha384": 96, "sha512": 128}
_DIGEST_RE = re.compile(r"^(sha256|sha384|sha512):([0-9a-f]+)$")
_IMAGE_ID_RE = re.compile(r"^[0-9a-f]{64}$")
# An OCI layout's image name (org.opencontainers.image.ref.name) as containers/image accepts it.
_LAYOUT_NAME_RE = re.compile(r"^[A-Za-z0-9._:@/+-]+$")
# [driver@graphroot+runroot:options] before a containers-storage name.
_STORE_RE = re.compile(r"^\[([^\]]*)\]")

DOCKER_FORMS = "registry[:port]/repository[:tag] or registry[:port]/repository@sha256:<64 hex digits>"
QUALIFIED_HINT = ("image names must be fully qualified: the first part must be a registry host (with a dot, a "
                  "port, or localhost), such as registry.example:5000/team/app:1.0 or localhost/app:1.0; short names "
                  "would be resolved through the host's unqualified-search list, which can pull from a registry "
                  "nobody chose")


class ImageRefError(ValueError):
    """A reference that cannot be used; the message names it and says what is accepted."""


class ImageRef:
    """A parsed image reference; ``str()`` gives the canonical form podman and skopeo accept."""

    __slots__ = ("transport", "registry", "repository", "tag", "digest", "path", "store", "image_id", "layout_ref")

    def __init__(self, transport: str, *, registry: str | None = None, repository: str | None = None,
                 tag: str | None = None, digest: str | None = None, path: str | None = None,
                 store: str | None = None, image_id: str | None = None, layout_ref: str | None = None) -> None:
        self.transport = transport
        self.registry = registry
        self.repository = repository
        self.tag = tag
        self.digest = digest
        self.path = path
        self.store = store
        self.image_id = image_id
        self.layout_ref = layout_ref

    def _key(self) -> tuple[t.Any, ...]:
        return tuple(getattr(self, slot) for slot in self.__slots__)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ImageRef) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"ImageRef({str(self)!r})"

    @property
    def name(self) -> str | None:
        """``registry/repository`` (or just the repository when there is no registry); None without an image name."""
        if self.repository is None:
            return None
        return f"{self.registry}/{self.repository}" if self.registry else self.repository

    @property
    def image(self) -> str | None:
        """The docker-style name with tag or digest (``registry/repo:tag``, ``registry/repo@sha256:...``)."""
        if self.repository is None:
            return None
        text = self.name or ""
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text

    @property
    def is_local_name(self) -> bool:
        """Whether the name lives in local storage only (``localhost/...``): nothing to pull it from or push it to."""
        return self.registry is not None and self.registry.split(":")[0] == "localhost"

    @property
    def is_registry(self) -> bool:
        """Whether the reference points into a registry (a docker reference with a registry that is not localhost)."""
        return self.transport == "docker" and self.registry is not None and not self.is_local_name

    @property
    def is_layout(self) -> bool:
        """Whether the reference is a file or directory on the host (oci, oci-archive, dir, docker-archive)."""
        return self.transport in LAYOUT_TRANSPORTS

    @property
    def transport_ref(self) -> str:
        """The reference with its transport, as skopeo takes it (``docker://registry/repo:tag``, ``dir:/path``)."""
        if self.transport == "docker":
            return f"docker://{self.image}"
        return str(self)

    def with_tag(self, tag: str | None) -> ImageRef:
        """The same repository with another tag and no digest."""
        return ImageRef(self.transport, registry=self.registry, repository=self.repository, tag=tag,
                        path=self.path, store=self.store, layout_ref=self.layout_ref)

    def __str__(self) -> str:
        if self.transport == "docker":
            return self.image or ""
        if self.transport == "containers-storage":
            store = f"[{self.store}]" if self.store else ""
            return f"containers-storage:{store}{self.image or self.image_id or ''}"
        if self.transport == "dir":
            return f"dir:{self.path}"
        if self.transport == "docker-archive":
            suffix = f":{self.image}" if self.repository else (f":{self.layout_ref}" if self.layout_ref else "")
            return f"docker-archive:{self.path}{suffix}"
        return f"{self.transport}:{self.path}" + (f":{self.layout_ref}" if self.layout_ref else "")


def _error(text: str, problem: str, accepted: str) -> ImageRefError:
    """An ImageRefError naming the reference, what is wrong and what is accepted."""
    return ImageRefError(f"image reference {text!r}: {problem}; accepted: {accepted}")


def split_transport(text: str) -> tuple[str | None, str]:
    """``(transport, rest)`` when ``text`` starts with a transport name, else ``(None, text)``.

    ``registry.example:5000/app`` and ``localhost:5000/app`` are docker names with a port, not transports;
    a word before ``:`` is only a transport when containers/image knows one by that name, or when it is
    followed by ``//`` (``foo://``), which no image name can contain.
    """
    if text.startswith("docker://"):
        return "docker", text[len("docker://"):]
    prefix, sep, rest = text.partition(":")
    if not sep:
        return None, text
    if prefix in TRANSPORTS or prefix in OTHER_TRANSPORTS:
        return prefix, rest
    if rest.startswith("//") and re.match(r"^[A-Za-z][A-Za-z0-9+.-]*$", prefix):
        return prefix, rest
    return None, text


def _is_domain(component: str) -> bool:
    """Whether the first path component is a registry host, as the distribution grammar decides it."""
    return "." in component or ":" in component or component == "localhost" or component != component.lower()


def parse_docker_name(text: str, *, original: str | None = None, require_qualified: bool = True,
                      allow_digest: bool = True, allow_tag: bool = True,
                      default_tag: str | None = "latest") -> ImageRef:
    """Parse ``[registry[:port]/]path[:tag][@digest]`` into a docker ImageRef (tag ``latest`` when none is given)."""
    shown = original if original is not None else text
    if not text:
        raise _error(shown, "it is empty", DOCKER_FORMS)
    if any(c.isspace() for c in text):
        raise _error(shown, "it contains white space", DOCKER_FORMS)
    remainder, at, digest = text.partition("@")
    if at:
        match = _DIGEST_RE.match(digest)
        if not match or len(match.group(2)) != _DIGESTS[match.group(1)]:
            raise _error(shown, f"{digest!r} is not a digest",
                         "sha256: followed by 64 lower-case hex digits (or sha384/sha512 with 96/128)")
        if not allow_digest:
            raise _error(shown, "a digest is not accepted here", "a name with a tag")
    # A tag follows the last ':' after the last '/' (a ':' before it is the registry port).
    slash = remainder.rfind("/")
    colon = remainder.rfind(":")
    tag = None
    if colon > slash:
        remainder, tag = remainder[:colon], remainder[colon + 1:]
        if not _TAG_RE.match(tag):
            raise _error(shown, f"tag {tag!r} is not valid",
                         "up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'")
        if not allow_tag:
            raise _error(shown, "a tag is not accepted here", "a name without tag")
    if tag and at:
        raise _error(shown, "it has both a tag and a digest; the engines ignore the tag then",
                     "either a tag or a digest (the digest pins the content)")
    parts = remainder.split("/")
    registry = None
    if len(parts) > 1 and _is_domain(parts[0]):
        registry = parts.pop(0)
        if not _DOMAIN_RE.match(registry):
            raise _error(shown, f"registry {registry!r} is not a host name",
                         "host[:port] of letters, digits, '-' and '.', such as registry.example:5000")
    if not registry and require_qualified:
        raise _error(shown, "it is a short name", QUALIFIED_HINT)
    for component in parts:
        if not _PATH_COMPONENT_RE.match(component):
            problem = (f"repository part {component!r} has upper-case letters" if component != component.lower()
                       else f"repository part {component!r} is not valid" if component else "it has an empty path part")
            raise _error(shown, problem, "lower-case letters and digits, separated by '.', '_', '__' or dashes, "
                                         "parts separated by '/'")
    repository = "/".join(parts)
    full = f"{registry}/{repository}" if registry else repository
    if len(full) > NAME_TOTAL_LENGTH_MAX:
        raise _error(shown, f"the name is {len(full)} characters long", f"at most {NAME_TOTAL_LENGTH_MAX}")
    if not tag and not at:
        tag = default_tag
    return ImageRef("docker", registry=registry, repository=repository, tag=tag, digest=digest or None)


def _parse_path(text: str, rest: str, transport: str, *, allow_ref: bool) -> tuple[str, str | None]:
    """Split ``/path[:ref]`` of a layout transport; the path must be absolute and free of ':'."""
    path, sep, ref = rest.partition(":") if allow_ref else (rest, "", "")
    forms = f"{transport}:/absolute/path" + ("[:name]" if allow_ref else "")
    if not path:
        raise _error(text, f"{transport}: needs a path", forms)
    if not path.startswith("/"):
        raise _error(text, f"path {path!r} is not absolute", forms)
    if sep and not ref:
        raise _error(text, "the name after the path is empty", forms)
    if path != "/" and path.endswith("/"):
        path = path.rstrip("/")
    return path, ref or None


def parse_reference(text: t.Any, *, transports: t.Sequence[str] = TRANSPORTS, require_qualified: bool = True,
                    default_tag: str | None = "latest") -> ImageRef:
    """Parse an image reference; a reference without transport is a docker (registry) name.

    ``transports`` limits what is accepted (podman's names: ``("docker",)``); ``require_qualified`` refuses short
    names such as ``app:1`` for docker and containers-storage names.
    """
    accepted_transports = ", ".join(transports)
    if not isinstance(text, str):
        raise ImageRefError(f"image reference {text!r} is not a string; accepted: {DOCKER_FORMS}")
    transport, rest = split_transport(text.strip())
    text = text.strip()
    if transport is None:
        transport = "docker"
    if transport not in TRANSPORTS:
        known = " (containers/image knows it, these modules do not handle it)" if transport in OTHER_TRANSPORTS else ""
        raise _error(text, f"unknown transport {transport!r}{known}", f"the transports {accepted_transports}")
    if transport not in transports:
        only_names = transports == ("docker",)
        raise _error(text, f"the {transport} transport is not accepted here",
                     DOCKER_FORMS if only_names else f"the transports {accepted_transports}")
    if transport == "docker":
        return parse_docker_name(rest, original=text, require_qualified=require_qualified, default_tag=default_tag)
    if transport == "containers-storage":
        store = None
        match = _STORE_RE.match(rest)
        if match:
            store, rest = match.group(1), rest[match.end():]
        if _IMAGE_ID_RE.match(rest) or (rest.startswith("@") and _IMAGE_ID_RE.match(rest[1:])):
            return ImageRef(transport, store=store, image_id=rest.lstrip("@"))
        ref = parse_docker_name(rest, original=text, require_qualified=require_qualified, default_tag=default_tag)
        return ImageRef(transport, registry=ref.registry, repository=ref.repository, tag=ref.tag, digest=ref.digest,
                        store=store)
    if transport == "dir":
        path, dummy = _parse_path(text, rest, transport, allow_ref=False)
        return ImageRef(transport, path=path)
    path, layout_ref = _parse_path(text, rest, transport, allow_ref=True)
    if transport == "docker-archive":
        if layout_ref is None or re.match(r"^@[0-9]+$", layout_ref):
            return ImageRef(transport, path=path, layout_ref=layout_ref)
        ref = parse_docker_name(layout_ref, original=text, require_qualified=False, allow_digest=False)
        return ImageRef(transport, path=path, registry=ref.registry, repository=ref.repository, tag=ref.tag)
    if layout_ref is not None and not _LAYOUT_NAME_RE.match(layout_ref):
        raise _error(text, f"image name {layout_ref!r} in the layout is not valid",
                     "letters, digits and . _ : @ / + -")
    return ImageRef(transport, path=path, layout_ref=layout_ref)


def image_id_matches(image_id: str | None, wanted: str | None) -> bool:
    """Whether two image IDs (``sha256:`` prefixed or not, full or abbreviated to 12+ digits) name the same image."""
    if not image_id or not wanted:
        return False
    a = image_id.split(":", 1)[-1]
    b = wanted.split(":", 1)[-1]
    return a == b or (len(b) >= 12 and a.startswith(b)) or (len(a) >= 12 and b.startswith(a))
