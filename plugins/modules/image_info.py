# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: image_info
short_description: Inspect container images locally or in a registry, with their freshness grade
version_added: 0.1.0
description:
  - Reports for each named image its digest, ID, creation time, labels, environment, entrypoint and command,
    exposed ports, layers and history, size, architecture and OS, either from the host's local storage (one
    C(podman image inspect) for all names) or, with O(remote=true), from the registry or layout without pulling
    (C(skopeo inspect --raw) and C(skopeo inspect --config)).
  - Adds the image's freshness - its age in days, whether the registry holds a newer digest for its tag, and a grade
    from A to F by a configurable rule (see O(grade_rule)).
  - Changes nothing.
author:
  - containerhost.platform maintainers (@containerhost)
options:
  names:
    description:
      - The images, fully qualified with their registry and a tag or digest, such as
        V(registry.example:5000/team/app:1.4); a missing tag means V(latest).
      - Locally also image IDs (12 to 64 hex digits). With O(remote=true) also transport references such as
        V(oci:/srv/mirror/app:1.4) or V(dir:/srv/app).
    type: list
    elements: str
    required: true
  remote:
    description:
      - Read the images from their registry (or layout) instead of local storage; nothing is pulled.
    type: bool
    default: false
  check_registry:
    description:
      - For local images, ask the registry for the current digest of the image's tag (one request per name), to
        tell whether a newer image is pending. V(false) leaves RV(images[].freshness.newer_digest) unknown.
    type: bool
    default: true
  now:
    description:
      - The time ages are measured to, in ISO 8601 (V(2025-06-01T12:00:00Z); a date alone is midnight UTC). Defaults
        to the current time; set it to see how the grade of the same images changes over time.
    type: str
  grade_rule:
    description:
      - How the grade is computed. The age in whole days (rounded down) from the image's creation time to O(now)
        gives the base grade - A when the age is at most the V(A) limit of O(grade_rule.age_days), else B when at
        most the V(B) limit, C when at most the V(C) limit, D when at most the V(D) limit, else F. When the
        registry holds a newer digest for the tag, the grade drops by O(grade_rule.newer_digest_penalty) steps,
        never below F.
      - Every step is listed in RV(images[].freshness.reasons).
    type: dict
    suboptions:
      age_days:
        description:
          - Upper age limits in days per grade, keys V(A), V(B), V(C), V(D), not decreasing from A to D; missing keys
            keep their defaults.
        type: dict
        default: {A: 30, B: 90, C: 180, D: 365}
      newer_digest_penalty:
        description:
          - Grade steps lost when a newer digest is pending, 0 to 4.
        type: int
        default: 1
  executable:
    description:
      - The podman program for local images, a name looked up in E(PATH) or an absolute path.
    type: str
    default: podman
  skopeo_executable:
    description:
      - The skopeo program for registry reads.
    type: str
    default: skopeo
  auth_file:
    description:
      - Registry credentials file on the host (containers-auth.json(5)).
    type: path
  username:
    description:
      - Registry user name; with O(password), a temporary auth file (mode 0600, removed at the end) is used.
    type: str
  password:
    description:
      - Registry password for O(username). Never logged.
    type: str
  validate_certs:
    description:
      - Verify the registries' TLS certificates; V(false) passes C(--tls-verify=false).
    type: bool
    default: true
  ca_cert_dir:
    description:
      - Directory with the registries' CA certificates (C(--cert-dir)).
    type: path
extends_documentation_fragment:
  - containerhost.platform._attributes
  - containerhost.platform._attributes.INFO_MODULE
attributes:
  platform:
    support: full
    platforms: posix
    details: Linux with podman 4 and skopeo 1.9 or later.
