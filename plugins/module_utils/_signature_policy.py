# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Private to the collection: not a public API and may change without notice.

"""The signature policy of containers/image: containers-policy.json(5) and containers-registries.d(5), as data.

Builds the policy a host should have from the module's parameters, checks any policy document's shape the way
containers/image parses it (strictly: an unknown or misplaced field rejects the whole file and with it every pull),
renders the JSON and the registries.d YAML, and names the keyring files. Pure: no I/O.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import posixpath
import re
import typing as t

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ansible_collections.containerhost.platform.plugins.module_utils._gpg import (
    OpenPGPKeyError,
    PublicKey,
    keyring,
    load_keys,
    unique_keys,
)

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

MODULE_NAME = "image_trust"
FINGERPRINT = f"containerhost.platform:{MODULE_NAME}"
# Files the module owns carry this name prefix; only those are ever removed.
FILE_PREFIX = "containerhost-platform"
KEYRING_PREFIX = f"{FILE_PREFIX}-"
KEYRING_SUFFIX = ".asc"
REGISTRIES_D_FILE = f"{FILE_PREFIX}.yaml"
NAME_MAX = 255

DEFAULTS = ("reject", "accept")
TRUST_LEVELS = ("signed", "accept", "reject")
# Transports the policy file may name (containers/image 5.23 plus ones it knows by name in other builds).
POLICY_TRANSPORTS = ("atomic", "containers-storage", "dir", "docker", "docker-archive", "docker-daemon", "oci",
                     "oci-archive", "ostree", "sif", "tarball")
# Transports whose images are on this host already: "accept as they are" for pushing from them and loading them
# (podman import reads a tarball: transport, podman load docker-archive: and oci-archive:).
LOCAL_TRANSPORTS = ("containers-storage", "dir", "docker-archive", "oci", "oci-archive", "tarball")
REQUIREMENT_TYPES = ("insecureAcceptAnything", "reject", "signedBy", "sigstoreSigned")
KEY_TYPES = ("GPGKeys",)
IDENTITY_TYPES = ("matchExact", "matchRepoDigestOrExact", "matchRepository", "exactReference", "exactRepository",
                  "remapIdentity")
# Fields of each requirement and identity type besides "type" (containers/image rejects any other field).
_REQUIREMENT_FIELDS = {
    "insecureAcceptAnything": (),
    "reject": (),
    "signedBy": ("keyType", "keyPath", "keyPaths", "keyData", "signedIdentity"),
    "sigstoreSigned": ("keyPath", "keyData", "signedIdentity"),
}
_IDENTITY_FIELDS = {
    "matchExact": (),
    "matchRepoDigestOrExact": (),
    "matchRepository": (),
    "exactReference": ("dockerReference",),
    "exactRepository": ("dockerRepository",),
    "remapIdentity": ("prefix", "signedPrefix"),
}
LOOKASIDE_SCHEMES = ("file", "http", "https")
# containers/image writes signatures only to file:// locations.
STAGING_SCHEMES = ("file",)

# docker/distribution's reference grammar: host components, an optional port, lower-case path components.
_HOST_COMPONENT = r"(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])"
_HOST_RE = re.compile(rf"^{_HOST_COMPONENT}(?:\.{_HOST_COMPONENT})*(?::[0-9]{{1,5}})?$")
_WILDCARD_HOST_RE = re.compile(rf"^\*\.{_HOST_COMPONENT}(?:\.{_HOST_COMPONENT})*$")
_PATH_COMPONENT_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$")
NAME_TOTAL_LENGTH_MAX = 255

SCOPE_FORMS = "registry[:port][/namespace[/repository]], such as registry.example:5000/team/app"


class PolicyError(ValueError):
    """Parameters or a policy document containers/image would refuse; the message names the place and the fix."""


class ScopeError(ValueError):
    """A docker scope or reference that is not in the accepted form."""


# ---------------------------------------------------------------------------------------------------------------------
# docker scopes and references

def _split_host(text: str) -> tuple[str, str]:
    """The first path component and the rest (without the slash)."""
    host, dummy, rest = text.partition("/")
    return host, rest


def _check_host(host: str, text: str, wildcard: bool = False) -> None:
    """A registry host[:port]; the component must look like a host, or docker would read it as a repository."""
    if wildcard and _WILDCARD_HOST_RE.match(host):
        return
    if not host:
        raise ScopeError(f"{text!r} has no registry host; accepted: {SCOPE_FORMS}")
    if not _HOST_RE.match(host):
        raise ScopeError(f"{text!r}: {host!r} is not a registry host[:port] (letters, digits, dots, dashes and an "
                         f"optional :port); accepted: {SCOPE_FORMS}")
    dummy, colon, port = host.partition(":")
    if colon and not 0 < int(port) < 65536:
        raise ScopeError(f"{text!r}: port {port} is not between 1 and 65535")
    if "." not in host and ":" not in host and host != "localhost":
        raise ScopeError(f"{text!r}: the first component {host!r} is not a registry host (it needs a dot, a :port or "
                         f"to be localhost; otherwise images names read it as a repository); accepted: {SCOPE_FORMS}")


def _check_path(path: str, text: str) -> None:
    """Repository path components: lower-case letters, digits and single separators."""
    for component in path.split("/"):
        if not component:
            raise ScopeError(f"{text!r} has an empty path component (a doubled or trailing '/'); accepted: "
                             f"{SCOPE_FORMS}")
        if not _PATH_COMPONENT_RE.match(component):
            raise ScopeError(f"{text!r}: path component {component!r} is not valid (lower-case letters and digits, "
                             f"separated by '.', '_', '__' or dashes); accepted: {SCOPE_FORMS}")


def validate_docker_scope(scope: t.Any, *, allow_exact: bool = False, allow_wildcard: bool = False) -> str:
    """Check a docker transport scope: ``registry[:port][/namespace[/repository]]``; raise ScopeError if it is not.

    ``allow_exact`` also accepts a repository with a tag or digest (an image scope, valid in policy.json);
    ``allow_wildcard`` accepts ``*.example.com`` (all subdomains).
    """
    if not isinstance(scope, str) or not scope:
        raise ScopeError(f"{scope!r} is not a scope; accepted: {SCOPE_FORMS}")
    if "://" in scope:
        raise ScopeError(f"{scope!r} has a URL scheme; a scope is a registry name without one, such as "
                         f"{scope.split('://', 1)[1].rstrip('/') or 'registry.example:5000'}")
    if any(c.isspace() for c in scope):
        raise ScopeError(f"{scope!r} contains white space; accepted: {SCOPE_FORMS}")
    if len(scope) > NAME_TOTAL_LENGTH_MAX:
        raise ScopeError(f"{scope[:40]!r}... is {len(scope)} characters long; at most {NAME_TOTAL_LENGTH_MAX}")
    name, at, digest = scope.partition("@")
    host, path = _split_host(name)
    tag = ""
    if path and ":" in path.rsplit("/", 1)[-1]:
        path, dummy, tag = path.rpartition(":")
    if (tag or at) and not allow_exact:
        what = "a digest" if at else "a tag"
        raise ScopeError(f"{scope!r} names {what}; a scope here is a registry, namespace or repository without a tag "
                         f"or digest: {SCOPE_FORMS}")
    _check_host(host, scope, wildcard=allow_wildcard and not path and not tag and not at)
    if path:
        _check_path(path, scope)
    elif tag or at:
        raise ScopeError(f"{scope!r}: a tag or digest needs a repository before it; accepted: {SCOPE_FORMS}")
    if tag and not _TAG_RE.match(tag):
        raise ScopeError(f"{scope!r}: tag {tag!r} is not valid (letters, digits, '_', '.', '-', at most 128)")
    if at and not _DIGEST_RE.match(digest):
        raise ScopeError(f"{scope!r}: digest {digest!r} is not valid (algorithm:hex, such as sha256:...)")
    return scope


def validate_docker_reference(reference: t.Any, *, need_tag_or_digest: bool) -> str:
    """A fully qualified image reference: with a tag or digest (exactReference) or without (a repository)."""
    checked = validate_docker_scope(reference, allow_exact=need_tag_or_digest)
    name = checked.partition("@")[0]
    has_tag = ":" in name.partition("/")[2].rsplit("/", 1)[-1]
    if need_tag_or_digest and not ("@" in checked or has_tag):
        raise ScopeError(f"{reference!r} has neither a tag nor a digest; accepted: registry/repository:tag or "
                         "registry/repository@sha256:...")
    if "/" not in checked:
        raise ScopeError(f"{reference!r} names a registry only; accepted: registry[:port]/repository")
    return checked


# ---------------------------------------------------------------------------------------------------------------------
# Validating a policy document

def _key(name: str) -> str:
    """A mapping key as it appears in an issue path."""
    return f"[{json.dumps(name)}]"


def _issue(path: str, message: str, accepted: str = "") -> str:
    """One issue line: where, what, and what is accepted."""
    return f"{path}: {message}" + (f"; accepted: {accepted}" if accepted else "")


def _one_of(values: Iterable[str]) -> str:
    """``a, b or c``."""
    values = list(values)
    return values[0] if len(values) == 1 else f"{', '.join(values[:-1])} or {values[-1]}"


def _absolute_path_issue(path: str, value: t.Any, what: str) -> str | None:
    """An issue when value is not an absolute, normalised path."""
    if not isinstance(value, str) or not value:
        return _issue(path, f"{value!r} is not a path", f"an absolute path to {what}")
    if not value.startswith("/"):
        return _issue(path, f"{value!r} is relative (containers/image would resolve it against the working directory "
                            "of each command)", f"an absolute path to {what}")
    return None


def validate_identity(identity: t.Any, path: str) -> list[str]:
    """Issues of a signedIdentity object."""
    if not isinstance(identity, dict):
        return [_issue(path, f"{identity!r} is not an object", '{"type": ...}')]
    kind = identity.get("type")
    if kind not in _IDENTITY_FIELDS:
        return [_issue(f"{path}.type", f"{kind!r} is not an identity type" if "type" in identity else "missing",
                       _one_of(IDENTITY_TYPES))]
    issues = []
    allowed = _IDENTITY_FIELDS[kind]
    for name in identity:
        if name != "type" and name not in allowed:
            issues.append(_issue(f"{path}.{name}", f"is not a field of {kind}",
                                 _one_of(["type", *allowed]) if allowed else "only type"))
    for name in allowed:
        if name not in identity:
            issues.append(_issue(f"{path}.{name}", f"missing (required by {kind})"))
            continue
        try:
            if name == "dockerReference":
                validate_docker_reference(identity[name], need_tag_or_digest=True)
            elif name == "dockerRepository":
                validate_docker_reference(identity[name], need_tag_or_digest=False)
            else:
                validate_docker_scope(identity[name])
        except ScopeError as exc:
            issues.append(_issue(f"{path}.{name}", str(exc)))
    return issues


def validate_requirement(requirement: t.Any, path: str) -> list[str]:
    """Issues of one requirement object."""
    if not isinstance(requirement, dict):
        return [_issue(path, f"{requirement!r} is not an object", '{"type": ...}')]
    kind = requirement.get("type")
    if kind not in _REQUIREMENT_FIELDS:
        return [_issue(f"{path}.type", f"{kind!r} is not a requirement type" if "type" in requirement else "missing",
                       _one_of(REQUIREMENT_TYPES))]
    issues = []
    allowed = _REQUIREMENT_FIELDS[kind]
    for name in requirement:
        if name != "type" and name not in allowed:
            issues.append(_issue(f"{path}.{name}", f"is not a field of {kind}",
                                 _one_of(["type", *allowed]) if allowed else "only type"))
    if kind == "signedBy":
        if requirement.get("keyType") not in KEY_TYPES:
            issues.append(_issue(f"{path}.keyType", f"{requirement['keyType']!r} is not supported"
                                 if "keyType" in requirement else "missing (required by signedBy)", _one_of(KEY_TYPES)))
    if kind in ("signedBy", "sigstoreSigned"):
        sources = [name for name in ("keyPath", "keyPaths", "keyData") if name in allowed and name in requirement]
        choices = _one_of([name for name in ("keyPath", "keyPaths", "keyData") if name in allowed])
        if len(sources) != 1:
            issues.append(_issue(path, f"{kind} needs exactly one key source, found "
                                       f"{_one_of(sources) if sources else 'none'}", f"exactly one of {choices}"))
        if "keyPath" in requirement:
            issue = _absolute_path_issue(f"{path}.keyPath", requirement["keyPath"], "a keyring file")
            issues.extend([issue] if issue else [])
        if "keyPaths" in requirement:
            paths = requirement["keyPaths"]
            if not isinstance(paths, list) or not paths:
                issues.append(_issue(f"{path}.keyPaths", f"{paths!r} is not a non-empty list",
                                     "a list of absolute paths to keyring files"))
            else:
                for number, value in enumerate(paths):
                    issue = _absolute_path_issue(f"{path}.keyPaths[{number}]", value, "a keyring file")
                    issues.extend([issue] if issue else [])
        if "keyData" in requirement:
            issues.extend(_key_data_issues(requirement["keyData"], f"{path}.keyData"))
        if "signedIdentity" in requirement:
            issues.extend(validate_identity(requirement["signedIdentity"], f"{path}.signedIdentity"))
    return issues


def _key_data_issues(data: t.Any, path: str) -> list[str]:
    """Issues of keyData: base64 of a keyring."""
    if not isinstance(data, str) or not data:
        return [_issue(path, "is not a string", "base64 of a keyring (gpg --export KEYID | base64 -w0)")]
    try:
        base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return [_issue(path, "is not valid base64", "base64 of a keyring (gpg --export KEYID | base64 -w0)")]
    return []


def validate_requirements(requirements: t.Any, path: str) -> list[str]:
    """Issues of a requirement list: non-empty, each requirement valid."""
    if not isinstance(requirements, list):
        return [_issue(path, f"{requirements!r} is not a list", "a non-empty list of requirement objects")]
    if not requirements:
        return [_issue(path, "is empty (containers/image refuses an empty list)",
                       'a non-empty list; [{"type": "insecureAcceptAnything"}] accepts anything')]
    issues = []
    for number, requirement in enumerate(requirements):
        issues.extend(validate_requirement(requirement, f"{path}[{number}]"))
    return issues


def validate_scope(transport: str, scope: t.Any, path: str) -> list[str]:
    """Issues of a scope of a transport ("" is every transport's default scope)."""
    if not isinstance(scope, str):
        return [_issue(path, f"{scope!r} is not a string")]
    if scope == "":
        return []
    if transport in ("docker", "atomic"):
        try:
            validate_docker_scope(scope, allow_exact=True, allow_wildcard=True)
        except ScopeError as exc:
            return [_issue(path, str(exc))]
    elif transport in ("dir", "oci", "oci-archive", "docker-archive"):
        directory = scope.rpartition(":")[0] if transport == "oci" and ":" in scope.rpartition("/")[2] else scope
        if not directory.startswith("/"):
            return [_issue(path, f"{scope!r} is not an absolute path", "an absolute path, or \"\" for the whole "
                                                                       "transport")]
        if directory == "/":
            return [_issue(path, "\"/\" is not allowed", "\"\" for the whole transport")]
        if posixpath.normpath(directory) != directory:
            return [_issue(path, f"{scope!r} is not in canonical form", posixpath.normpath(directory))]
    elif transport == "containers-storage":
        if not scope.startswith("[") or "]" not in scope:
            return [_issue(path, f"{scope!r} does not start with a [driver@graphroot] store specification",
                           "[driver@graphroot+runroot] optionally followed by an image name, or \"\"")]
    elif transport == "docker-daemon":
        return [_issue(path, "docker-daemon supports no scopes", "\"\" only")]
    return []


def validate_policy(document: t.Any) -> list[str]:
    """Every issue of a policy document, as ``path: message; accepted: ...`` lines (empty when it is valid)."""
    if not isinstance(document, dict):
        return [_issue("(top level)", f"{type(document).__name__} is not an object", '{"default": [...]}')]
    issues = []
    for name in document:
        if name not in ("default", "transports"):
            issues.append(_issue(name, "is not a top-level field", "default, transports"))
    if "default" not in document:
        issues.append(_issue("default", "missing (the global default is mandatory)",
                             '[{"type": "reject"}] or [{"type": "insecureAcceptAnything"}]'))
    else:
        issues.extend(validate_requirements(document["default"], "default"))
    transports = document.get("transports", {})
    if not isinstance(transports, dict):
        return [*issues, _issue("transports", f"{transports!r} is not an object", "transport name -> scopes")]
    for transport, scopes in transports.items():
        where = f"transports{_key(transport)}"
        if transport not in POLICY_TRANSPORTS:
            issues.append(_issue(where, f"{transport!r} is not a transport (containers/image would ignore it, so its "
                                        "rules would never apply)", _one_of(POLICY_TRANSPORTS)))
            continue
        if not isinstance(scopes, dict):
            issues.append(_issue(where, f"{scopes!r} is not an object", "scope -> list of requirements"))
            continue
        for scope, requirements in scopes.items():
            issues.extend(validate_scope(transport, scope, f"{where}{_key(scope)}"))
            issues.extend(validate_requirements(requirements, f"{where}{_key(scope)}"))
    return issues


def check_policy(document: t.Any) -> None:
    """Raise PolicyError listing every issue of a policy document."""
    issues = validate_policy(document)
    if issues:
        raise PolicyError("invalid signature policy: " + " | ".join(issues))


# ---------------------------------------------------------------------------------------------------------------------
# The desired state from the module's parameters

@dataclass
class RegistryTrust:
    """One entry of ``registries``: its scope, trust, keys and look-aside locations, validated."""

    index: int
    scope: str
    trust: str = "signed"
    keys: list[PublicKey] = field(default_factory=list)
    key_files: list[str] = field(default_factory=list)
    lookaside: str | None = None
    lookaside_staging: str | None = None
    signed_identity: dict[str, t.Any] | None = None

    @property
    def where(self) -> str:
        """How messages name this entry."""
        return f"registries[{self.index}] ({self.scope})"

    def add_key_file(self, path: str, blob: bytes) -> None:
        """Add the keys of a key file read from the host (armoured or binary)."""
        try:
            self.keys.extend(load_keys(blob, f"{self.where}: key_files: {path}"))
        except OpenPGPKeyError as exc:
            raise PolicyError(str(exc)) from None

    @property
    def unique_keys(self) -> list[PublicKey]:
        """Every key once, in the order given (keys, then key files)."""
        return unique_keys(self.keys)


def _entry_error(where: str, name: str, message: str) -> PolicyError:
    """An error about one field of a registries entry."""
    return PolicyError(f"{where}: {name}: {message}")


def validate_url(url: t.Any, staging: bool) -> str:
    """A look-aside URL: file, http or https to read; file only to write (staging)."""
    schemes = STAGING_SCHEMES if staging else LOOKASIDE_SCHEMES
    accepted = ("a file:///absolute/directory URL (containers/image writes signatures only to local directories)"
                if staging else "a file:///absolute/directory, http:// or https:// URL")
    if not isinstance(url, str) or not url:
        raise ValueError(f"{url!r} is not a URL; accepted: {accepted}")
    parts = urlsplit(url)
    if parts.scheme not in schemes:
        raise ValueError(f"{url!r} has the scheme {parts.scheme or '(none)'!r}; accepted: {accepted}")
    if any(c.isspace() for c in url):
        raise ValueError(f"{url!r} contains white space; accepted: {accepted}")
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise ValueError(f"{url!r} is not a local absolute path; accepted: {accepted} (three slashes: "
                             "file:///var/lib/...)")
    elif not parts.netloc:
        raise ValueError(f"{url!r} has no host; accepted: {accepted}")
    return url


def normalise_registry(index: int, params: Mapping[str, t.Any]) -> RegistryTrust:
    """Validate one ``registries`` entry (everything but the key files, which are on the host); raise PolicyError."""
    raw_scope = params.get("scope")
    where = f"registries[{index}] ({raw_scope})"
    try:
        scope = validate_docker_scope(raw_scope)
    except ScopeError as exc:
        raise _entry_error(where, "scope", str(exc)) from None
    trust = params.get("trust") or "signed"
    if trust not in TRUST_LEVELS:
        raise _entry_error(where, "trust", f"{trust!r} is not a trust level; accepted: {_one_of(TRUST_LEVELS)}")
    entry = RegistryTrust(index=index, scope=scope, trust=trust)
    keys = params.get("keys") or []
    key_files = params.get("key_files") or []
    identity = params.get("signed_identity")
    if trust == "signed":
        if not keys and not key_files:
            raise _entry_error(where, "keys", "trust: signed needs the public keys whose signatures are accepted; "
                                              "give keys (ASCII-armoured text), key_files (paths on the host) or both")
    else:
        for name, value in (("keys", keys), ("key_files", key_files), ("signed_identity", identity)):
            if value:
                raise _entry_error(where, name, f"only with trust: signed (this entry has trust: {trust}, which "
                                                "checks no signature)")
    for number, text in enumerate(keys):
        label = f"{where}: keys[{number}]"
        if not isinstance(text, str):
            raise PolicyError(f"{label}: is not text; accepted: an ASCII-armoured public key block")
        try:
            entry.keys.extend(load_keys(text, label))
        except OpenPGPKeyError as exc:
            raise PolicyError(str(exc)) from None
    for number, path in enumerate(key_files):
        if not isinstance(path, str) or not path.startswith("/"):
            raise _entry_error(where, f"key_files[{number}]", f"{path!r} is not an absolute path on the host")
        entry.key_files.append(path)
    for name, staging in (("lookaside", False), ("lookaside_staging", True)):
        value = params.get(name)
        if value is None:
            continue
        try:
            setattr(entry, name, validate_url(value, staging))
        except ValueError as exc:
            raise _entry_error(where, name, str(exc)) from None
    if identity is not None:
        issues = validate_identity(identity, "signed_identity")
        if issues:
            raise PolicyError(f"{where}: " + " | ".join(issues))
        entry.signed_identity = dict(identity)
    return entry


def normalise_registries(entries: Sequence[Mapping[str, t.Any]]) -> list[RegistryTrust]:
    """Validate every entry; a scope may appear once."""
    out: list[RegistryTrust] = []
    seen: dict[str, str] = {}
    for index, params in enumerate(entries):
        entry = normalise_registry(index, params)
        if entry.scope in seen:
            raise _entry_error(entry.where, "scope", f"{entry.scope} is already declared by {seen[entry.scope]}; "
                                                     "declare each scope once (put every key of a scope in one entry)")
        seen[entry.scope] = entry.where
        out.append(entry)
    return out


def normalise_local_transports(transports: Sequence[t.Any]) -> list[str]:
    """The local transports, each once; docker and unknown names are refused."""
    out: list[str] = []
    for number, name in enumerate(transports):
        if name not in LOCAL_TRANSPORTS:
            hint = " (registries go in registries, or use default: accept)" if name in ("docker", "atomic") else ""
            raise PolicyError(f"local_transports[{number}]: {name!r} is not a local transport{hint}; accepted: "
                              f"{_one_of(LOCAL_TRANSPORTS)}")
        if name not in out:
            out.append(name)
    return out


def keyring_file_name(scope: str) -> str:
    """The keyring file of a scope: readable and one-to-one (':' only occurs in the host, where '_' cannot)."""
    slug = scope.replace("/", "+").replace(":", "_")
    name = f"{KEYRING_PREFIX}{slug}{KEYRING_SUFFIX}"
    if len(name) > NAME_MAX:
        digest = hashlib.sha256(scope.encode()).hexdigest()[:16]
        name = f"{KEYRING_PREFIX}{slug[:200]}-{digest}{KEYRING_SUFFIX}"
    return name


def is_owned_keyring(name: str) -> bool:
    """Whether a file name in key_dir is one of the module's keyrings."""
    return name.startswith(KEYRING_PREFIX) and name.endswith(KEYRING_SUFFIX)


def keyring_path(key_dir: str, scope: str) -> str:
    """Absolute path of a scope's keyring file."""
    return posixpath.join(key_dir, keyring_file_name(scope))


def render_keyring(entry: RegistryTrust) -> str:
    """The keyring file of a signed entry: one armour block with every key of the scope."""
    keys = entry.unique_keys
    return keyring(keys, [FINGERPRINT, f"keys for {entry.scope}: {len(keys)} (any one of them verifies)"])


def requirement(kind: str) -> dict[str, str]:
    """A requirement without fields."""
    return {"type": kind}


def default_requirements(default: str) -> list[dict[str, t.Any]]:
    """The global default: reject or accept anything."""
    if default not in DEFAULTS:
        raise PolicyError(f"default: {default!r} is not accepted; accepted: {_one_of(DEFAULTS)}")
    return [requirement("reject" if default == "reject" else "insecureAcceptAnything")]


def registry_requirements(entry: RegistryTrust, key_dir: str) -> list[dict[str, t.Any]]:
    """The requirements of one scope.

    Requirements in a list are ANDed; a signedBy requirement accepts a signature by any key of its keyring. So every
    key of a scope goes into one keyring file and one signedBy requirement: a signature by any of them is enough.
    """
    if entry.trust == "accept":
        return [requirement("insecureAcceptAnything")]
    if entry.trust == "reject":
        return [requirement("reject")]
    signed: dict[str, t.Any] = {"type": "signedBy", "keyType": "GPGKeys",
                                "keyPath": keyring_path(key_dir, entry.scope)}
    if entry.signed_identity is not None:
        signed["signedIdentity"] = entry.signed_identity
    return [signed]


def desired_policy(default: str, registries: Sequence[RegistryTrust], local_transports: Sequence[str],
                   key_dir: str) -> dict[str, t.Any]:
    """The whole policy document."""
    document: dict[str, t.Any] = {"default": default_requirements(default)}
    transports: dict[str, dict[str, t.Any]] = {}
    if registries:
        transports["docker"] = {entry.scope: registry_requirements(entry, key_dir) for entry in registries}
    for name in local_transports:
        transports.setdefault(name, {})[""] = [requirement("insecureAcceptAnything")]
    if transports:
        document["transports"] = transports
    return document


def render_policy(document: Mapping[str, t.Any]) -> str:
    """The canonical policy.json text."""
    return json.dumps(document, indent=4) + "\n"


def parse_policy(text: str | None) -> t.Any:
    """A policy file's data; None when there is no file or it is not JSON (a policy containers/image refuses)."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def policy_text_for_diff(text: str | None) -> str:
    """A policy file as a diff shows it: canonical when it parses (so formatting is no difference), else as is."""
    document = parse_policy(text)
    return render_policy(document) if document is not None else (text or "")


# ---------------------------------------------------------------------------------------------------------------------
# registries.d

def render_registries_d(entries: Sequence[RegistryTrust], header_lines: Sequence[str]) -> str | None:
    """The registries.d YAML with every scope that has look-aside locations; None when none has."""
    sections = [entry for entry in entries if entry.lookaside or entry.lookaside_staging]
    if not sections:
        return None
    lines = [f"# {line}" if line else "#" for line in header_lines]
    lines.append("docker:")
    for entry in sections:
        # JSON strings are YAML double-quoted scalars: no quoting rules of our own.
        lines.append(f"  {json.dumps(entry.scope)}:")
        if entry.lookaside:
            lines.append(f"    lookaside: {json.dumps(entry.lookaside)}")
        if entry.lookaside_staging:
            lines.append(f"    lookaside-staging: {json.dumps(entry.lookaside_staging)}")
    return "\n".join(lines) + "\n"


_YAML_KEY_RE = re.compile(r"""^(?P<key>"(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s'"#][^#]*?)\s*:(?:\s|$)""")


def registries_d_scopes(text: str) -> list[str]:
    """Scopes a registries.d file configures under ``docker:`` (block-style YAML, as the files are written).

    A best-effort reader: the hosts need not have PyYAML, and this only looks for scopes another file already
    configures, which containers/image refuses (one scope in two files fails every pull).
    """
    scopes = []
    in_docker = False
    indent: int | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if not line[0].isspace():
            in_docker = bool(re.match(r"^docker\s*:\s*(?:#.*)?$", line))
            indent = None
            continue
        if not in_docker:
            continue
        depth = len(line) - len(line.lstrip())
        if indent is None:
            indent = depth
        if depth != indent:
            continue
        match = _YAML_KEY_RE.match(stripped)
        if match:
            key = match.group("key")
            if key.startswith('"'):
                key = json.loads(key)
            elif key.startswith("'"):
                key = key[1:-1].replace("''", "'")
            scopes.append(key)
    return scopes
