# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: etcd_key
short_description: Put, read and delete etcd keys (v3 API) with compare-before-write and JSON values
version_added: 0.1.0
description:
  - Declares the value of one or many etcd keys through C(etcdctl) (API v3), deletes keys or whole prefixes, and
    reads keys or prefixes.
  - Reads every declared key with one C(etcdctl get) when the keys share a prefix (one range covering all of them),
    otherwise with one C(get) per key, compares, and writes only the keys whose value differs.
  - Values given as data (dicts, lists, numbers, booleans) are written as canonical JSON (sorted keys, no spaces) and
    compared with what etcd holds as data, so a key written by another tool with other formatting or key order is
    left alone. String values are written and compared exactly.
  - Values reach C(etcdctl) on its standard input, never on its command line.
author:
  - containerhost.platform maintainers (@containerhost)
options:
  keys:
    description:
      - The keys to manage, each a dict. Mutually exclusive with O(key).
      - Every entry is validated before anything is read or written.
    type: list
    elements: dict
    suboptions:
      key:
        description: The key (or, with O(keys[].prefix=true), the prefix). Must not be empty.
        type: str
        required: true
      value:
        description:
          - The value for O(keys[].state=present). A string is stored as it is; any other data is stored as
            canonical JSON and compared as data.
        type: raw
      state:
        description:
          - V(present) sets the value, V(absent) deletes the key (or every key below the prefix), V(read) only
            returns the current value (or every key and value below the prefix).
        type: str
        choices: [present, absent, read]
        default: present
      prefix:
        description:
          - Treat O(keys[].key) as a prefix. Only with O(keys[].state=absent) or O(keys[].state=read).
        type: bool
        default: false
  key:
    description: A single key; shorthand for one O(keys) entry. Mutually exclusive with O(keys).
    type: str
  value:
    description: The value of O(key), as O(keys[].value).
    type: raw
  state:
    description: The state of O(key), as O(keys[].state).
    type: str
    choices: [present, absent, read]
    default: present
  prefix:
    description: Whether O(key) is a prefix, as O(keys[].prefix).
    type: bool
    default: false
extends_documentation_fragment:
  - containerhost.platform._attributes
  - containerhost.platform._etcd
attributes:
  check_mode:
    support: full
    details: Reads the same keys and predicts C(changed), the values after and the diff exactly; writes nothing.
  diff_mode:
    support: full
    details: Shows the changed keys and their values before and after.
  idempotent:
    support: full
    details: A second run with the same keys writes nothing and reports no change.
  platform:
    support: full
    platforms: posix
    details: Needs C(etcdctl) 3.4 or later on the target and an etcd 3 cluster it can reach.
notes:
  - Values are returned and shown in the diff. Use C(no_log) on the task for secret values; they are never put on
    the command line.
  - Keys are compared as text; binary values that are not UTF-8 are shown with replacement characters.
seealso:
  - module: containerhost.platform.etcd_member
