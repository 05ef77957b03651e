# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Private to the collection: not a public API and may change without notice.

"""The one wrapper around ``skopeo``: remote (and layout) manifests and digests without pulling, copy, delete.

A manifest digest is the sha256 of the manifest bytes exactly as the registry serves them, so it is computed from
``skopeo inspect --raw`` (one request, no config download) rather than from ``--format {{.Digest}}``.
"""

from __future__ import annotations

import hashlib
import json
import platform
import typing as t

from ansible_collections.containerhost.platform.plugins.module_utils._image_ref import ImageRef
from ansible_collections.containerhost.platform.plugins.module_utils._podman import EngineError, EngineRunner, RegistryOptions

if t.TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from ansible.module_utils.basic import AnsibleModule

LIST_MEDIA_TYPES = ("application/vnd.docker.distribution.manifest.list.v2+json",
                    "application/vnd.oci.image.index.v1+json")
SCHEMA1_MEDIA_TYPES = ("application/vnd.docker.distribution.manifest.v1+json",
                       "application/vnd.docker.distribution.manifest.v1+prettyjws")
# uname -m -> (GOARCH, variant): how a manifest list names this machine's platform.
_ARCHES = {"x86_64": ("amd64", None), "amd64": ("amd64", None), "aarch64": ("arm64", None), "arm64": ("arm64", None),
           "armv7l": ("arm", "v7"), "armv6l": ("arm", "v6"), "i686": ("386", None), "i386": ("386", None),
           "ppc64le": ("ppc64le", None), "s390x": ("s390x", None), "riscv64": ("riscv64", None)}


def manifest_digest(raw: str | bytes) -> str:
    """The digest of a manifest: sha256 of its exact bytes."""
    data = raw.encode("utf-8") if isinstance(raw, str) else raw
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def machine_platform(machine: str | None = None) -> tuple[str, str, str | None]:
    """``(os, architecture, variant)`` of this machine as manifest lists name platforms."""
    arch, variant = _ARCHES.get(machine or platform.machine(), (machine or platform.machine(), None))
    return "linux", arch, variant


def parse_manifest(raw: str) -> dict[str, t.Any]:
    """A manifest's media type, config digest, layers and size; lists report their instances instead."""
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("the manifest is not a JSON object")
    media_type = data.get("mediaType") or ""
    if not media_type:
        if "manifests" in data:
            media_type = LIST_MEDIA_TYPES[1]
        elif data.get("schemaVersion") == 1:
            media_type = SCHEMA1_MEDIA_TYPES[0]
        else:
            media_type = "application/vnd.oci.image.manifest.v1+json"
    out: dict[str, t.Any] = {"media_type": media_type, "is_list": "manifests" in data, "config_digest": None,
                             "layers": [], "size": None, "instances": []}
    if out["is_list"]:
        out["instances"] = [{"digest": entry.get("digest"), "platform": entry.get("platform") or {}}
                            for entry in data.get("manifests") or [] if isinstance(entry, dict)]
        return out
    config = data.get("config") or {}
    out["config_digest"] = config.get("digest")
    layers = data.get("layers") or data.get("fsLayers") or []
    out["layers"] = [layer.get("digest") or layer.get("blobSum") for layer in layers if isinstance(layer, dict)]
    sizes = [layer.get("size") for layer in layers if isinstance(layer, dict)]
    if all(isinstance(size, int) for size in sizes) and isinstance(config.get("size"), int):
        out["size"] = sum(sizes) + config["size"]
    return out


def pick_instance(instances: Sequence[Mapping[str, t.Any]], wanted: tuple[str, str, str | None]) -> str | None:
    """The digest of the list entry for a platform (an entry without variant matches any variant)."""
    os_name, arch, variant = wanted
    fallback = None
    for entry in instances:
        plat = entry.get("platform") or {}
        if plat.get("os") != os_name or plat.get("architecture") != arch:
            continue
        if variant is None or plat.get("variant") in (None, variant):
            if plat.get("variant") == variant:
                return entry.get("digest")
            fallback = fallback or entry.get("digest")
    return fallback


class RemoteImage:
    """What a registry (or layout) holds for a reference: the manifest digest and the image's config digest.

    For a manifest list, ``digest`` is the list's and ``config_digest`` the one of this machine's platform entry
    (``instance_digest``); podman records both digests when it pulls the list.
    """

    def __init__(self, digest: str, media_type: str, config_digest: str | None, layers: Sequence[str] = (),
                 size: int | None = None, instance_digest: str | None = None) -> None:
        self.digest = digest
        self.media_type = media_type
        self.config_digest = config_digest
        self.layers = list(layers)
        self.size = size
        self.instance_digest = instance_digest

    @property
    def digests(self) -> set[str]:
        """The list digest and the platform instance digest (one of them for a plain manifest)."""
        return {digest for digest in (self.digest, self.instance_digest) if digest}

    def as_dict(self) -> dict[str, t.Any]:
        """For results."""
        return {"digest": self.digest, "media_type": self.media_type, "config_digest": self.config_digest,
                "instance_digest": self.instance_digest}


