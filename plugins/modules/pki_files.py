# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pki_files
short_description: Certificates, keys and other secret files in one directory, many in one task
version_added: 0.1.0
description:
  - Puts a set of files into one directory in one module run, for example a member's CA certificate, certificate
    and key. Each file's content is compared by sha256 and its owner, group and mode with what the host has; only
    the files that differ are written or adjusted, and nothing is written when nothing differs.
  - A file is written through a temporary file in the same directory that gets its owner, group and mode before it
    replaces the old file in one rename, so a key is never readable by others, not even for a moment, and readers
    never see a half-written file. A symlink in the file's place is replaced by the file, never written through.
  - Contents are never returned nor shown by C(--diff); the diff lists the names of changed files with their owner,
    group and mode, and whether the content changes.
  - Every entry is checked (names, modes, owners and groups) before anything on the host changes.
author:
  - containerhost.platform maintainers (@containerhost)
options:
  dir:
    description:
      - Absolute path of the directory holding the files. Created when missing (missing parents V(0755)).
    type: path
    required: true
  dir_owner:
    description:
      - Owner of the directory (user name or number). Not given, an existing directory keeps its owner and a new one
        belongs to the user the module runs as.
    type: str
  dir_group:
    description:
      - Group of the directory (group name or number). Not given, an existing directory keeps its group and a new one
        gets the primary group of the user the module runs as.
    type: str
  dir_mode:
    description:
      - Mode of the directory, a quoted octal string such as V('0750'). Not given, an existing directory keeps its
        mode and a new one is V(0700).
    type: str
  files:
    description:
      - The files. A name may appear once.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - File name inside O(dir), without V(/).
        type: str
        required: true
      content:
        description:
          - The file's content, written as UTF-8 text exactly as given (a trailing newline is kept or left out as
            given). Never logged.
        type: str
        required: true
      owner:
        description:
          - Owner (user name or number). Defaults to the user the module runs as (normally V(root)).
        type: str
      group:
        description:
          - Group (group name or number). Defaults to the owner's primary group.
        type: str
      mode:
        description:
          - Mode, a quoted octal string such as V('0600') or V('0644'). Unquoted YAML numbers are refused, as YAML
            reads V(0600) as the decimal 384.
        type: raw
        default: '0600'
  purge:
    description:
      - Remove every other file and symlink in O(dir) (subdirectories are left alone).
    type: bool
    default: false
extends_documentation_fragment:
  - containerhost.platform._attributes
attributes:
  check_mode:
    support: full
    details:
      - Reads the same state and predicts C(changed) and RV(changed_files) exactly; writes nothing.
      - An owner or group the host does not have yet is a warning in check mode (an earlier task, such as a package
        installation, may create it) and the file is predicted to change; a real run fails on it before any change.
  diff_mode:
    support: full
    details: Shows the directory's and each changed file's owner, group, mode and whether the content changes; never
      the content.
  idempotent:
    support: full
    details: A second run with the same files changes nothing and writes nothing.
  platform:
    support: full
    platforms: posix
notes:
  - Use C(no_log) on the task as well when the contents come from variables, so that nothing of them reaches the
    callback output.
  - On SELinux hosts a written file gets the default context of its path.
seealso:
  - module: containerhost.platform.etcd_pki
  - module: ansible.builtin.copy
"""

EXAMPLES = r"""
- name: An etcd member's certificates and keys
  containerhost.platform.pki_files:
    dir: /etc/etcd/pki
    dir_owner: root
    dir_group: etcd
    dir_mode: "0750"
    files:
      - {name: ca.crt, content: "{{ pki.ca_cert }}", owner: root, group: root, mode: "0644"}
      - {name: member.crt, content: "{{ pki.members[inventory_hostname].cert }}", owner: etcd, group: etcd, mode: "0644"}
      - {name: member.key, content: "{{ pki.members[inventory_hostname].key }}", owner: etcd, group: etcd, mode: "0600"}
  no_log: true
  register: member_pki

- name: Files from the controller, and nothing else in the directory
  containerhost.platform.pki_files:
    dir: /etc/myapp/tls
    dir_mode: "0700"
    purge: true
    files:
      - name: server.crt
        content: "{{ lookup('ansible.builtin.file', 'tls/server.crt', rstrip=false) }}"
        mode: "0644"
      - name: server.key
        content: "{{ lookup('ansible.builtin.file', 'tls/server.key', rstrip=false) }}"
  no_log: true
"""

RETURN = r"""
dir:
  description: The directory (normalised).
  returned: always
  type: str
  sample: /etc/etcd/pki
dir_changed:
  description: Whether the directory was (or would be) created or given another owner, group or mode.
  returned: always
  type: bool
  sample: false
dir_changes:
  description: What changed about the directory.
  returned: always
  type: list
  elements: str
  sample: ["mode 0755 -> 0750"]
changed_files:
  description: Names of the files written or adjusted (or that would be in check mode), in the order given.
  returned: always
  type: list
  elements: str
  sample: [member.crt, member.key]
removed_files:
  description: Names removed by O(purge) (or that would be).
  returned: always
  type: list
  elements: str
  sample: [old.key]
changes:
  description: Per changed or removed name, what changed.
  returned: always
  type: dict
  sample: {"member.key": "content changed, mode 0644 -> 0600", "ca.crt": "created"}
