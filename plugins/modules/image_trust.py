# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: image_trust
short_description: Decide which container images a host accepts, by registry and GPG signature
version_added: 0.1.0
description:
  - Manages the host's signature policy for podman, skopeo, buildah and CRI-O (everything built on containers/image)
    - the whole C(policy.json) (containers-policy.json(5)), a C(registries.d) file of the collection with the
    look-aside locations where signatures are read and written (containers-registries.d(5)), and the public keys the
    policy trusts.
  - The policy starts from O(default) (reject or accept every image), then gives each registry, namespace or
    repository in O(registries) its own rule - require a signature by one of its keys, accept anything, or reject -
    and accepts images on the host's local transports listed in O(local_transports).
  - All keys of one scope go into one keyring file in O(key_dir), so a signature by any one of them is accepted
    (requirements listed for one scope would all have to be met).
  - Everything is validated before anything is written - scopes, keys (armour checksum, public keys only), URLs and
    the finished policy document, checked against the rules containers/image applies (it refuses the whole file, and
    with it every pull, when a single field is wrong).
  - Files are written atomically as root-owned V(0644) files, only when their data changes (the policy is compared
    as JSON data, not as text). Keyrings and the C(registries.d) file that the module wrote earlier but that are no
    longer declared are removed; other files in those directories are left alone.
author:
  - containerhost.platform maintainers (@containerhost)