notes:
  - The digest of a remote image is the one a later pull records (the sha256 of the manifest the registry serves; for
    a manifest list, the list's digest).
  - Remote sizes are the compressed bytes to download (layers and config); local sizes are the bytes in storage.
    Layers are the uncompressed layer digests (C(rootfs.diff_ids)) in both cases, so they compare.
  - When the registry cannot be asked for a local image's tag, the task warns, the freshness reasons say why, and
    RV(images[].freshness.newer_digest) is null.
seealso:
  - module: containerhost.platform.image
"""

EXAMPLES = r"""
- name: How fresh are the images on the host?
  containerhost.platform.image_info:
    names:
      - registry.example:5000/base/runtime:12
      - registry.example:5000/team/app:stable
  register: fresh

- name: Fail on images graded below C
  ansible.builtin.assert:
    that: item.freshness.grade in ['A', 'B', 'C']
    fail_msg: "{{ item.name }}: {{ item.freshness.reasons | join('; ') }}"
  loop: "{{ fresh.images }}"

- name: Inspect an image in the registry without pulling, grading it as of a future date
  containerhost.platform.image_info:
    names:
      - registry.example:5000/team/app:1.4
    remote: true
    now: "2026-01-01T00:00:00Z"
    grade_rule:
      age_days: {A: 14, B: 60, C: 120, D: 240}
      newer_digest_penalty: 2
"""

RETURN = r"""
images:
  description: One entry per name, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The name as canonical reference.
      type: str
      sample: registry.example:5000/team/app:1.4
    exists:
      description: Whether the image exists (locally, or in the registry with O(remote=true)). The other keys are
        null or empty when it does not.
      type: bool
      sample: true
    remote:
      description: Whether the data came from the registry (or layout).
      type: bool
      sample: false
    digest:
      description: Manifest digest (the registry's when the local image has it).
      type: str
      sample: sha256:d43d7efccd020ae820e990e6d1db4044658a0dc29200d520dec8002ce809e8fc
    id:
      description: Image ID (the config digest without C(sha256:)).
      type: str
      sample: 8829427e7970f18469eb44360ded4ae2c6ff9fc67a77eb90b584e0371eb95d61
    repo_tags:
      description: Local names of the image (empty for remote images).
      type: list
      elements: str
    repo_digests:
      description: Local C(repository@digest) names of the image (empty for remote images).
      type: list
      elements: str
    created:
      description: Creation time as the image records it.
      type: str
      sample: "2025-05-07T09:45:19.138100423Z"
    labels:
      description: Image labels.
      type: dict
    env:
      description: Environment, as C(NAME=value) strings.
      type: list
      elements: str
    entrypoint:
      description: Entrypoint.
      type: list
      elements: str
    cmd:
      description: Default command.
      type: list
      elements: str
    exposed_ports:
      description: Exposed ports such as V(8080/tcp), sorted.
      type: list
      elements: str
    working_dir:
      description: Working directory.
      type: str
    user:
      description: User the image runs as.
      type: str
    layers:
      description: Uncompressed layer digests, bottom first.
      type: list
      elements: str
    history:
      description: Build history, oldest first, each with C(created), C(created_by), C(comment) and C(empty_layer).
      type: list
      elements: dict
    size:
      description: Size in bytes (see the notes).
      type: int
    architecture:
      description: CPU architecture.
      type: str
      sample: amd64
    os:
      description: Operating system.
      type: str
      sample: linux
    freshness:
      description: Age and grade.
      type: dict
      contains:
        age_days:
          description: Whole days from creation to O(now); null without a creation time.
          type: int
        newer_digest:
          description: Whether the registry holds another image for the tag; null when unknown.
          type: bool
        registry_digest:
          description: The registry's current digest for the tag, when asked.
          type: str
        grade:
          description: V(A) to V(F); null without a creation time.
          type: str
        reasons:
          description: How the grade came about, step by step.
          type: list
          elements: str
"""

import datetime
import re
import typing as t

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.containerhost.platform.plugins.module_utils._image_freshness import (
    FreshnessError,
    freshness,
    parse_time,
    validate_rule,
)
from ansible_collections.containerhost.platform.plugins.module_utils._image_plan import Remote
from ansible_collections.containerhost.platform.plugins.module_utils._image_ref import (
    TRANSPORTS,
    ImageRef,
    ImageRefError,
    parse_reference,
)
from ansible_collections.containerhost.platform.plugins.module_utils._podman import (
    EngineError,
    Podman,
    RegistryOptions,
    image_digests,
    normalise_image,
)
from ansible_collections.containerhost.platform.plugins.module_utils._registry_auth import (
    REGISTRY_MUTUALLY_EXCLUSIVE,
    REGISTRY_REQUIRED_TOGETHER,
    RegistryAccess,
    access_problems,
    registry_argument_spec,
)
from ansible_collections.containerhost.platform.plugins.module_utils._skopeo import RemoteImage, Skopeo

_ID_RE = re.compile(r"^(?:sha256:)?[0-9a-f]{12,64}$")
EMPTY = {"digest": None, "id": None, "repo_tags": [], "repo_digests": [], "created": None, "labels": {}, "env": [],
         "entrypoint": [], "cmd": [], "exposed_ports": [], "working_dir": "", "user": "", "layers": [],
         "history": [], "size": None, "architecture": None, "os": None}


def normalise_config(config: t.Mapping[str, t.Any], remote: RemoteImage) -> dict[str, t.Any]:
    """What image_info returns for a remote image, from its OCI config and manifest."""
    inner = config.get("config") or {}
    history = [{"created": step.get("created"), "created_by": step.get("created_by"), "comment": step.get("comment"),
                "empty_layer": bool(step.get("empty_layer", False))} for step in config.get("history") or []]
    return {
        "digest": remote.digest,
        "id": (remote.config_digest or "").split(":")[-1] or None,
        "repo_tags": [], "repo_digests": [],
        "created": config.get("created"),
        "labels": dict(inner.get("Labels") or {}),
        "env": list(inner.get("Env") or []),
        "entrypoint": list(inner.get("Entrypoint") or []),
        "cmd": list(inner.get("Cmd") or []),
        "exposed_ports": sorted((inner.get("ExposedPorts") or {}).keys()),
        "working_dir": inner.get("WorkingDir") or "",
        "user": inner.get("User") or "",
        "layers": list((config.get("rootfs") or {}).get("diff_ids") or []),
        "history": history,
        "size": remote.size,
        "architecture": config.get("architecture"),
        "os": config.get("os"),
    }


class ImageInfo:
    """Reads every named image (one local inspect, or per-name registry reads) and grades it."""

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        params = module.params
        self.remote = params["remote"]
        try:
            self.now = parse_time(params["now"], "now") if params["now"] else datetime.datetime.now(
                datetime.timezone.utc)
            self.rule = validate_rule(params["grade_rule"])
        except FreshnessError as exc:
            module.fail_json(msg=str(exc))
        self.refs: list[ImageRef | str] = []
        self._skopeo: Skopeo | None = None
        self.options = RegistryOptions()

    @property
    def skopeo(self) -> Skopeo:
        if self._skopeo is None:
            self._skopeo = Skopeo(self.module, self.module.params["skopeo_executable"])
        return self._skopeo

    def validate(self) -> None:
        """Parse every name before anything runs."""
        problems = access_problems(self.module.params)
        if problems:
            self.module.fail_json(msg="; ".join(problems))
        for index, text in enumerate(self.module.params["names"]):
            if not self.remote and isinstance(text, str) and _ID_RE.match(text.strip()):
                self.refs.append(text.strip().split(":")[-1])
                continue
            try:
                self.refs.append(parse_reference(text, transports=TRANSPORTS if self.remote else ("docker",)))
            except ImageRefError as exc:
                self.module.fail_json(msg=f"names[{index}]: {exc}")

    def registries(self) -> list[str]:
        """Registries the task may ask."""
        return sorted({ref.registry for ref in self.refs if isinstance(ref, ImageRef) and ref.is_registry})

    def grade(self, created: str | None, newer: bool | None, registry_digest: str | None,
              note: str | None = None) -> dict[str, t.Any]:
        """The freshness entry."""
        return freshness(created, self.now, newer, registry_digest, self.rule, note)

    def read_remote(self, ref: ImageRef) -> dict[str, t.Any]:
        """One image from its registry or layout, without pulling."""
        remote = self.skopeo.remote_image(ref, self.options)
        if remote is None:
            return {"name": str(ref), "exists": False, "remote": True, **EMPTY, "freshness": None}
        config = self.skopeo.config(ref, self.options)
        data = normalise_config(config, remote)
        if ref.transport == "docker" and ref.tag:
            fresh = self.grade(data["created"], False, remote.digest, "read from the registry: it is the tag's "
                                                                      "current image")
        else:
            fresh = self.grade(data["created"], None, None)
        return {"name": str(ref), "exists": True, "remote": True, **data, "freshness": fresh}

    def read_local(self) -> list[dict[str, t.Any]]:
        """Every image from local storage (one inspect), then the registry's digest for each tag."""
        podman = Podman(self.module, self.module.params["executable"])
        inspected = podman.inspect(self.refs)
        results = []
        for ref in self.refs:
            image = inspected.get(str(ref))
            if image is None:
                results.append({"name": str(ref), "exists": False, "remote": False, **EMPTY, "freshness": None})
                continue
            data = normalise_image(image)
            data.pop("manifest_type", None)
            newer, registry_digest, note = None, None, None
            if not isinstance(ref, ImageRef):
                note = "named by ID: no tag to compare with the registry"
            elif not ref.is_registry:
                note = "a local name (localhost/): no registry to compare with"
            elif not ref.tag:
                note = "pinned by digest: no tag to compare with the registry"
            elif not self.module.params["check_registry"]:
                note = "check_registry is false: the registry was not asked"
            else:
                try:
                    found = self.skopeo.remote_image(ref, self.options)
                except EngineError as exc:
                    found = None
                    note = f"the registry could not be asked: {exc}"
                    self.module.warn(f"{ref}: {note}")
                else:
                    if found is None:
                        note = "the registry has no image for the tag (manifest unknown)"
                    else:
                        registry_digest = found.digest
                        remote = Remote(found.digest, found.config_digest, found.instance_digest)
                        newer = not remote.same_image(data["id"], image_digests(image))
                        if not newer:
                            data["digest"] = next(iter(sorted(remote.digests & image_digests(image))),
                                                  data["digest"])
            fresh = self.grade(data["created"], newer, registry_digest, note)
            results.append({"name": str(ref), "exists": True, "remote": False, **data, "freshness": fresh})
        return results

    def run(self) -> None:
        """Validate, read, exit."""
        self.validate()
        with RegistryAccess(self.module, self.registries()) as options:
            self.options = options
            if self.remote:
                images = [self.read_remote(ref) for ref in self.refs if isinstance(ref, ImageRef)]
            else:
                images = self.read_local()
        self.module.exit_json(changed=False, images=images)


def main() -> None:
    """Report the images."""
    module = AnsibleModule(
        argument_spec={
            "names": {"type": "list", "elements": "str", "required": True},
            "remote": {"type": "bool", "default": False},
            "check_registry": {"type": "bool", "default": True},
            "now": {"type": "str"},
            "grade_rule": {"type": "dict", "options": {
                "age_days": {"type": "dict", "default": {"A": 30, "B": 90, "C": 180, "D": 365}},
                "newer_digest_penalty": {"type": "int", "default": 1},
            }},
            "executable": {"type": "str", "default": "podman"},
            "skopeo_executable": {"type": "str", "default": "skopeo"},
            **registry_argument_spec(),
        },
        mutually_exclusive=REGISTRY_MUTUALLY_EXCLUSIVE,
        required_together=REGISTRY_REQUIRED_TOGETHER,
        supports_check_mode=True,
    )
    info = ImageInfo(module)
    try:
        info.run()
    except EngineError as exc:
        module.fail_json(msg=str(exc), **exc.result())


if __name__ == "__main__":
    main()
