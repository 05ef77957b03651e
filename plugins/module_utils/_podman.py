# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Private to the collection: not a public API and may change without notice.

"""The one wrapper around ``podman`` for images: argv lists, ``image inspect`` parsing, failures classified.

podman and skopeo share containers/image, so their failure messages are the same; ``classify_failure`` and
``EngineError`` serve both runners.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import typing as t

from ansible_collections.containerhost.platform.plugins.module_utils._image_ref import ImageRef, image_id_matches

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from ansible.module_utils.basic import AnsibleModule

# Fixed, parseable output whatever the host's locale.
ENVIRON = {"LANG": "C", "LC_ALL": "C", "LC_MESSAGES": "C"}

# (kind, what the operator reads, patterns in containers/image's messages), first match wins. Policy comes before
# "not found": a refused image can say "no signature exists".
_FAILURES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("policy", "refused by the signature policy",
     ("source image rejected", "rejected by policy", "signature was required", "invalid gpg signature",
      "signature for identity", "is not accepted", "no signature exists", "signed by an untrusted key",
      "signature verification failed", "not signed by", "insecureacceptanything")),
    ("signing", "signing failed",
     ("creating signature", "signing is not supported", "cannot determine signing identity",
      "pushing signatures", "writing signature")),
    ("auth", "authentication failed",
     ("unauthorized", "authentication required", "invalid username/password", "incorrect username or password",
      "requested access to the resource is denied", "denied:", "401 unauthorized")),
    ("tls", "TLS verification failed",
     ("x509:", "tls:", "certificate signed by unknown authority", "certificate is not valid",
      "server gave http response to https client", "certificate has expired")),
    ("not_found", "not found",
     ("manifest unknown", "name unknown", "image not known", "no such image", "identifier is not an image",
      "no descriptor found", "no such file or directory", "does not resolve to an image", "tag not known")),
    ("unreachable", "registry unreachable",
     ("connection refused", "no such host", "i/o timeout", "network is unreachable", "no route to host",
      "connection reset", "tls handshake timeout", "server misbehaving")),
    ("in_use", "in use by a container",
     ("image used by", "in use by", "being used by")),
)

_HINTS = {
    "policy": "the host's /etc/containers/policy.json decides which images are accepted",
    "auth": "check username/password or auth_file for this registry",
    "tls": "give the registry's CA with ca_cert_dir (or /etc/containers/certs.d/<host:port>/ca.crt on the host); "
           "validate_certs=false only for test registries",
    "unreachable": "check the registry address and that it listens",
}
_PASSPHRASE_HINT = "the key needs a passphrase: give sign_passphrase_file"

_CONTEXT_RE = re.compile(r'^(?:Error parsing image name "[^"]*": |initializing source \S+: )')
_GPGME_RE = re.compile(r'gpgme\.Signature\{.*?Fingerprint:"([0-9A-Fa-f]*)".*?Status:gpgme\.Error\{err:(0x[0-9a-fA-F]+)\}.*\}')
_FATAL_RE = re.compile(r'level=fatal msg="((?:[^"\\]|\\.)*)"')


class EngineError(Exception):
    """A podman or skopeo call failed; ``kind`` classifies it (policy, auth, tls, not_found, ...)."""

    def __init__(self, argv: Sequence[str], rc: int, stdout: str, stderr: str, image: str | None = None) -> None:
        self.argv = list(argv)
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.image = image
        self.detail = failure_detail(stderr or stdout)
        self.kind, self.summary = classify_failure(self.detail)
        super().__init__(self.message())

    def message(self, with_image: bool = True) -> str:
        """``<image>: <summary>: <detail>`` with a hint where one helps."""
        detail = self.detail or f"{os.path.basename(self.argv[0])} exited with status {self.rc} and no message"
        head = f"{self.image}: " if self.image and with_image else ""
        text = f"{head}{self.summary}: {detail}" if self.summary else f"{head}{detail}"
        hint = _HINTS.get(self.kind or "")
        if self.kind == "signing" and "inappropriate ioctl" in detail.lower():
            hint = _PASSPHRASE_HINT
        return f"{text} ({hint})" if hint else text

    def result(self) -> dict[str, t.Any]:
        """The failure as keyword arguments for fail_json."""
        return {"cmd": self.argv, "rc": self.rc, "stdout": self.stdout, "stderr": self.stderr,
                "failure": self.kind or "other"}


def failure_detail(text: str) -> str:
    """The error line of podman/skopeo output: ``Error: ...`` or skopeo's ``level=fatal msg="..."``.

    Progress lines ("Trying to pull", "Copying blob") and retry warnings are dropped.
    """
    fatal = _FATAL_RE.findall(text or "")
    if fatal:
        return _strip_context(json.loads(f'"{fatal[-1]}"'))
    errors = [line[len("Error: "):].strip() for line in (text or "").splitlines() if line.startswith("Error: ")]
    if errors:
        return _strip_context(errors[-1])
    lines = [line.strip() for line in (text or "").splitlines() if line.strip() and "level=warning" not in line
             and not line.startswith(("Trying to pull", "Getting image source", "Copying ", "Writing manifest",
                                      "Storing signatures", "Signing manifest"))]
    return _strip_context(lines[-1]) if lines else ""


def _strip_context(detail: str) -> str:
    """Drop the wrappers that repeat the reference (skopeo's misleading "Error parsing image name", podman's
    "initializing source"), keeping the cause; say in words what gpgme's structures mean."""
    detail = _CONTEXT_RE.sub("", detail, count=1).strip()
    match = _GPGME_RE.search(detail)
    if match:
        # gpgme packs an error source into the high bits; the code is the low 16 bits (libgpg-error).
        fingerprint, code = match.group(1), int(match.group(2), 16) & 0xFFFF
        if code == 9:  # GPG_ERR_NO_PUBKEY: the signing key is not among the keys the policy names
            words = f"signed by key {fingerprint}, which is not among the keys the policy trusts for this image"
        elif code == 8:  # GPG_ERR_BAD_SIGNATURE
            words = f"the signature by key {fingerprint} does not match what it signs (altered or damaged)"
        else:
            words = f"the signature by key {fingerprint} does not verify (gpg error code {code})"
        detail = detail[:match.start()] + words + detail[match.end():]
    if "unexpected gpg signature count 0" in detail.lower():
        detail += " (the signature is damaged or was altered: it holds no valid OpenPGP signature)"
    return detail