options:
  default:
    description:
      - What happens to images that no rule of O(registries) or O(local_transports) covers.
      - V(reject) refuses them (recommended); V(accept) accepts them without checking anything.
    type: str
    choices: [reject, accept]
    default: reject
  registries:
    description:
      - Rules per registry, namespace or repository. The most specific scope that matches an image decides; a scope
        may appear once.
    type: list
    elements: dict
    default: []
    suboptions:
      scope:
        description:
          - V(registry[:port]), V(registry[:port]/namespace) or V(registry[:port]/namespace/repository), as images are
            named (fully qualified, no tag or digest, no URL scheme), such as V(registry.example:5000/team).
        type: str
        required: true
      trust:
        description:
          - V(signed) requires a signature by one of O(registries[].keys) or O(registries[].key_files);
            V(accept) accepts any image from the scope; V(reject) refuses every image from it.
        type: str
        choices: [signed, accept, reject]
        default: signed
      keys:
        description:
          - ASCII-armoured public keys (C(gpg --armor --export KEYID)); one text may hold several blocks.
          - Private keys are refused.
        type: list
        elements: str
        default: []
      key_files:
        description:
          - Public key files already on the host (armoured or binary, one key or a keyring), added to the scope's
            keyring. They are read on every run, so a changed file changes the keyring.
        type: list
        elements: path
        default: []
      lookaside:
        description:
          - Where signatures of the scope's images are read, a V(file:///), V(http://) or V(https://) URL. Without it
            containers/image reads them from its default location (V(/var/lib/containers/sigstore) for root).
        type: str
      lookaside_staging:
        description:
          - Where signatures are written when images of the scope are signed on push (V(file:///) only). Without it
            O(registries[].lookaside) is written to, when it is a file URL.
        type: str
      signed_identity:
        description:
          - The identity the signature must claim, as the C(signedIdentity) object of containers-policy.json(5),
            with C(type) V(matchExact), V(matchRepoDigestOrExact), V(matchRepository), V(exactReference) (and
            C(dockerReference)), V(exactRepository) (and C(dockerRepository)) or V(remapIdentity) (and C(prefix),
            C(signedPrefix)); see the examples.
          - Without it the image name must match the signed one (C(matchRepoDigestOrExact)). Only with
            O(registries[].trust=signed).
        type: dict
  local_transports:
    description:
      - Transports whose images are on the host already and are accepted as they are, such as
        V(containers-storage) (needed to push or save images from local storage under O(default=reject)), V(dir),
        V(oci), V(oci-archive) and V(docker-archive) (needed to load images from files, C(podman load)) and
        V(tarball) (needed by C(podman import)).
    type: list
    elements: str
    choices: [containers-storage, dir, docker-archive, oci, oci-archive, tarball]
    default: []
  policy_path:
    description: The policy file. The whole file is managed.
    type: path
    default: /etc/containers/policy.json
  registries_d:
    description:
      - Directory of registries.d files. The module manages its own file, V(containerhost-platform.yaml), in it,
        and refuses a scope another file there configures already (containers/image refuses such a pair).
    type: path
    default: /etc/containers/registries.d
  key_dir:
    description:
      - Directory of the keyring files, one per signed scope, named V(containerhost-platform-<scope>.asc).
    type: path
    default: /etc/pki/containers
extends_documentation_fragment:
  - containerhost.platform._attributes
attributes:
  check_mode:
    support: full
    details: Reads the same files and predicts C(changed) and the changed files exactly; writes and removes nothing.
  diff_mode:
    support: full
    details: Shows the policy JSON, the registries.d file and each keyring's keys (fingerprint and user ID) before and
      after.
  idempotent:
    support: full
    details: The policy is compared as data, keyrings and the registries.d file by content, owner and mode; a second
      run with the same parameters changes nothing.
  platform:
    support: full
    platforms: posix
    details: Any host whose container tools use containers/image (podman, skopeo, buildah, CRI-O).
notes:
  - The module manages the whole policy file. Its previous content, such as a distribution's accept-everything
    default, is replaced.
  - Keyrings left in a previous O(key_dir) are not removed when O(key_dir) changes.
  - Checked against podman 4.3 and skopeo 1.9 (containers/image 5.23), which read the look-aside keys
    C(lookaside) and C(lookaside-staging) written here (and still the older C(sigstore) names).
seealso:
  - name: containers-policy.json(5)
    description: The signature policy format.
    link: https://github.com/containers/image/blob/main/docs/containers-policy.json.5.md
  - name: containers-registries.d(5)
    description: Look-aside locations of signatures.
    link: https://github.com/containers/image/blob/main/docs/containers-registries.d.5.md
"""

EXAMPLES = r"""
- name: Only signed images from our registry; everything else refused
  containerhost.platform.image_trust:
    default: reject
    registries:
      - scope: registry.example:5000/team
        keys:
          - "{{ lookup('ansible.builtin.file', 'keys/release.asc') }}"
          - "{{ lookup('ansible.builtin.file', 'keys/release-next.asc') }}"
        lookaside: https://signatures.example/lookaside
      - scope: registry.example:5000/scratch
        trust: accept
    # Push and save images from local storage, load images from files.
    local_transports: [containers-storage, oci-archive, docker-archive]

- name: A build host that signs what it pushes
  containerhost.platform.image_trust:
    registries:
      - scope: registry.example:5000/team
        key_files: [/etc/pki/containers/vendor/release.gpg]
        lookaside: https://signatures.example/lookaside
        lookaside_staging: file:///var/lib/containers/sigstore-staging
    local_transports: [containers-storage]

- name: A mirror whose images are signed under the vendor's names
  containerhost.platform.image_trust:
    registries:
      - scope: mirror.example:5000/vendor
        keys: ["{{ vendor_public_key }}"]
        signed_identity:
          type: remapIdentity
          prefix: mirror.example:5000/vendor
          signedPrefix: registry.vendor.example
"""

RETURN = r"""
policy:
  description: The policy document as written (or, in check mode, as it would be written).
  returned: always
  type: dict
  sample:
    default: [{"type": "reject"}]
    transports:
      docker:
        registry.example:5000/team:
          - type: signedBy
            keyType: GPGKeys
            keyPath: /etc/pki/containers/containerhost-platform-registry.example_5000+team.asc
      containers-storage:
        "": [{"type": "insecureAcceptAnything"}]
policy_path:
  description: The policy file.
  returned: always
  type: str
  sample: /etc/containers/policy.json
registries_d_file:
  description: The module's registries.d file, or null when no scope has look-aside locations (and the file is absent).
  returned: always
  type: str
  sample: /etc/containers/registries.d/containerhost-platform.yaml
keyrings:
  description: The keyring of each scope with O(registries[].trust=signed), in the order declared.
  returned: always
  type: list
  elements: dict
  contains:
    scope:
      description: The scope.
      type: str
      sample: registry.example:5000/team
    path:
      description: The keyring file the policy's C(keyPath) names.
      type: str
      sample: /etc/pki/containers/containerhost-platform-registry.example_5000+team.asc
    keys:
      description: Each key once, with C(fingerprint), C(key_id), C(user_ids) and C(subkeys).
      type: list
      elements: dict
      sample: [{"fingerprint": "09DF67A3599447070BC5C7DD30A64EB4C4CC7C53", "key_id": "30A64EB4C4CC7C53",
                "user_ids": ["Release <release@example.com>"], "subkeys": []}]
changed_files:
  description: Files written or removed (or, in check mode, that would be), sorted.
  returned: always
  type: list
  elements: str
  sample: [/etc/containers/policy.json, /etc/pki/containers/containerhost-platform-registry.example_5000+team.asc]
removed_files:
  description: The part of RV(changed_files) that was (or would be) removed.
  returned: always
  type: list
  elements: str
  sample: [/etc/pki/containers/containerhost-platform-old.example.asc]
"""

import os
import stat
import typing as t

from dataclasses import dataclass

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.errors import UnsupportedError

from ansible_collections.containerhost.platform.plugins.module_utils._gpg import OpenPGPKeyError, load_keys
from ansible_collections.containerhost.platform.plugins.module_utils._signature_policy import (
    DEFAULTS,
    LOCAL_TRANSPORTS,
    MODULE_NAME,
    REGISTRIES_D_FILE,
    TRUST_LEVELS,
    PolicyError,
    RegistryTrust,
    check_policy,
    desired_policy,
    is_owned_keyring,
    keyring_path,
    normalise_local_transports,
    normalise_registries,
    parse_policy,
    policy_text_for_diff,
    registries_d_scopes,
    render_keyring,
    render_policy,
    render_registries_d,
)
from ansible_collections.containerhost.platform.plugins.module_utils._unit_files import (
    atomic_write,
    managed_header,
    read_text_or_none,
    remove_file,
)

FILE_MODE = 0o644

ENTRY_OPTIONS: dict[str, dict[str, t.Any]] = {
    "scope": {"type": "str", "required": True},
    "trust": {"type": "str", "choices": list(TRUST_LEVELS), "default": "signed"},
    "keys": {"type": "list", "elements": "str", "default": []},
    "key_files": {"type": "list", "elements": "path", "default": []},
    "lookaside": {"type": "str"},
    "lookaside_staging": {"type": "str"},
    "signed_identity": {"type": "dict"},
}


@dataclass
class FilePlan:
    """One file the module owns: what it holds, what it should hold (None: remove), and how a diff shows both."""

    path: str
    current: str | None
    wanted: str | None
    right_mode: bool = True
    shown_before: str = ""
    shown_after: str = ""

    @property
    def changed(self) -> bool:
        """Whether the file is written or removed."""
        if self.wanted is None:
            return self.current is not None
        return self.current != self.wanted or not self.right_mode

    @property
    def removed(self) -> bool:
        """Whether the file is removed."""
        return self.wanted is None and self.current is not None

    def diff(self) -> dict[str, str]:
        """The diff entry of this file."""
        header = self.path if self.right_mode or self.current != self.wanted else f"{self.path} (owner or mode)"
        return {"before_header": header, "after_header": header, "before": self.shown_before,
                "after": self.shown_after}


def owner_and_mode_right(path: str) -> bool:
    """Whether an existing file is mode 0644 and, when we run as root, owned by root."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return True
    if stat.S_IMODE(info.st_mode) != FILE_MODE:
        return False
    return os.geteuid() != 0 or (info.st_uid, info.st_gid) == (0, 0)


def keys_summary(text: str | None) -> str:
    """A keyring as a diff shows it: one ``FINGERPRINT user id`` line per key."""
    if text is None:
        return ""
    try:
        return "".join(f"{key.summary()}\n" for key in load_keys(text))
    except OpenPGPKeyError as exc:
        return f"(not a readable keyring: {exc})\n"


class TrustManager:
    """Validates every parameter, reads the host's files once, plans every file, then writes (or predicts)."""

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        params = module.params
        self.policy_path: str = params["policy_path"]
        self.registries_d: str = params["registries_d"]
        self.key_dir: str = params["key_dir"]
        self.registries_d_path = os.path.join(self.registries_d, REGISTRIES_D_FILE)
        self.entries: list[RegistryTrust] = []
        self.local_transports: list[str] = []
        self.policy: dict[str, t.Any] = {}
        self.plans: list[FilePlan] = []

    # ---- 1. validate every parameter (keys, scopes, URLs), before anything is read or written
    def validate(self) -> None:
        """Check the entries and the local transports; fail naming the entry and field."""
        try:
            self.entries = normalise_registries(self.module.params["registries"])
            self.local_transports = normalise_local_transports(self.module.params["local_transports"])
        except PolicyError as exc:
            self.module.fail_json(msg=str(exc))
        for name in ("policy_path", "registries_d", "key_dir"):
            if not os.path.isabs(self.module.params[name]):
                self.module.fail_json(msg=f"{name}: {self.module.params[name]!r} is not an absolute path")

    # ---- 2. read the key files and the files the module owns, check registries.d for conflicts
    def read(self) -> None:
        """Load key files into their entries; refuse scopes other registries.d files configure."""
        for entry in self.entries:
            for number, path in enumerate(entry.key_files):
                try:
                    with open(path, "rb") as handle:
                        blob = handle.read()
                except OSError as exc:
                    self.module.fail_json(msg=f"{entry.where}: key_files[{number}]: cannot read {path} on the host: "
                                              f"{exc.strerror or exc}")
                try:
                    entry.add_key_file(path, blob)
                except PolicyError as exc:
                    self.module.fail_json(msg=str(exc))
        self._check_registries_d_conflicts()

    def _check_registries_d_conflicts(self) -> None:
        """A scope with look-aside locations must not be configured by another registries.d file too."""
        ours = {entry.scope: entry for entry in self.entries if entry.lookaside or entry.lookaside_staging}
        if not ours or not os.path.isdir(self.registries_d):
            return
        for name in sorted(os.listdir(self.registries_d)):
            path = os.path.join(self.registries_d, name)
            if name == REGISTRIES_D_FILE or not name.endswith(".yaml") or not os.path.isfile(path):
                continue
            for scope in registries_d_scopes(read_text_or_none(path) or ""):
                if scope in ours:
                    self.module.fail_json(msg=f"{ours[scope].where}: lookaside: {path} configures {scope} already, "
                                              "and containers/image refuses a scope configured in two registries.d "
                                              "files (every pull would fail); remove it there or drop lookaside and "
                                              "lookaside_staging here")

    # ---- 3. plan every file
    def plan(self) -> None:
        """The policy, the registries.d file and the keyrings: wanted content against current content."""
        try:
            self.policy = desired_policy(self.module.params["default"], self.entries, self.local_transports,
                                         self.key_dir)
            # The document is built from checked parts; check the whole as containers/image will read it anyway.
            check_policy(self.policy)
        except PolicyError as exc:
            self.module.fail_json(msg=str(exc))
        wanted_keyrings: dict[str, str] = {}
        for entry in self.entries:
            if entry.trust == "signed":
                wanted_keyrings[keyring_path(self.key_dir, entry.scope)] = render_keyring(entry)
        for path, text in wanted_keyrings.items():
            current = read_text_or_none(path)
            self.plans.append(FilePlan(path, current, text, owner_and_mode_right(path), keys_summary(current),
                                       keys_summary(text)))
        registries_d_text = render_registries_d(self.entries, managed_header(MODULE_NAME))
        current = read_text_or_none(self.registries_d_path)
        self.plans.append(FilePlan(self.registries_d_path, current, registries_d_text,
                                   owner_and_mode_right(self.registries_d_path), current or "",
                                   registries_d_text or ""))
        current = read_text_or_none(self.policy_path)
        text = render_policy(self.policy)
        plan = FilePlan(self.policy_path, current, text, owner_and_mode_right(self.policy_path),
                        policy_text_for_diff(current), text)
        if parse_policy(current) == self.policy:
            # Same data, other formatting: nothing to write (but owner and mode still count).
            plan.current = text
        self.plans.append(plan)
        for path in self._stale_keyrings(wanted_keyrings):
            current = read_text_or_none(path)
            self.plans.append(FilePlan(path, current, None, True, keys_summary(current), ""))

    def _stale_keyrings(self, wanted: dict[str, str]) -> list[str]:
        """Keyrings of the module in key_dir that no signed scope uses any more."""
        if not os.path.isdir(self.key_dir):
            return []
        return [os.path.join(self.key_dir, name) for name in sorted(os.listdir(self.key_dir))
                if is_owned_keyring(name) and os.path.join(self.key_dir, name) not in wanted
                and os.path.isfile(os.path.join(self.key_dir, name))]

    # ---- 4. act: keyrings before the policy that names them, stale keyrings after it no longer does
    def apply(self) -> None:
        """Write changed files and remove stale ones, in an order that never leaves a policy without its keys."""
        writes = [plan for plan in self.plans if plan.changed and plan.wanted is not None]
        removals = [plan for plan in self.plans if plan.removed]
        for plan in writes:
            atomic_write(self.module, plan.path, plan.wanted, mode=FILE_MODE)
        for plan in removals:
            remove_file(plan.path)

    def result(self) -> dict[str, t.Any]:
        """The task result."""
        changed = [plan for plan in self.plans if plan.changed]
        keyrings = [{"scope": entry.scope, "path": keyring_path(self.key_dir, entry.scope),
                     "keys": [key.as_dict() for key in entry.unique_keys]}
                    for entry in self.entries if entry.trust == "signed"]
        registries_d_plan = next(plan for plan in self.plans if plan.path == self.registries_d_path)
        out: dict[str, t.Any] = {
            "changed": bool(changed),
            "policy": self.policy,
            "policy_path": self.policy_path,
            "registries_d_file": self.registries_d_path if registries_d_plan.wanted is not None else None,
            "keyrings": keyrings,
            "changed_files": sorted(plan.path for plan in changed),
            "removed_files": sorted(plan.path for plan in changed if plan.removed),
        }
        if self.module._diff:
            out["diff"] = [plan.diff() for plan in changed]
        return out

    def run(self) -> None:
        """Validate, read, plan, act (unless in check mode) and exit."""
        self.validate()
        try:
            self.read()
            self.plan()
        except OSError as exc:
            self.module.fail_json(msg=f"could not read {exc.filename or 'a file'}: {exc.strerror or exc}")
        if not self.module.check_mode:
            try:
                self.apply()
            except OSError as exc:
                self.module.fail_json(msg=f"could not change {exc.filename or 'a file'}: {exc.strerror or exc}",
                                      **self.result())
        self.module.exit_json(**self.result())


def validate_entries(module: AnsibleModule, entries: list[t.Any]) -> list[dict[str, t.Any]]:
    """Check each registries entry against its argument spec; fail naming the entry (index and scope)."""
    validator = ArgumentSpecValidator(ENTRY_OPTIONS)
    checked = []
    for index, entry in enumerate(entries):
        result = validator.validate(entry)
        if result.error_messages:
            messages = [f"unsupported option {error}" if isinstance(error, UnsupportedError) else str(error)
                        for error in result.errors]
            module.fail_json(msg=f"registries[{index}] ({entry.get('scope')}): {'; '.join(messages)}")
        checked.append(result.validated_parameters)
    return checked


ARGUMENT_SPEC: dict[str, dict[str, t.Any]] = {
    "default": {"type": "str", "choices": list(DEFAULTS), "default": "reject"},
    # Entries are checked against ENTRY_OPTIONS in validate_entries, so that a bad key names the entry it is in.
    "registries": {"type": "list", "elements": "dict", "default": []},
    "local_transports": {"type": "list", "elements": "str", "choices": list(LOCAL_TRANSPORTS), "default": []},
    "policy_path": {"type": "path", "default": "/etc/containers/policy.json"},
    "registries_d": {"type": "path", "default": "/etc/containers/registries.d"},
    "key_dir": {"type": "path", "default": "/etc/pki/containers"},
}


def main() -> None:
    """Manage the signature policy."""
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    module.params["registries"] = validate_entries(module, module.params["registries"])
    TrustManager(module).run()


if __name__ == "__main__":
    main()