def _docker_side(ref: ImageRef | None) -> bool:
    return ref is not None and ref.transport == "docker"


class Skopeo(EngineRunner):
    """Runs skopeo for a module."""

    def __init__(self, module: AnsibleModule, executable: str = "skopeo",
                 environ: Mapping[str, str] | None = None) -> None:
        super().__init__(module, executable, environ)

    @staticmethod
    def registry_args(ref: ImageRef, options: RegistryOptions) -> list[str]:
        """Auth file, TLS and CA options of inspect, delete and list-tags (only meaningful for docker)."""
        args = ["--authfile", options.auth_file] if options.auth_file else []
        if ref.transport == "docker":
            if not options.validate_certs:
                args.append("--tls-verify=false")
            if options.ca_cert_dir:
                args += ["--cert-dir", options.ca_cert_dir]
        return args

    def raw_manifest(self, ref: ImageRef, options: RegistryOptions) -> str | None:
        """The manifest bytes (as text) for a reference; None when the registry or layout has no such image."""
        try:
            return self.run(["inspect", "--raw", *self.registry_args(ref, options), ref.transport_ref],
                            image=str(ref))[1]
        except EngineError as exc:
            if exc.kind == "not_found":
                return None
            raise

    def remote_image(self, ref: ImageRef, options: RegistryOptions,
                     machine: tuple[str, str, str | None] | None = None) -> RemoteImage | None:
        """The manifest digest and config digest for a reference (one request; two for a manifest list)."""
        raw = self.raw_manifest(ref, options)
        if raw is None:
            return None
        digest = manifest_digest(raw)
        try:
            parsed = parse_manifest(raw)
        except ValueError as exc:
            raise EngineError([self.binary, "inspect", "--raw", ref.transport_ref], 0, raw,
                              f"Error: the manifest is not valid JSON: {exc}", image=str(ref)) from None
        if not parsed["is_list"]:
            return RemoteImage(digest, parsed["media_type"], parsed["config_digest"], parsed["layers"], parsed["size"])
        instance = pick_instance(parsed["instances"], machine or machine_platform())
        if instance is None or ref.transport != "docker":
            return RemoteImage(digest, parsed["media_type"], None)
        instance_ref = ImageRef("docker", registry=ref.registry, repository=ref.repository, digest=instance)
        raw_instance = self.raw_manifest(instance_ref, options)
        if raw_instance is None:
            return RemoteImage(digest, parsed["media_type"], None)
        entry = parse_manifest(raw_instance)
        return RemoteImage(digest, parsed["media_type"], entry["config_digest"], entry["layers"], entry["size"],
                           instance_digest=instance)

    def config(self, ref: ImageRef, options: RegistryOptions) -> dict[str, t.Any]:
        """The image configuration (OCI config JSON: created, config, rootfs, history, ...) without pulling."""
        out = self.run(["inspect", "--config", *self.registry_args(ref, options), ref.transport_ref],
                       image=str(ref))[1]
        try:
            data = json.loads(out)
        except ValueError as exc:
            raise EngineError([self.binary, "inspect", "--config", ref.transport_ref], 0, out,
                              f"Error: the image configuration is not valid JSON: {exc}", image=str(ref)) from None
        return data if isinstance(data, dict) else {}

    def list_tags(self, ref: ImageRef, options: RegistryOptions) -> list[str]:
        """Every tag of the reference's repository (one request)."""
        repo = ImageRef("docker", registry=ref.registry, repository=ref.repository)
        out = self.run(["list-tags", *self.registry_args(ref, options), repo.transport_ref], image=ref.name)[1]
        data = json.loads(out or "{}")
        return list(data.get("Tags") or [])

    def copy(self, source: ImageRef, dest: ImageRef, options: RegistryOptions, sign_by: str | None = None,
             passphrase_file: str | None = None, dest_text: str | None = None) -> str | None:
        """Copy an image (``dest_text`` overrides where it is written, e.g. a temporary path); returns its digest."""
        args = ["copy", "--quiet"]
        if options.auth_file:
            args += ["--authfile", options.auth_file]
        for side, ref in (("src", source), ("dest", dest)):
            if _docker_side(ref):
                if not options.validate_certs:
                    args.append(f"--{side}-tls-verify=false")
                if options.ca_cert_dir:
                    args += [f"--{side}-cert-dir", options.ca_cert_dir]
        if sign_by:
            args += ["--sign-by", sign_by]
            if passphrase_file:
                args += ["--sign-passphrase-file", passphrase_file]
        return self.run_for_digest(args, [source.transport_ref, dest_text or dest.transport_ref], image=str(dest))

    def delete(self, ref: ImageRef, options: RegistryOptions) -> None:
        """Delete an image from a registry (the registry deletes the manifest, so every tag pointing at it)."""
        self.run(["delete", *self.registry_args(ref, options), ref.transport_ref], image=str(ref))