"""

import os
import typing as t

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.containerhost.platform.plugins.module_utils._file_set import (
    Accounts,
    DirSpec,
    FileAction,
    FileSetError,
    Found,
    WantedFile,
    adjust_file,
    diff_entry,
    dir_text,
    fix_dir,
    list_names,
    make_dir,
    plan_dir,
    plan_file,
    plan_purge,
    read_entry,
    sync_dir,
    validate_dir,
    validate_files,
    write_file,
)

ARGUMENT_SPEC: dict[str, dict[str, t.Any]] = {
    "dir": {"type": "path", "required": True},
    "dir_owner": {"type": "str"},
    "dir_group": {"type": "str"},
    "dir_mode": {"type": "str"},
    "files": {
        "type": "list", "elements": "dict", "required": True,
        "options": {
            "name": {"type": "str", "required": True},
            "content": {"type": "str", "required": True, "no_log": True},
            "owner": {"type": "str"},
            "group": {"type": "str"},
            # raw, so that an unquoted YAML number is refused instead of read as a decimal mode.
            "mode": {"type": "raw", "default": "0600"},
        },
    },
    "purge": {"type": "bool", "default": False},
}


class FileSet:
    """Validates every entry, reads the directory once, then writes only what differs (or predicts it)."""

    def __init__(self, module: AnsibleModule, accounts: Accounts | None = None) -> None:
        self.module = module
        self.accounts = accounts or Accounts()
        self.spec = DirSpec("/")
        self.files: list[WantedFile] = []
        self.dir_found: Found | None = None
        self.dir_changes: list[str] = []
        self.actions: list[FileAction] = []
        self.done: list[str] = []

    def validate(self) -> None:
        """Check dir, its metadata and every file entry; fail naming the field before anything is read."""
        params = self.module.params
        check = self.module.check_mode
        try:
            self.spec, warnings = validate_dir(params["dir"], params["dir_owner"], params["dir_group"],
                                               params["dir_mode"], self.accounts, allow_unknown=check)
            self.files, file_warnings = validate_files(params["files"], self.accounts, allow_unknown=check)
        except FileSetError as exc:
            self.module.fail_json(msg=str(exc))
        for warning in warnings + file_warnings:
            self.module.warn(warning)

    def decide(self) -> None:
        """Read the directory and each declared name once; work out every write, adjustment and removal."""
        self.dir_found = read_entry(self.spec.path, self.accounts, with_digest=False)
        self.dir_changes = plan_dir(self.spec, self.dir_found)
        declared = [wanted.name for wanted in self.files]
        purge = self.module.params["purge"]
        names: list[str] = []
        if self.dir_found is not None:
            names = list_names(self.spec.path) if purge else declared
        found: dict[str, Found] = {}
        for name in names:
            # Only declared files need their content read; others are only looked at to be removed.
            entry = read_entry(os.path.join(self.spec.path, name), self.accounts, with_digest=name in declared)
            if entry is not None:
                found[name] = entry
        self.actions = [plan_file(wanted, found.get(wanted.name)) for wanted in self.files]
        if purge:
            self.actions.extend(plan_purge(names, declared, found))

    def apply(self) -> None:
        """Directory first, then the files in the order given, then removals; one directory fsync at the end."""
        if self.dir_found is None:
            make_dir(self.spec)
        elif self.dir_changes:
            fix_dir(self.spec)
        wrote = False
        for action in self.actions:
            if action.action == "write":
                write_file(self.spec.path, t.cast(WantedFile, action.wanted), self._selinux_default)
                wrote = True
            elif action.action == "adjust":
                adjust_file(self.spec.path, t.cast(WantedFile, action.wanted))
            elif action.action == "remove":
                os.unlink(os.path.join(self.spec.path, action.name))
                wrote = True
            if action.changed:
                self.done.append(action.name)
        if wrote:
            sync_dir(self.spec.path)

    def _selinux_default(self, tmp: str, path: str) -> None:
        """Give a new file the default SELinux context of its destination (as ansible.builtin.copy does)."""
        if self.module.selinux_enabled():
            self.module.set_context_if_different(tmp, self.module.selinux_default_context(path), False)

    def result(self, actions: list[FileAction] | None = None) -> dict[str, t.Any]:
        """The task result for the given actions (all planned ones by default)."""
        actions = self.actions if actions is None else actions
        changed = [a for a in actions if a.changed]
        out: dict[str, t.Any] = {
            "changed": bool(self.dir_changes or changed),
            "dir": self.spec.path,
            "dir_changed": bool(self.dir_changes),
            "dir_changes": list(self.dir_changes),
            "changed_files": [a.name for a in changed if a.action != "remove"],
            "removed_files": [a.name for a in changed if a.action == "remove"],
            "changes": {a.name: ", ".join(a.changes) for a in changed},
        }
        if self.module._diff:
            before = dir_text(self.spec, self.dir_found, "before") if self.dir_changes else ""
            after = dir_text(self.spec, self.dir_found, "after") if self.dir_changes else ""
            out["diff"] = diff_entry(self.spec.path, before, after, changed)
        return out

    def run(self) -> None:
        """Validate, read, decide, act (unless in check mode) and exit."""
        self.validate()
        try:
            self.decide()
        except FileSetError as exc:
            self.module.fail_json(msg=str(exc))
        except OSError as exc:
            self.module.fail_json(msg=f"could not read {exc.filename or self.spec.path}: {exc.strerror or exc}")
        if not self.module.check_mode:
            try:
                self.apply()
            except OSError as exc:
                done = [a for a in self.actions if a.name in self.done]
                self.module.fail_json(msg=f"could not change {exc.filename or self.spec.path}: {exc.strerror or exc}",
                                      **self.result(done))
        self.module.exit_json(**self.result())


def main() -> None:
    """Put the files in place."""
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    FileSet(module).run()


if __name__ == "__main__":
    main()