def classify_failure(detail: str) -> tuple[str | None, str | None]:
    """``(kind, summary)`` for a containers/image failure message; ``(None, None)`` when it is none of the known."""
    lowered = (detail or "").lower()
    for kind, summary, patterns in _FAILURES:
        if any(pattern in lowered for pattern in patterns):
            return kind, summary
    return None, None


class RegistryOptions:
    """How to reach registries: auth file, TLS verification and the CA directory (shared by podman and skopeo)."""

    def __init__(self, auth_file: str | None = None, validate_certs: bool = True,
                 ca_cert_dir: str | None = None) -> None:
        self.auth_file = auth_file
        self.validate_certs = validate_certs
        self.ca_cert_dir = ca_cert_dir

    def podman_args(self) -> list[str]:
        """Options for podman pull/push. Without validate_certs=false nothing is passed, so TLS is verified unless
        the host's registries.conf marks the registry insecure."""
        args = []
        if self.auth_file:
            args += ["--authfile", self.auth_file]
        if not self.validate_certs:
            args.append("--tls-verify=false")
        if self.ca_cert_dir:
            args += ["--cert-dir", self.ca_cert_dir]
        return args


# ---------------------------------------------------------------------------------------------------------------------
# podman image inspect

def parse_inspect(text: str) -> list[dict[str, t.Any]]:
    """The JSON array ``podman image inspect`` prints (also for a partial result, when some names are missing)."""
    text = (text or "").strip()
    if not text:
        return []
    data = json.loads(text)
    if not isinstance(data, list):
        raise ValueError("podman image inspect did not print a JSON array")
    return [item for item in data if isinstance(item, dict)]


def missing_names(stderr: str) -> list[str]:
    """Names podman reported as missing (``inspecting object: NAME: image not known``), in order."""
    return re.findall(r"inspecting object: (\S+?): (?:image not known|no such image)", stderr or "")


def image_digests(image: Mapping[str, t.Any]) -> set[str]:
    """Every manifest digest the local image is known by (its Digest and those in RepoDigests)."""
    digests = {image.get("Digest")} if image.get("Digest") else set()
    for repo_digest in image.get("RepoDigests") or []:
        if "@" in repo_digest:
            digests.add(repo_digest.rsplit("@", 1)[1])
    return digests


def image_matches(image: Mapping[str, t.Any], ref: ImageRef | str) -> bool:
    """Whether an inspected image is the one a reference names (by RepoTags, RepoDigests, or its ID)."""
    if isinstance(ref, str):
        return image_id_matches(image.get("Id"), ref)
    if ref.image_id:
        return image_id_matches(image.get("Id"), ref.image_id)
    if ref.digest:
        return f"{ref.name}@{ref.digest}" in (image.get("RepoDigests") or [])
    return ref.image in (image.get("RepoTags") or [])


def match_inspected(refs: Sequence[ImageRef | str], images: Sequence[Mapping[str, t.Any]]) -> dict[str, dict | None]:
    """Map each reference (by its text) to the inspected image it names, or None when podman found none."""
    found: dict[str, dict | None] = {}
    for ref in refs:
        key = str(ref)
        found[key] = next((dict(image) for image in images if image_matches(image, ref)), None)
    return found