"""

EXAMPLES = r"""
- name: Flannel network configuration, compared as data
  containerhost.platform.etcd_key:
    endpoints: [https://10.0.0.1:2379, https://10.0.0.2:2379]
    ca_cert: /etc/etcd/pki/ca.crt
    client_cert: /etc/etcd/pki/client.crt
    client_key: /etc/etcd/pki/client.key
    key: /coreos.com/network/config
    value:
      Network: 10.1.0.0/16
      Backend:
        Type: vxlan

- name: Several keys in one task
  containerhost.platform.etcd_key:
    keys:
      - key: /app/mode
        value: production
      - key: /app/old-setting
        state: absent
      - key: /app/cache/
        prefix: true
        state: absent

- name: Read everything below a prefix
  containerhost.platform.etcd_key:
    key: /coreos.com/network/subnets/
    prefix: true
    state: read
  register: subnets
"""

RETURN = r"""
keys:
  description: One entry per declared key, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    key:
      description: The key or prefix.
      type: str
      sample: /coreos.com/network/config
    state:
      description: The declared state.
      type: str
      sample: present
    prefix:
      description: Whether RV(keys[].key) is a prefix.
      type: bool
      sample: false
    changed:
      description: Whether this entry was (or in check mode would be) changed.
      type: bool
      sample: true
    before:
      description:
        - The value before the task, V(null) when the key did not exist. For a prefix, a dict of every key below it
          and its value.
      type: raw
      sample: '{"Network":"10.0.0.0/16"}'
    after:
      description: The value after the task (predicted in check mode), in the same form as RV(keys[].before).
      type: raw
      sample: '{"Backend":{"Type":"vxlan"},"Network":"10.1.0.0/16"}'
"""

import json
import os
import typing as t

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.errors import UnsupportedError

from ansible_collections.containerhost.platform.plugins.module_utils._etcdctl import (
    CONNECTION_OPTIONS,
    Connection,
    EtcdError,
    Etcdctl,
    covering_range,
    validate_connection,
)

ENTRY_OPTIONS: dict[str, dict[str, t.Any]] = {
    "key": {"type": "str", "required": True},
    "value": {"type": "raw"},
    "state": {"type": "str", "choices": ["present", "absent", "read"], "default": "present"},
    "prefix": {"type": "bool", "default": False},
}


def serialise(value: t.Any) -> str:
    """The text stored for a declared value: strings as they are, anything else as canonical JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def same_value(wanted: t.Any, current: str | None) -> bool:
    """Whether etcd already holds the declared value: strings exactly, data as parsed JSON."""
    if current is None:
        return False
    if isinstance(wanted, str):
        return current == wanted
    try:
        return bool(json.loads(current) == wanted and type(json.loads(current)) is type(wanted))
    except ValueError:
        return False


def common_prefix(items: list[str]) -> str:
    """The longest prefix every item starts with."""
    return os.path.commonprefix(items) if items else ""


class KeyEntry:
    """One declared key or prefix: what is wanted, what etcd holds, and whether it changes."""

    def __init__(self, index: int, params: dict[str, t.Any]) -> None:
        self.where = f"keys[{index}] ({params['key']})"
        self.key: str = params["key"]
        self.value = params["value"]
        self.state: str = params["state"]
        self.prefix: bool = params["prefix"]
        self.before: t.Any = None
        self.after: t.Any = None
        self.changed = False

    def problems(self) -> list[str]:
        """What is wrong with the entry, naming the field and what it accepts."""
        found = []
        if self.key == "":
            found.append("key: must not be empty (a prefix of '' would cover the whole keyspace)")
        if self.state == "present" and self.value is None:
            found.append("value: required with state present; accepted: a string, or data stored as JSON")
        if self.state != "present" and self.value is not None:
            found.append(f"value: not used with state {self.state}; remove it or use state present")
        if self.state == "present" and self.prefix:
            found.append("prefix: only with state absent or read; a value is set on one key")
        return found

    def covers(self, key: str) -> bool:
        """Whether a key is this entry's key, or below its prefix."""
        return key.startswith(self.key) if self.prefix else key == self.key

    def result(self) -> dict[str, t.Any]:
        """The per-key return value."""
        return {"key": self.key, "state": self.state, "prefix": self.prefix, "changed": self.changed,
                "before": self.before, "after": self.after}


class KeyManager:
    """Validates every entry, reads all keys with as few gets as possible, then writes only the differences."""

    def __init__(self, module: AnsibleModule, entries: list[dict[str, t.Any]]) -> None:
        self.module = module
        self.entries = [KeyEntry(index, params) for index, params in enumerate(entries)]
        self.etcdctl: Etcdctl | None = None
        self.current: dict[str, str] = {}

    def fail(self, msg: str, **kwargs: t.Any) -> t.NoReturn:
        """Fail the task, keeping what was found so far."""
        self.module.fail_json(msg=msg, keys=[entry.result() for entry in self.entries], **kwargs)

    def validate(self) -> None:
        """Check every entry and the connection; fail on the first problem, before anything is read."""
        problems = validate_connection(self.module.params)
        for name in ("ca_cert", "client_cert", "client_key"):
            path = self.module.params[name]
            if path and not os.path.isfile(path):
                problems.append(f"{name}: {path} is not a file")
        if problems:
            self.module.fail_json(msg="; ".join(problems))
        seen: dict[tuple[str, bool], str] = {}
        for entry in self.entries:
            for problem in entry.problems():
                self.module.fail_json(msg=f"{entry.where}: {problem}")
            if (entry.key, entry.prefix) in seen:
                self.module.fail_json(msg=f"{entry.where}: key: already declared by {seen[(entry.key, entry.prefix)]}; "
                                          "declare each key once")
            seen[(entry.key, entry.prefix)] = entry.where
        for entry in self.entries:
            if entry.state != "present":
                continue
            for other in self.entries:
                if other.state == "absent" and other.prefix and other.covers(entry.key):
                    self.module.fail_json(msg=f"{entry.where}: key: is below the prefix {other.key} that "
                                              f"{other.where} deletes; declare one or the other")

    def read(self) -> None:
        """Read every declared key and prefix: one ranged get when they share a prefix, else one get per entry."""
        self.etcdctl = Etcdctl(self.module, Connection.from_params(self.module.params), self.module.params["executable"])
        keys = [entry.key for entry in self.entries if not entry.prefix]
        prefixes = [entry.key for entry in self.entries if entry.prefix]
        if len(self.entries) == 1:
            entry = self.entries[0]
            found = self.etcdctl.get_prefix(entry.key) if entry.prefix else self.etcdctl.get_range(entry.key)
        elif common_prefix([*keys, *prefixes]):
            start, end = covering_range(keys, prefixes)
            found = self.etcdctl.get_range(start, end)
        else:
            found = {}
            for entry in self.entries:
                found.update(self.etcdctl.get_prefix(entry.key) if entry.prefix else self.etcdctl.get_range(entry.key))
        # A range also returns keys nobody declared; keep only those an entry covers.
        self.current = {key: kv["value"] for key, kv in found.items()
                        if any(entry.covers(key) for entry in self.entries)}

    def decide(self) -> None:
        """Work out each entry's before, after and change."""
        for entry in self.entries:
            if entry.prefix:
                entry.before = {key: value for key, value in sorted(self.current.items()) if entry.covers(key)}
                entry.after = {} if entry.state == "absent" else dict(entry.before)
            else:
                entry.before = self.current.get(entry.key)
                if entry.state == "present":
                    entry.after = entry.before if same_value(entry.value, entry.before) else serialise(entry.value)
                else:
                    entry.after = None if entry.state == "absent" else entry.before
            entry.changed = entry.after != entry.before

    def apply(self) -> None:
        """Write and delete what changes, in the order declared."""
        if self.etcdctl is None:
            raise RuntimeError("apply() before read()")
        for entry in self.entries:
            if not entry.changed:
                continue
            if entry.state == "present":
                self.etcdctl.put(entry.key, entry.after)
            else:
                self.etcdctl.delete(entry.key, prefix=entry.prefix)

    def diff(self) -> dict[str, t.Any]:
        """Changed keys with their values before and after (absent keys are left out of that side)."""
        before: dict[str, str] = {}
        after: dict[str, str] = {}
        for entry in self.entries:
            if not entry.changed:
                continue
            if entry.prefix:
                before.update(entry.before)
                after.update(entry.after)
                continue
            if entry.before is not None:
                before[entry.key] = entry.before
            if entry.after is not None:
                after[entry.key] = entry.after
        return {"before": before, "after": after}

    def run(self) -> None:
        """Validate, read, decide, write (unless in check mode) and exit."""
        self.validate()
        try:
            self.read()
            self.decide()
            if not self.module.check_mode:
                self.apply()
        except EtcdError as exc:
            self.fail(str(exc), **exc.result())
        result: dict[str, t.Any] = {"changed": any(entry.changed for entry in self.entries),
                                    "keys": [entry.result() for entry in self.entries]}
        if self.module._diff:
            result["diff"] = self.diff()
        self.module.exit_json(**result)


def entries_from_params(module: AnsibleModule) -> list[dict[str, t.Any]]:
    """The O(keys) entries (O(key) as one entry), each checked against the entry spec; fail naming the entry."""
    params = module.params
    if params["key"] is not None:
        return [{"key": params["key"], "value": params["value"], "state": params["state"], "prefix": params["prefix"]}]
    validator = ArgumentSpecValidator(ENTRY_OPTIONS)
    checked = []
    for index, entry in enumerate(params["keys"]):
        name = entry.get("key") if isinstance(entry, dict) else None
        result = validator.validate(entry)
        if result.error_messages:
            messages = [f"unsupported option {error}" if isinstance(error, UnsupportedError) else str(error)
                        for error in result.errors]
            module.fail_json(msg=f"keys[{index}] ({name}): {'; '.join(messages)}")
        checked.append(result.validated_parameters)
    if not checked:
        module.fail_json(msg="keys: at least one entry is needed")
    return checked


def main() -> None:
    """Manage the keys."""
    module = AnsibleModule(
        argument_spec={
            # Entries are checked against ENTRY_OPTIONS in entries_from_params, so that errors name the entry.
            "keys": {"type": "list", "elements": "dict", "no_log": False},
            "key": {"type": "str", "no_log": False},
            "value": {"type": "raw"},
            "state": {"type": "str", "choices": ["present", "absent", "read"], "default": "present"},
            "prefix": {"type": "bool", "default": False},
            **CONNECTION_OPTIONS,
        },
        mutually_exclusive=[("keys", "key")],
        required_one_of=[("keys", "key")],
        supports_check_mode=True,
    )
    KeyManager(module, entries_from_params(module)).run()


if __name__ == "__main__":
    main()
