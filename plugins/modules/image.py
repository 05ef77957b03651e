# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: image
short_description: Pull, tag, push, sign and remove container images, many in one task
version_added: 0.1.0
description:
  - Declares container images on a host, as many as needed in one task. With O(engine=podman) (the default) each
    entry is an image in the host's local storage that is pulled, tagged, pushed (optionally signed) or removed.
    With O(engine=skopeo) each entry copies an image from O(images[].source) to O(images[].name) without a daemon or
    local storage, between registries and OCI, C(dir) and archive layouts.
  - Reads local storage with one C(podman image inspect) for every name of the task, and asks a registry only where
    a decision needs it (one C(skopeo inspect --raw) per reference), then acts. Changes are decided by digests and
    image IDs, never by exit codes, so a second run changes nothing.
  - Every entry is validated before anything on the host or in a registry changes.
  - Failures name the image and say what went wrong (refused by the signature policy, authentication failed, TLS
    verification failed, not found, registry unreachable).
author:
  - containerhost.platform maintainers (@containerhost)
options:
  images:
    description:
      - The images, handled in the order given; a later entry sees what earlier ones did (a tag an earlier entry
        moved, a name it removed). A name may appear once.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - With O(engine=podman), the image name in local storage, fully qualified with its registry, and a tag or
            a digest, such as V(registry.example:5000/team/app:1.4) or V(registry.example:5000/team/app@sha256:...),
            or V(localhost/app:1) for an image that exists only on the host. Without tag and digest the tag is
            V(latest). Short names such as V(app:1) are refused, because the host would resolve them through its
            search list.
          - With O(engine=skopeo), the destination of the copy as a transport reference -
            V(docker://registry.example:5000/team/app:1.4) (or the name alone), V(oci:/srv/images/layout:app-1.4),
            V(oci-archive:/srv/app.tar), V(dir:/srv/app), V(docker-archive:/srv/app.tar[:name]) or
            V(containers-storage:registry.example:5000/team/app:1.4).
        type: str
        required: true
      state:
        description:
          - V(present) pulls (or copies) only when the image is missing.
          - V(latest) asks the registry for the tag's current manifest digest and pulls (copies) when the local image
            (destination) holds another image. A name with a digest is always up to date once present.
          - V(absent) removes the name. With O(engine=podman) it untags the image when the image has other names
            and removes the image with its last name; a name with a digest removes the image carrying that digest
            with all its names. With O(engine=skopeo) it deletes the destination from the registry (refused when
            another tag of the repository points at the same manifest, since the registry would delete that tag too)
            or removes the layout directory, archive file, or the name from an OCI layout.
        type: str
        choices: [present, latest, absent]
        default: present
      tags:
        description:
          - More names for the image (O(engine=podman) only), fully qualified with a tag. A name already on the same
            image (the same image ID) is left alone; a name on another image moves to this one.
        type: list
        elements: str
        default: []
      push:
        description:
          - Push the image (O(engine=podman) only) to every registry name among O(images[].name) and
            O(images[].tags) (names under V(localhost/) stay local).
          - A target is pushed when the registry does not hold the image, decided by comparing the config digest of
            the registry's manifest with the local image ID; pushing the same image again changes nothing. With
            O(images[].sign_by), a target is also pushed when no signature for the registry's digest is staged in a
            C(file://) look-aside store - one naming the image (or another tag of its repository) and, when gpg is
            installed, verified by gpg as made by the O(images[].sign_by) key.
        type: bool
        default: false
      source:
        description:
          - With O(engine=skopeo), the image to copy, as a transport reference (the forms of O(images[].name)).
            Required unless O(images[].state=absent).
        type: str
      sign_by:
        description:
          - GPG key (fingerprint or key ID) to sign with when pushing (O(engine=podman)) or copying to a registry
            or C(dir) layout (O(engine=skopeo)) with "simple signing" - the signature is written to the look-aside staging
            location that C(/etc/containers/registries.d) configures for the registry (C(lookaside-staging), else
            C(lookaside); C(file:///var/lib/containers/sigstore) when none matches).
          - The secret key must be in O(gpg_home); its absence fails the task before anything is pushed.
        type: str
  engine:
    description:
      - V(podman) manages the host's local image storage; V(skopeo) copies between registries and layouts.
    type: str
    choices: [podman, skopeo]
    default: podman
  executable:
    description:
      - The engine's program, a name looked up in E(PATH) or an absolute path. Defaults to V(podman) or V(skopeo)
        after O(engine).
    type: str
  skopeo_executable:
    description:
      - The skopeo program that reads manifests and digests from registries without pulling (with O(engine=skopeo),
        O(executable) is used instead when given).
    type: str
    default: skopeo
  auth_file:
    description:
      - Registry credentials file on the host (containers-auth.json(5), as C(podman login) writes it). Without it and
        without O(username), the engines use their default auth file.
    type: path
  username:
    description:
      - Registry user name; with O(password), the task writes a temporary auth file (mode 0600, removed when the task
        ends) for every registry the task uses. Credentials never appear on a command line.
    type: str
  password:
    description:
      - Registry password for O(username). Never logged; the module also hides its base64 form.
    type: str
  validate_certs:
    description:
      - Verify the registries' TLS certificates. V(false) passes C(--tls-verify=false) (test registries only).
        With V(true) nothing is passed, so a registry marked C(insecure) in the host's C(registries.conf) stays so.
    type: bool
    default: true
  ca_cert_dir:
    description:
      - Directory with the CA certificates (C(*.crt)) and client certificate pairs (C(*.cert), C(*.key)) for the
        registries (C(--cert-dir); skopeo copies get C(--src-cert-dir) and C(--dest-cert-dir)). Without it the engines
        use C(/etc/containers/certs.d/<host:port>/).
    type: path
  gpg_home:
    description:
      - GnuPG home directory holding the signing key (E(GNUPGHOME) of the engine); the engine's default (C(~/.gnupg))
        when not given.
    type: path
  sign_passphrase_file:
    description:
      - File on the host holding the passphrase of the O(images[].sign_by) key (C(--sign-passphrase-file)).
    type: path
extends_documentation_fragment:
  - containerhost.platform._attributes
attributes:
  check_mode:
    support: full
    details:
      - Reads local storage and asks registries the same questions as a real run (read-only registry requests), and
        predicts C(changed) and every action exactly; pulls, pushes, tags, copies and removes nothing.
  diff_mode:
    support: full
    details: Per entry, the image ID, digest and names before and after, and the config digest each push target has
      in the registry before and after.
  idempotent:
    support: full
    details: A second run with the same entries changes nothing.
  platform:
    support: full
    platforms: posix
    details: Linux with podman 4 and skopeo 1.9 or later (containers/image 5.23).
notes:
  - Pulls follow the host's signature policy (C(/etc/containers/policy.json), see M(containerhost.platform.image_trust)).
    A refused image fails the task with the reason, and podman stores nothing of it.
  - Pushing from local storage under a policy whose default is reject needs the C(containers-storage) transport
    accepted (O(containerhost.platform.image_trust#module:local_transports)).
  - "containers/image keeps the look-aside signatures of the last push for a manifest digest: pushing one image under
    several tags of the same repository leaves the last tag's signature. A staged signature for another tag of the
    same repository counts as signed here (no push back and forth); a policy for such repositories should use
    C(signedIdentity: matchRepository)."
  - A registry deletes manifests, not tags; O(images[].state=absent) with O(engine=skopeo) therefore lists the
    repository's tags and refuses to delete a manifest another tag points at.
seealso:
  - module: containerhost.platform.image_info
  - module: containerhost.platform.image_trust
  - name: containers-registries.d(5)
    description: Where signatures are staged and looked up.
    link: https://github.com/containers/image/blob/main/docs/containers-registries.d.5.md
"""

EXAMPLES = r"""
- name: Images the host needs (one inspect for all, registry asked only for latest)
  containerhost.platform.image:
    images:
      - name: registry.example:5000/base/runtime:12
      - name: registry.example:5000/team/app:stable
        state: latest
      - name: registry.example:5000/team/tool@sha256:0c2d7e5a8b4f0e5f3b8e9a7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e
    ca_cert_dir: /etc/containerhost/registry-ca

- name: Tag a locally built image, push it signed
  containerhost.platform.image:
    images:
      - name: localhost/app:build-42
        tags:
          - registry.example:5000/team/app:1.4
          - registry.example:5000/team/app:stable
        push: true
        sign_by: 5F1E2D3C4B5A69788796A5B4C3D2E1F0A9B8C7D6
    gpg_home: /root/.gnupg-signing
    username: ci
    password: "{{ registry_password }}"

- name: Remove an old version
  containerhost.platform.image:
    images:
      - name: registry.example:5000/team/app:1.3
        state: absent

- name: Mirror an image into an OCI layout without a daemon
  containerhost.platform.image:
    engine: skopeo
    images:
      - name: oci:/srv/mirror/app:1.4
        source: docker://registry.example:5000/team/app:1.4
        state: latest
"""

RETURN = r"""
images:
  description: One entry per declared image, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The entry's name, canonical (a missing tag is shown as V(latest)).
      type: str
      sample: registry.example:5000/team/app:1.4
    source:
      description: The copied image (O(engine=skopeo)).
      type: str
      sample: docker://registry.example:5000/team/app:1.4
    state:
      description: The declared state.
      type: str
      sample: latest
    changed:
      description: Whether anything was (or in check mode would be) done for the entry.
      type: bool
      sample: true
    actions:
      description: What was (or would be) done, in order, each with its reason.
      type: list
      elements: str
      sample: ["pull registry.example:5000/team/app:1.4 (missing)", "push registry.example:5000/team/app:stable (not in the registry)"]
    id_before:
      description: ID of the image the name had before (O(engine=skopeo) - the destination's config digest); null when it had none.
      type: str
      sample: 8829427e7970f18469eb44360ded4ae2c6ff9fc67a77eb90b584e0371eb95d61
    id_after:
      description: ID of the image the name has afterwards (predicted in check mode); null when it has none.
      type: str
      sample: 8829427e7970f18469eb44360ded4ae2c6ff9fc67a77eb90b584e0371eb95d61
    digest_before:
      description: Manifest digest of the image before (the registry's digest when the image has it).
      type: str
      sample: sha256:d43d7efccd020ae820e990e6d1db4044658a0dc29200d520dec8002ce809e8fc
    digest_after:
      description: Manifest digest afterwards (predicted in check mode).
      type: str
      sample: sha256:d43d7efccd020ae820e990e6d1db4044658a0dc29200d520dec8002ce809e8fc
    names_before:
      description: All names (RepoTags) of the image before (O(engine=podman)).
      type: list
      elements: str
      sample: [localhost/app:build-42]
    names_after:
      description: All names of the image afterwards (O(engine=podman)).
      type: list
      elements: str
      sample: [localhost/app:build-42, registry.example:5000/team/app:1.4]
    registry_digest:
      description: The manifest digest the registry holds for the name, when the task asked it (V(latest), pulls, pushes).
      type: str
      sample: sha256:d43d7efccd020ae820e990e6d1db4044658a0dc29200d520dec8002ce809e8fc
    pushed:
      description: Push targets that were pushed, each with C(name), C(digest) (the manifest digest in the registry,
        null in check mode) and C(signed).
      type: list
      elements: dict
      sample: [{"name": "registry.example:5000/team/app:1.4", "digest": "sha256:d43d...", "signed": true}]
"""

import json
import os
import shutil
import tempfile
import typing as t

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.errors import UnsupportedError

from ansible_collections.containerhost.platform.plugins.module_utils._image_plan import (
    Action,
    EntryPlan,
    LocalStore,
    PlanError,
    Remote,
    Wanted,
    merge_registries_d,
    oci_reachable,
    oci_without_ref,
    parse_simple_yaml,
    plan_copy,
    plan_podman,
    signature_dir,
    signature_matches,
    signature_payload,
    staging_url,
    validsig_matches,
)
from ansible_collections.containerhost.platform.plugins.module_utils._image_ref import (
    TRANSPORTS,
    ImageRef,
    ImageRefError,
    parse_reference,
)
from ansible_collections.containerhost.platform.plugins.module_utils._podman import EngineError, Podman, RegistryOptions
from ansible_collections.containerhost.platform.plugins.module_utils._registry_auth import (
    REGISTRY_MUTUALLY_EXCLUSIVE,
    REGISTRY_REQUIRED_TOGETHER,
    RegistryAccess,
    access_problems,
    registry_argument_spec,
)
from ansible_collections.containerhost.platform.plugins.module_utils._skopeo import RemoteImage, Skopeo

try:
    import yaml
    HAS_YAML = True
except ImportError:  # hosts without PyYAML read registries.d with the small block-mapping reader
    HAS_YAML = False

# containers/image's look-aside configuration; tests point it elsewhere.
REGISTRIES_D = "/etc/containers/registries.d"
SIGNATURES_MAX = 64


def entry_options() -> dict[str, t.Any]:
    """The argument spec of one O(images) entry."""
    return {
        "name": {"type": "str", "required": True},
        "state": {"type": "str", "choices": ["present", "latest", "absent"], "default": "present"},
        "tags": {"type": "list", "elements": "str", "default": []},
        "push": {"type": "bool", "default": False},
        "source": {"type": "str"},
        "sign_by": {"type": "str"},
    }


def validate_entries(module: AnsibleModule, entries: list[t.Any]) -> list[dict[str, t.Any]]:
    """Check each entry against the entry argument spec; fail naming the entry (index and name) on the first error."""
    validator = ArgumentSpecValidator(entry_options())
    checked = []
    for index, entry in enumerate(entries):
        result = validator.validate(entry)
        if result.error_messages:
            messages = [f"unsupported option {error}" if isinstance(error, UnsupportedError) else str(error)
                        for error in result.errors]
            module.fail_json(msg=f"images[{index}] ({entry.get('name')}): {'; '.join(messages)}")
        checked.append(result.validated_parameters)
    return checked


def to_remote(image: RemoteImage | None) -> Remote | None:
    """The plan's view of what a registry holds."""
    if image is None:
        return None
    return Remote(image.digest, image.config_digest, image.instance_digest)


def state_text(state: dict[str, t.Any] | None, registry: dict[str, str | None] | None = None) -> str:
    """An entry's state as a diff shows it."""
    lines = []
    if state is None:
        lines.append("(absent)")
    else:
        for key in ("id", "digest", "config"):
            if key in state:
                lines.append(f"{key}: {state[key]}")
        if "names" in state:
            lines.append("names:")
            lines.extend(f"  - {name}" for name in state["names"])
    for target, config in sorted((registry or {}).items()):
        lines.append(f"registry {target}: {config or '(absent)'}")
    return "\n".join(lines) + "\n"


class ImageManager:
    """Validates every entry, reads local storage and registries once, plans, then acts (or predicts)."""

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        params = module.params
        self.engine = params["engine"]
        self.entries: list[Wanted] = []
        self.plans: list[EntryPlan] = []
        self.results: list[dict[str, t.Any]] = []
        # The engines (and gpg) find the signing key through GNUPGHOME.
        self.environ = {"GNUPGHOME": params["gpg_home"]} if params["gpg_home"] else {}
        podman_binary = (params["executable"] or "podman") if self.engine == "podman" else "podman"
        skopeo_binary = (params["executable"] if self.engine == "skopeo" and params["executable"]
                         else params["skopeo_executable"])
        self._podman_binary = podman_binary
        self._skopeo_binary = skopeo_binary
        self._podman: Podman | None = None
        self._skopeo: Skopeo | None = None
        self.options = RegistryOptions()
        self.remote: dict[str, Remote | None] = {}
        self.remote_full: dict[str, RemoteImage | None] = {}
        self.signed: dict[str, bool | None] = {}
        self.registries_d: dict[str, t.Any] | None = None

    # ---- the runners, created when first needed (a present-only podman task never needs skopeo)
    @property
    def podman(self) -> Podman:
        if self._podman is None:
            self._podman = Podman(self.module, self._podman_binary, environ=self.environ)
        return self._podman

    @property
    def skopeo(self) -> Skopeo:
        if self._skopeo is None:
            self._skopeo = Skopeo(self.module, self._skopeo_binary, environ=self.environ)
        return self._skopeo

    def fail(self, msg: str, **kwargs: t.Any) -> t.NoReturn:
        """Fail the task, keeping the entries handled so far."""
        self.module.fail_json(msg=msg, images=self.results, **kwargs)

    # ---- 1. validate everything before anything runs
    def validate(self) -> None:
        """Parse every reference and check option combinations; fail naming the entry and field."""
        params = self.module.params
        problems = access_problems(params)
        for name in ("gpg_home", "sign_passphrase_file"):
            if params[name] and not (os.path.isdir if name == "gpg_home" else os.path.isfile)(params[name]):
                problems.append(f"{name}: {params[name]} does not exist on the host")
        if problems:
            self.module.fail_json(msg="; ".join(problems))
        seen: dict[str, str] = {}
        for index, raw in enumerate(params["images"]):
            where = f"images[{index}] ({raw['name']})"
            try:
                entry = self._entry(index, raw, where)
            except ImageRefError as exc:
                self.module.fail_json(msg=f"{where}: {exc}")
            key = str(entry.name)
            if key in seen:
                self.module.fail_json(msg=f"{where}: name: {key} is already declared by {seen[key]}; declare each "
                                          "image once")
            seen[key] = where
            self.entries.append(entry)
        self._check_signing_keys()

    def _entry(self, index: int, raw: dict[str, t.Any], where: str) -> Wanted:
        """One validated entry."""
        state = raw["state"]
        if self.engine == "podman":
            for option in ("source",):
                if raw[option] is not None:
                    self.module.fail_json(msg=f"{where}: {option} is for engine=skopeo (copies); with engine=podman "
                                              "the name is pulled from its registry")
            name = parse_reference(raw["name"], transports=("docker",))
            tags = []
            for number, text in enumerate(raw["tags"]):
                try:
                    tag = parse_reference(text, transports=("docker",))
                except ImageRefError as exc:
                    self.module.fail_json(msg=f"{where}: tags[{number}]: {exc}")
                if tag.digest:
                    self.module.fail_json(msg=f"{where}: tags[{number}]: {text} has a digest; a tag is a name with "
                                              "a tag, such as registry.example:5000/team/app:1.4")
                tags.append(tag)
            if state == "absent" and (tags or raw["push"] or raw["sign_by"]):
                self.module.fail_json(msg=f"{where}: state: absent removes the name; tags, push and sign_by are "
                                          "for present and latest (declare each name to remove as an entry)")
            if state == "latest" and name.is_local_name:
                self.module.fail_json(msg=f"{where}: state: latest asks the registry for the tag's digest, but "
                                          f"{name} is a local name (localhost/); use state: present")
            entry = Wanted(index, name, state, tags, raw["push"], raw["sign_by"])
            if raw["push"] and not entry.push_targets():
                self.module.fail_json(msg=f"{where}: push: true, but neither the name nor the tags name a registry "
                                          "with a tag (localhost/ names and digests cannot be pushed); add a tag "
                                          "such as registry.example:5000/team/app:1.4")
            if raw["sign_by"] and not raw["push"]:
                self.module.fail_json(msg=f"{where}: sign_by signs what is pushed; set push: true")
            return entry
        # engine skopeo
        if raw["tags"] or raw["push"]:
            self.module.fail_json(msg=f"{where}: tags and push are for engine=podman; with engine=skopeo each entry "
                                      "copies source to name (declare one entry per destination)")
        name = parse_reference(raw["name"], transports=TRANSPORTS)
        if name.transport == "docker" and name.is_local_name:
            self.module.fail_json(msg=f"{where}: name: {name} is a localhost/ name, which no registry serves; use "
                                      f"containers-storage:{name} for the host's local storage")
        if name.transport == "docker" and name.digest and state != "absent":
            self.module.fail_json(msg=f"{where}: name: copying to a digest is not possible; give the destination a "
                                      "tag")
        if name.is_layout and name.path and state != "absent":
            parent = os.path.dirname(name.path)
            if not os.path.isdir(parent):
                self.module.fail_json(msg=f"{where}: name: the directory {parent} does not exist on the host")
        source = None
        if state != "absent":
            if not raw["source"]:
                self.module.fail_json(msg=f"{where}: source is required with engine=skopeo and state "
                                          f"{state}: the image to copy to {name}")
            try:
                source = parse_reference(raw["source"], transports=TRANSPORTS)
            except ImageRefError as exc:
                self.module.fail_json(msg=f"{where}: source: {exc}")
        elif raw["source"] or raw["sign_by"]:
            self.module.fail_json(msg=f"{where}: state: absent removes the destination; source and sign_by are for "
                                      "present and latest")
        if raw["sign_by"] and name.transport not in ("docker", "dir"):
            self.module.fail_json(msg=f"{where}: sign_by: signatures can be stored for registry (docker) and dir "
                                      f"destinations, not for {name.transport}")
        return Wanted(index, name, state, source=source, sign_by=raw["sign_by"])

    def _check_signing_keys(self) -> None:
        """Fail before anything is pushed when a sign_by key has no secret key in gpg_home (gpg present)."""
        keys = sorted({entry.sign_by for entry in self.entries if entry.sign_by})
        gpg = self.module.get_bin_path("gpg") if keys else None
        if not gpg:
            return
        for key in keys:
            rc, dummy_out, err = self.module.run_command([gpg, "--batch", "--with-colons", "--list-secret-keys", "--",
                                                          key], environ_update={"LC_ALL": "C", **self.environ})
            if rc != 0:
                users = [entry.where for entry in self.entries if entry.sign_by == key]
                home = self.module.params["gpg_home"] or "the default GnuPG home"
                self.module.fail_json(msg=f"{', '.join(users)}: sign_by: no secret key {key} in {home} "
                                          f"({(err or '').strip() or 'gpg found none'}); import the signing key or "
                                          "set gpg_home")

    def registries(self) -> list[str]:
        """Every registry the task talks to (for a temporary auth file)."""
        found = []
        for entry in self.entries:
            for ref in [entry.name, *entry.tags, *([entry.source] if entry.source else [])]:
                if ref.transport == "docker" and ref.is_registry:
                    found.append(ref.registry)
        return sorted(set(found))

    # ---- 2. read
    def query(self, ref: ImageRef) -> Remote | None:
        """What the registry (or layout) holds for a reference; asked once per reference."""
        key = str(ref)
        if key not in self.remote:
            image = self.skopeo.remote_image(ref, self.options)
            self.remote_full[key] = image
            self.remote[key] = to_remote(image)
        return self.remote[key]

    def read_registries_d(self) -> dict[str, t.Any]:
        """The merged look-aside configuration (read once, only when signing)."""
        if self.registries_d is None:
            documents = []
            directory = REGISTRIES_D
            names = sorted(name for name in os.listdir(directory) if name.endswith(".yaml")) \
                if os.path.isdir(directory) else []
            for name in names:
                path = os.path.join(directory, name)
                try:
                    with open(path, encoding="utf-8") as handle:
                        text = handle.read()
                    documents.append(yaml.safe_load(text) if HAS_YAML else parse_simple_yaml(text))
                except (OSError, ValueError, yaml.YAMLError if HAS_YAML else ValueError) as exc:
                    self.module.fail_json(msg=f"cannot read the look-aside configuration {path}: {exc}")
            self.registries_d = merge_registries_d(documents)
        return self.registries_d

    def signature_status(self, ref: ImageRef, digest: str, sign_by: str) -> bool | None:
        """Whether a signature by ``sign_by`` for ``digest`` naming ``ref`` (or its repository) is staged; None when
        the staging location is not file://. With gpg on the host, a signature must also verify."""
        base = staging_url(self.read_registries_d(), ref, write=True)
        directory = signature_dir(base, ref, digest)
        if directory is None:
            return None
        for number in range(1, SIGNATURES_MAX + 1):
            path = os.path.join(directory, f"signature-{number}")
            try:
                with open(path, "rb") as handle:
                    data = handle.read()
            except FileNotFoundError:
                break
            if signature_matches(signature_payload(data), ref, digest) and self._verifies(path, sign_by):
                return True
        return False

    def _verifies(self, path: str, sign_by: str) -> bool:
        """Whether gpg verifies a staged signature as made by the sign_by key (True when gpg is not installed)."""
        gpg = self.module.get_bin_path("gpg")
        if not gpg:
            return True
        dummy_rc, out, dummy_err = self.module.run_command(
            [gpg, "--batch", "--status-fd", "1", "--verify", "--", path],
            environ_update={"LC_ALL": "C", **self.environ})
        return validsig_matches(out, sign_by)

    def read_podman(self) -> LocalStore:
        """One inspect for every name, then the registry questions the decisions need."""
        names: list[ImageRef] = []
        for entry in self.entries:
            names.extend([entry.name, *entry.tags])
        inspected = self.podman.inspect(names)
        store = LocalStore.from_inspect(inspected.values())
        for entry in self.entries:
            if entry.state == "absent":
                continue
            present = store.find(entry.name) is not None
            if not entry.name.is_local_name and (not present or (entry.state == "latest" and not entry.name.digest)):
                self.query(entry.name)
            for target in entry.push_targets():
                there = self.query(target)
                if entry.sign_by and there is not None:
                    self.signed[str(target)] = self.signature_status(target, there.digest, entry.sign_by)
        # A pull may bring an image the host already has under other names (same config digest): inspect those
        # IDs too, so that the prediction knows all of its names.
        ids = sorted({remote.config_digest.split(":")[-1] for remote in self.remote.values()
                      if remote is not None and remote.config_digest} - set(store.images))
        if ids:
            store = LocalStore.from_inspect([*inspected.values(), *self.podman.inspect(ids).values()])
        return store

    # ---- 3./4. podman: plan, act
    def run_podman(self) -> None:
        """Plan every entry, then pull, tag, push and remove in order (nothing in check mode)."""
        store = self.read_podman()
        try:
            self.plans = plan_podman(self.entries, store, self.remote, self.signed)
        except PlanError as exc:
            self.fail(str(exc))
        pushed: dict[int, list[dict[str, t.Any]]] = {}
        for plan in self.plans:
            for note in plan.notes:
                self.module.warn(f"{plan.wanted.where}: {note}")
            pushed[plan.wanted.index] = [{"name": action.target, "digest": None, "signed": action.data.get("sign")}
                                         for action in plan.actions if action.kind == "push"]
        after = None
        if not self.module.check_mode:
            for position, plan in enumerate(self.plans):
                try:
                    for action in plan.actions:
                        digest = self.apply_podman(plan.wanted, action)
                        if action.kind == "push":
                            next(item for item in pushed[plan.wanted.index]
                                 if item["name"] == action.target)["digest"] = digest
                except EngineError as exc:
                    self.results = [self.podman_result(done, None, pushed[done.wanted.index])
                                    for done in self.plans[:position]]
                    self.fail(f"{plan.wanted.where}: {exc.message(exc.image != str(plan.wanted.name))}",
                              **exc.result())
            if any(plan.changed for plan in self.plans):
                after = self.after_podman()
        self.results = [self.podman_result(plan, after, pushed[plan.wanted.index]) for plan in self.plans]

    def apply_podman(self, entry: Wanted, action: Action) -> str | None:
        """Run one planned action; returns the pushed digest for a push."""
        if action.kind == "pull":
            self.podman.pull(entry.name, self.options)
        elif action.kind == "tag":
            targets = [parse_reference(target, transports=("docker",)) for target in action.data["targets"]]
            self.podman.tag(str(entry.name), targets, image=str(entry.name))
        elif action.kind == "push":
            target = parse_reference(action.target, transports=("docker",))
            sign_by = entry.sign_by if action.data.get("sign") else None
            return self.podman.push(target, self.options, sign_by=sign_by,
                                    passphrase_file=self.module.params["sign_passphrase_file"])
        elif action.kind == "untag":
            self.podman.untag(action.data["image_id"], action.data["names"], image=str(entry.name))
        elif action.kind == "remove":
            self.podman.remove(action.data["image"])
        return None

    def after_podman(self) -> LocalStore:
        """Local storage after the actions (one more inspect)."""
        names: list[ImageRef] = []
        for entry in self.entries:
            names.extend([entry.name, *entry.tags])
        return LocalStore.from_inspect(self.podman.inspect(names).values())

    def podman_result(self, plan: EntryPlan, after: LocalStore | None,
                      pushed: list[dict[str, t.Any]]) -> dict[str, t.Any]:
        """The per-entry return value; ``after`` is the real store after a run (None: the prediction)."""
        entry = plan.wanted
        remote = self.remote.get(str(entry.name))
        if after is not None:
            image = after.find(entry.name)
            plan.after = image.state(remote.digest if remote else None) if image else None
        before = plan.before or {}
        state_after = plan.after or {}
        return {
            "name": str(entry.name), "state": entry.state, "changed": plan.changed,
            "actions": [action.describe() for action in plan.actions],
            "id_before": before.get("id"), "id_after": state_after.get("id"),
            "digest_before": before.get("digest"), "digest_after": state_after.get("digest"),
            "names_before": before.get("names", []), "names_after": state_after.get("names", []),
            "registry_digest": remote.digest if remote else None,
            "pushed": pushed,
        }

    # ---- engine skopeo
    def run_skopeo(self) -> None:
        """Read destinations (and sources where needed), plan each copy, then copy or remove."""
        # What earlier entries leave at their destinations: a later entry copying from one sees that state.
        planned: dict[str, Remote | None] = {}
        for entry in self.entries:
            dest = self.query(entry.name)
            source = None
            queried = False
            if entry.source is not None and (entry.state == "latest" or (entry.state == "present" and dest is None)):
                key = str(entry.source)
                source = planned[key] if key in planned else self.query(entry.source)
                queried = True
            signed = None
            if entry.sign_by and entry.name.transport == "docker" and dest is not None:
                signed = self.signature_status(entry.name, dest.digest, entry.sign_by)
            try:
                plan = plan_copy(entry, dest, source, queried, signed)
            except PlanError as exc:
                self.fail(str(exc))
            after = plan.after or {}
            planned[str(entry.name)] = Remote(after["digest"], after.get("config")) if after.get("digest") else None
            if entry.state == "absent" and plan.actions and plan.actions[0].kind == "delete" \
                    and entry.name.transport == "docker":
                self._refuse_shared_manifest(entry, dest)
            self.plans.append(plan)
        if not self.module.check_mode:
            for plan in self.plans:
                try:
                    for action in plan.actions:
                        self.apply_copy(plan.wanted, action)
                except EngineError as exc:
                    self.fail(f"{plan.wanted.where}: {exc.message(exc.image != str(plan.wanted.name))}",
                              **exc.result())
                except OSError as exc:
                    self.fail(f"{plan.wanted.where}: could not change {exc.filename or plan.wanted.name}: "
                              f"{exc.strerror or exc}")
                if plan.actions:
                    self.remote.pop(str(plan.wanted.name), None)
                    now = self.query(plan.wanted.name)
                    plan.after = {"digest": now.digest, "config": now.config_digest} if now else None
                self.results.append(self.copy_result(plan))
        else:
            self.results = [self.copy_result(plan) for plan in self.plans]

    def _refuse_shared_manifest(self, entry: Wanted, dest: Remote | None) -> None:
        """A registry deletes a manifest with every tag on it: refuse when another tag shares it."""
        if dest is None:
            return
        others = []
        for tag in self.skopeo.list_tags(entry.name, self.options):
            if tag == entry.name.tag:
                continue
            other = self.query(entry.name.with_tag(tag))
            if other is not None and other.digest == dest.digest:
                others.append(tag)
        if others:
            self.fail(f"{entry.where}: deleting {entry.name} would also delete the tag(s) {', '.join(others)} of "
                      f"{entry.name.name}: a registry deletes the manifest {dest.digest}, not a tag; remove them all "
                      "(one entry each, all absent is refused too) or keep this one")

    def apply_copy(self, entry: Wanted, action: Action) -> None:
        """Run one planned copy or removal."""
        name = entry.name
        if action.kind == "copy" and entry.source is not None:
            sign_by = entry.sign_by if action.data.get("sign") else None
            passphrase = self.module.params["sign_passphrase_file"]
            if name.transport in ("dir", "oci-archive", "docker-archive"):
                self._copy_replacing(entry.source, name, sign_by, passphrase)
            elif name.transport == "oci" and not os.path.exists(name.path or ""):
                try:
                    self.skopeo.copy(entry.source, name, self.options, sign_by, passphrase)
                except EngineError:
                    # Nothing stays behind: the layout did not exist before the copy.
                    shutil.rmtree(name.path or "", ignore_errors=True)
                    raise
            else:
                self.skopeo.copy(entry.source, name, self.options, sign_by, passphrase)
        elif action.kind == "delete":
            self.skopeo.delete(name, self.options)
        elif action.kind == "remove_path":
            remove_layout(name)
        elif action.kind == "remove_oci_ref":
            remove_oci_ref(self.module, name)

    def _copy_replacing(self, source: ImageRef, name: ImageRef, sign_by: str | None,
                        passphrase: str | None) -> None:
        """Copy into a temporary path next to the destination, then put it in place (nothing half-written stays)."""
        path = name.path or ""
        parent = os.path.dirname(path)
        workdir = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.", dir=parent)
        try:
            staged = os.path.join(workdir, "new")
            suffix = str(name)[len(f"{name.transport}:{path}"):]
            self.skopeo.copy(source, name, self.options, sign_by, passphrase,
                             dest_text=f"{name.transport}:{staged}{suffix}")
            if name.transport == "dir":
                if os.path.isdir(path):
                    os.rename(path, os.path.join(workdir, "old"))
                os.rename(staged, path)
            else:
                os.replace(staged, path)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def copy_result(self, plan: EntryPlan) -> dict[str, t.Any]:
        """The per-entry return value of a copy."""
        entry = plan.wanted
        before = plan.before or {}
        after = plan.after or {}
        pushed = [{"name": str(entry.name), "digest": after.get("digest") if not self.module.check_mode else None,
                   "signed": bool(action.data.get("sign"))} for action in plan.actions if action.kind == "copy"]
        return {
            "name": str(entry.name), "source": str(entry.source) if entry.source else None, "state": entry.state,
            "changed": plan.changed, "actions": [action.describe() for action in plan.actions],
            "id_before": (before.get("config") or "").split(":")[-1] or None,
            "id_after": (after.get("config") or "").split(":")[-1] or None,
            "digest_before": before.get("digest"), "digest_after": after.get("digest"),
            "registry_digest": plan.source_digest,
            "pushed": pushed,
        }

    def diff(self) -> list[dict[str, str]]:
        """Per changed entry: state before and after."""
        diffs = []
        for plan in self.plans:
            if not plan.changed:
                continue
            header = plan.wanted.where
            diffs.append({"before_header": header, "after_header": header,
                          "before": state_text(plan.before, plan.registry_before),
                          "after": state_text(plan.after, plan.registry_after)})
        return diffs

    def run(self) -> None:
        """Validate, read, plan, act (unless in check mode) and exit."""
        self.validate()
        with RegistryAccess(self.module, self.registries()) as options:
            self.options = options
            if self.engine == "podman":
                self.run_podman()
            else:
                self.run_skopeo()
        result: dict[str, t.Any] = {"changed": any(plan.changed for plan in self.plans), "images": self.results}
        if self.module._diff:
            result["diff"] = self.diff()
        self.module.exit_json(**result)


def remove_layout(name: ImageRef) -> None:
    """Remove a dir or OCI layout directory or an archive file, after checking it is one."""
    path = name.path or ""
    if name.transport in ("oci-archive", "docker-archive"):
        if os.path.isdir(path):
            raise OSError(21, f"{path} is a directory, not an archive", path)
        if os.path.exists(path):
            os.unlink(path)
        return
    marker = "manifest.json" if name.transport == "dir" else "oci-layout"
    if not os.path.exists(os.path.join(path, marker)):
        raise OSError(2, f"{path} does not look like a {name.transport} layout (no {marker}); left alone", path)
    shutil.rmtree(path)


def remove_oci_ref(module: AnsibleModule, name: ImageRef) -> None:
    """Drop one name from an OCI layout and the blobs only it used; the layout goes when it was the last name."""
    path = name.path or ""
    index_path = os.path.join(path, "index.json")
    with open(index_path, encoding="utf-8") as handle:
        index = json.load(handle)
    remaining = oci_without_ref(index, name.layout_ref or "")
    if not remaining["manifests"]:
        remove_layout(ImageRef("oci", path=path))
        return

    def read_blob(digest: str) -> bytes | None:
        algorithm, _sep, hexdigest = digest.partition(":")
        try:
            with open(os.path.join(path, "blobs", algorithm, hexdigest), "rb") as blob:
                return blob.read()
        except OSError:
            return None

    keep = oci_reachable(remaining, read_blob)
    fd, tmp = tempfile.mkstemp(prefix=".index.json.", dir=path)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(remaining, handle)
    os.chmod(tmp, 0o644)
    module.atomic_move(tmp, index_path)
    for algorithm in os.listdir(os.path.join(path, "blobs")):
        directory = os.path.join(path, "blobs", algorithm)
        for hexdigest in os.listdir(directory):
            if f"{algorithm}:{hexdigest}" not in keep:
                os.unlink(os.path.join(directory, hexdigest))


def main() -> None:
    """Declare the images."""
    module = AnsibleModule(
        argument_spec={
            # Entries are checked against entry_options below, so that a bad key names the entry it is in.
            "images": {"type": "list", "elements": "dict", "required": True},
            "engine": {"type": "str", "choices": ["podman", "skopeo"], "default": "podman"},
            "executable": {"type": "str"},
            "skopeo_executable": {"type": "str", "default": "skopeo"},
            "gpg_home": {"type": "path"},
            "sign_passphrase_file": {"type": "path", "no_log": False},
            **registry_argument_spec(),
        },
        mutually_exclusive=REGISTRY_MUTUALLY_EXCLUSIVE,
        required_together=REGISTRY_REQUIRED_TOGETHER,
        supports_check_mode=True,
    )
    module.params["images"] = validate_entries(module, module.params["images"])
    manager = ImageManager(module)
    try:
        manager.run()
    except EngineError as exc:
        manager.fail(str(exc), **exc.result())
    except OSError as exc:
        manager.fail(f"could not change {exc.filename or 'a file'}: {exc.strerror or exc}")


if __name__ == "__main__":
    main()