def normalise_image(image: Mapping[str, t.Any]) -> dict[str, t.Any]:
    """What the image modules return about a local image, from one ``podman image inspect`` entry."""
    config = image.get("Config") or {}
    history = [{"created": step.get("created"), "created_by": step.get("created_by"),
                "comment": step.get("comment"), "empty_layer": bool(step.get("empty_layer", False))}
               for step in image.get("History") or []]
    return {
        "id": image.get("Id"),
        "digest": image.get("Digest"),
        "repo_tags": list(image.get("RepoTags") or []),
        "repo_digests": list(image.get("RepoDigests") or []),
        "created": image.get("Created"),
        "labels": dict(image.get("Labels") or config.get("Labels") or {}),
        "env": list(config.get("Env") or []),
        "entrypoint": list(config.get("Entrypoint") or []),
        "cmd": list(config.get("Cmd") or []),
        "exposed_ports": sorted((config.get("ExposedPorts") or {}).keys()),
        "working_dir": config.get("WorkingDir") or "",
        "user": config.get("User") or image.get("User") or "",
        "layers": list((image.get("RootFS") or {}).get("Layers") or []),
        "history": history,
        "size": image.get("Size"),
        "architecture": image.get("Architecture"),
        "os": image.get("Os"),
        "manifest_type": image.get("ManifestType"),
    }


class EngineRunner:
    """Runs one image tool (podman, skopeo) for a module; failures raise EngineError naming the image."""

    def __init__(self, module: AnsibleModule, executable: str, environ: Mapping[str, str] | None = None) -> None:
        self.module = module
        self.binary = executable if "/" in executable else module.get_bin_path(executable, required=True)
        self.environ = {**ENVIRON, **(environ or {})}

    def run(self, args: Sequence[str], image: str | None = None, check: bool = True) -> tuple[int, str, str]:
        """Run ``<tool> <args>``; with check, a non-zero exit raises EngineError."""
        argv = [self.binary, *args]
        rc, out, err = self.module.run_command(argv, environ_update=self.environ)
        if check and rc != 0:
            raise EngineError(argv, rc, out, err, image=image)
        return rc, out, err

    def run_for_digest(self, args: Sequence[str], operands: Sequence[str], image: str) -> str | None:
        """Run ``<tool> <args> --digestfile FILE <operands>``; the manifest digest the tool wrote, if any."""
        workdir = tempfile.mkdtemp(prefix="containerhost-digest-")
        try:
            digest_file = os.path.join(workdir, "digest")
            self.run([*args, "--digestfile", digest_file, *operands], image=image)
            try:
                with open(digest_file, encoding="utf-8") as handle:
                    return handle.read().strip() or None
            except FileNotFoundError:
                return None
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


class Podman(EngineRunner):
    """Runs podman image commands for a module."""

    def __init__(self, module: AnsibleModule, executable: str = "podman",
                 environ: Mapping[str, str] | None = None) -> None:
        super().__init__(module, executable, environ)

    def inspect(self, refs: Iterable[ImageRef | str]) -> dict[str, dict | None]:
        """Inspect every named image with ONE ``podman image inspect``; missing ones map to None.

        podman prints the images it found and exits 125 naming the missing ones; any other failure raises.
        """
        refs = list(dict.fromkeys(refs))
        if not refs:
            return {}
        names = [str(ref) for ref in refs]
        rc, out, err = self.run(["image", "inspect", "--", *names], check=False)
        try:
            images = parse_inspect(out)
        except ValueError as exc:
            raise EngineError([self.binary, "image", "inspect", *names], rc, out, f"{err}\n{exc}") from None
        if rc != 0:
            missing = set(missing_names(err))
            if not missing or not missing.issubset(names):
                raise EngineError([self.binary, "image", "inspect", *names], rc, out, err)
        return match_inspected(refs, images)

    def pull(self, ref: ImageRef, options: RegistryOptions) -> str:
        """Pull one image; returns the image ID podman prints."""
        dummy_rc, out, dummy_err = self.run(["pull", "--quiet", *options.podman_args(), "--", str(ref)],
                                            image=str(ref))
        lines = [line.strip() for line in out.splitlines() if line.strip()]
        return lines[-1] if lines else ""

    def tag(self, image_id: str, targets: Sequence[ImageRef], image: str | None = None) -> None:
        """Give an image more names (one call)."""
        if targets:
            self.run(["tag", image_id, *(str(target) for target in targets)], image=image or image_id)

    def untag(self, image_id: str, names: Sequence[str], image: str | None = None) -> None:
        """Remove names from an image, keeping the image (one call); no names removes all of them."""
        self.run(["untag", image_id, *names], image=image or image_id)

    def remove(self, image: str) -> None:
        """Remove an image by its last name or its ID (``podman rmi``, never forced: a container keeps it)."""
        self.run(["rmi", "--", image], image=image)

    def push(self, ref: ImageRef, options: RegistryOptions, sign_by: str | None = None,
             passphrase_file: str | None = None, source: str | None = None) -> str | None:
        """Push a local image to its registry name, optionally signed; returns the manifest digest pushed."""
        # Local storage keeps layers uncompressed, so a push writes a new manifest: signatures stored with a pulled
        # image cannot stay valid and would make podman refuse ("Would invalidate signatures").
        args = ["push", "--quiet", "--remove-signatures", *options.podman_args()]
        if sign_by:
            args += ["--sign-by", sign_by]
            if passphrase_file:
                args += ["--sign-passphrase-file", passphrase_file]
        operands = ["--", source or str(ref)] + ([f"docker://{ref}"] if source else [])
        return self.run_for_digest(args, operands, image=str(ref))
