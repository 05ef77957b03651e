# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: sysctl
short_description: Set many kernel parameters (sysctls) live and in one sysctl.d file
version_added: 0.1.0
description:
  - Sets kernel parameters both live (in C(/proc/sys)) and persistently in one file of C(/etc/sysctl.d) that the
    module owns whole, as many as needed in one task.
  - Every key is checked against the running kernel before anything changes; an unknown key fails the task with its
    name and the nearest existing keys.
  - Values are written to C(/proc/sys) and read back; a value the kernel did not keep (clamped or rounded) fails the
    task with the key, the wanted and the kept value, before the file is written.
  - Keys that cannot be changed from where the module runs, such as host-wide keys in a container or any key under a
    read-only C(/proc/sys), are not written live and are returned in RV(skipped_keys) with the reason (and a warning);
    the file is still written.
  - The file is written atomically, root-owned with mode V(0644), only when its content, owner or mode differs; it
    starts with an C(Ansible managed) header and the fingerprint C(# containerhost.platform:sysctl).
author:
  - containerhost.platform maintainers (@containerhost)
options:
  settings:
    description:
      - Keys and their values. A key is given in dotted form (V(net.core.somaxconn)) or as a path below
        C(/proc/sys) (V(net/core/somaxconn)) and is returned in dotted form. In dotted form a C(/) stands for a dot
        inside a name, as in sysctl.d(5) (V(net.ipv4.conf.eth0/10.rp_filter) is interface C(eth0.10)).
      - A value is a string or an integer; V(true) and V(false) become V(1) and V(0). Values of several fields
        (V(4096 87380 6291456)) are compared field by field, whatever whitespace separates them.
      - Patterns and the C(-) prefix of sysctl.d are not accepted.
      - Ignored with O(state=absent).
    type: dict
    default: {}
  file:
    description:
      - Name of the file in C(/etc/sysctl.d) that the module owns. It must end in C(.conf); files are applied at boot
        in the order of their names, so a later name wins for the same key.
    type: str
    default: 90-containerhost.conf
  purge:
    description:
      - Whether keys in O(file) that are not in O(settings) are removed from it (V(true)), or kept where they are
        (V(false), for several tasks that share one file). Removed keys keep their live values until the next boot.
    type: bool
    default: true
  live:
    description:
      - Whether values are written to C(/proc/sys) now.
    type: bool
    default: true
  persistent:
    description:
      - Whether O(file) is written (or with O(state=absent) removed). With V(false) the file is left as it is.
    type: bool
    default: true
  state:
    description:
      - V(present) writes the settings; V(absent) removes O(file).
      - V(absent) does not reset live values, because the kernel keeps no record of a default to go back to; they
        return to the kernel's defaults (or to other sysctl.d files) at the next boot.
    type: str
    choices: [present, absent]
    default: present
  in_container:
    description:
      - What happens, in a container, to a host-wide key (one not held by the container's own network, IPC or UTS
        namespace) whose live value differs.
      - V(skip) leaves it and reports it in RV(skipped_keys), because writing it from a privileged container would
        change the kernel of the host and of every container on it. V(apply) writes it where the kernel allows.
      - Keys of the container's own namespaces are written in both cases.
    type: str
    choices: [skip, apply]
    default: skip
extends_documentation_fragment:
  - containerhost.platform._attributes
attributes:
  check_mode:
    support: full
    details: Reads the live values and the file and predicts C(changed), the live changes and the skipped keys exactly;
      writes nothing.
  diff_mode:
    support: full
    details: Shows the file before and after, and the changed live values before and after.
  idempotent:
    support: full
    details: Values are compared field by field with what the kernel reports; a second run changes nothing.
  platform:
    support: full
    platforms: posix
    details: Linux. At boot the file is applied by systemd-sysctl (or C(sysctl --system)).
notes:
  - Keys that only exist once a kernel module is loaded (such as C(net.bridge.*) with C(br_netfilter)) need the
    module first; M(containerhost.platform.kernel_module) loads it and lists it in C(modules-load.d), which systemd
    loads before it applies sysctl.d files at boot.
  - A file applied after O(file) at boot (a later name, or C(/etc/sysctl.conf)) that sets a declared key to another
    value would undo it at the next boot; the module warns and returns it in RV(overridden).
  - "Namespaces: C(net.*) keys belong to the network namespace (except a few host-wide ones such as
    C(net.core.rmem_max)), C(kernel.shm*), C(kernel.msg*), C(kernel.sem) and C(fs.mqueue.*) to the IPC namespace,
    C(kernel.hostname) and C(kernel.domainname) to the UTS namespace, C(user.*) to the user namespace; all others are
    host-wide."
seealso:
  - module: containerhost.platform.kernel_module
  - name: sysctl.d(5)
    description: The format and order of sysctl.d files.
    link: https://www.freedesktop.org/software/systemd/man/latest/sysctl.d.html
  - name: Documentation for /proc/sys
    description: The kernel's description of its sysctls.
    link: https://docs.kernel.org/admin-guide/sysctl/index.html
"""

EXAMPLES = r"""
- name: Tune the network and memory of a container host
  containerhost.platform.sysctl:
    settings:
      net.core.somaxconn: 4096
      net.core.rmem_max: 16777216
      net.ipv4.tcp_rmem: 4096 87380 16777216
      net.ipv4.ip_forward: true
      vm.max_map_count: 262144
      fs.inotify.max_user_instances: 8192
      kernel/pid_max: 4194304

- name: Let netfilter see bridged traffic (after loading br_netfilter)
  containerhost.platform.sysctl:
    file: 91-containerhost-bridge.conf
    settings:
      net.bridge.bridge-nf-call-iptables: 1
      net.bridge.bridge-nf-call-ip6tables: 1

- name: Write the file only; the values take effect at the next boot
  containerhost.platform.sysctl:
    live: false
    settings:
      kernel.panic: 10

- name: Remove the file (live values stay until the next boot)
  containerhost.platform.sysctl:
    state: absent
"""

RETURN = r"""
file:
  description: The host path of the managed file.
  returned: always
  type: str
  sample: /etc/sysctl.d/90-containerhost.conf
file_changed:
  description: Whether the file was (or in check mode would be) written or removed.
  returned: always
  type: bool
  sample: true
live_changed:
  description: Keys whose live value was (or would be) written, in the order given.
  returned: always
  type: list
  elements: str
  sample: [net.core.somaxconn, vm.max_map_count]
skipped_keys:
  description:
    - Keys whose live value differs but was not written, each with the reason. Their file entries are written.
  returned: always
  type: dict
  sample: {"vm.max_map_count": "host-wide key in a container (podman): ..."}
values:
  description:
    - Live value of each declared key after the task (predicted in check mode), fields separated by single spaces;
      null for a key that does not exist where the module ran.
  returned: always
  type: dict
  sample: {"net.core.somaxconn": "4096", "net.ipv4.tcp_rmem": "4096 87380 16777216"}
namespaced:
  description:
    - The namespace that holds each key where the module ran - V(net), V(ipc), V(uts), V(user) - or V(none) for
      host-wide keys.
  returned: always
  type: dict
  sample: {"net.core.somaxconn": "net", "net.core.rmem_max": "none", "vm.max_map_count": "none"}
overridden:
  description: Declared keys that a file applied later at boot sets to another value, with that C(file) and C(value).
  returned: always
  type: dict
  sample: {"vm.max_map_count": {"file": "/etc/sysctl.d/99-local.conf", "value": "65530"}}
container:
  description: The container manager the host runs under (as systemd names it), or null on a host.
  returned: always
  type: str
  sample: podman
"""

import errno
import os
import re
import typing as t

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.containerhost.platform.plugins.module_utils._sysctl import (
    HOST_NET_KEYS,
    ProcSys,
    SysctlError,
    boot_overrides,
    detect_container,
    file_mode_right,
    host_path,
    merge_settings,
    module_hint,
    namespace_of,
    normalize_value,
    parse_key,
    parse_sysctl_conf,
    read_text,
    render_sysctl_conf,
    suggest,
    values_equal,
)
from ansible_collections.containerhost.platform.plugins.module_utils._unit_files import (
    atomic_write,
    has_fingerprint,
    managed_header,
    remove_file,
)

MODULE_NAME = "sysctl"
SYSCTL_DIR = "/etc/sysctl.d"
FILE_MODE = 0o644
FILE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]*\.conf$")
# Tests point this at a directory holding a fake /proc, /etc and /run.
_ROOT = "/"


class SysctlManager:
    """Validates every key, reads the kernel and the file once, decides, then writes (or predicts)."""

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        params = module.params
        self.state: str = params["state"]
        self.live: bool = params["live"] and self.state == "present"
        self.persistent: bool = params["persistent"]
        self.purge: bool = params["purge"]
        self.in_container: str = params["in_container"]
        self.file_name: str = params["file"]
        self.path = os.path.join(SYSCTL_DIR, self.file_name)
        self.proc = ProcSys(_ROOT)
        self.settings: dict[str, str] = {}
        self.key_paths: dict[str, str] = {}
        self.current: dict[str, str | None] = {}
        self.present: set[str] = set()
        self.write_only: list[str] = []
        self.unreadable: dict[str, str] = {}
        self.namespaced: dict[str, str] = {}
        self.skipped: dict[str, str] = {}
        self.to_write: list[str] = []
        self.live_changed: list[str] = []
        self.container: str | None = None
        self.child_netns = False
        self.file_before: str | None = None
        self.file_after: str | None = None
        self.file_changed = False
        self.overridden: dict[str, dict[str, str]] = {}

    # ---- 1. validate every key and value before anything is read or written
    def validate(self) -> None:
        """Check the file name and every key and value; fail listing every bad one by its settings key."""
        if not FILE_NAME_RE.match(self.file_name):
            self.module.fail_json(msg=f"file: {self.file_name!r} is not accepted; give a file name (no directory) that "
                                      "starts with a letter or digit and ends in .conf, such as 90-containerhost.conf")
        if self.state == "absent":
            if self.module.params["settings"]:
                self.module.warn("settings are ignored with state=absent, which removes the file only")
            return
        errors = []
        given: dict[str, t.Any] = {}
        for raw_key, raw_value in self.module.params["settings"].items():
            try:
                name, key_path = parse_key(raw_key)
            except SysctlError as exc:
                errors.append(f"settings[{raw_key!r}]: {exc}")
                continue
            if name in given:
                errors.append(f"settings[{raw_key!r}]: names the same key ({name}) as settings[{given[name]!r}]; "
                              "give each key once")
                continue
            given[name] = raw_key
            try:
                self.settings[name] = normalize_value(raw_value)
            except SysctlError as exc:
                errors.append(f"settings[{raw_key!r}]: {exc}")
                continue
            self.key_paths[name] = key_path
        if errors:
            self.module.fail_json(msg="; ".join(errors))

    # ---- 2. read the kernel's keys and the file
    def read(self) -> None:
        """Current live values, where the module runs (container, own network namespace), and the file."""
        self.container = detect_container(_ROOT)
        self.child_netns = self.proc.in_child_netns()
        self.file_before = read_text(host_path(_ROOT, self.path))
        for name, key_path in self.key_paths.items():
            self.current[name] = None
            if not self.proc.exists(key_path):
                continue
            self.present.add(name)
            if self.proc.write_only(key_path):
                # Reading an action key (vm.drop_caches) fails; it is refused in decide().
                self.write_only.append(name)
                continue
            try:
                self.current[name] = self.proc.read(key_path)
            except OSError as exc:
                # Some keys refuse reads until set (net.ipv6.conf.*.stable_secret: EIO); they compare as different.
                self.unreadable[name] = exc.strerror or str(exc)

    # ---- 3. decide: unknown keys fail; per key write, skip (with the reason) or leave
    def decide(self) -> None:
        """Fail on unknown and unusable keys, plan the live writes and the file."""
        unknown, refused = [], []
        for name, key_path in self.key_paths.items():
            self.namespaced[name] = namespace_of(name)
            if name in self.present:
                if name.startswith("net.") and self.child_netns:
                    # Present in a network namespace of its own: the namespace holds it, whatever the list says.
                    self.namespaced[name] = "net"
                continue
            if name.startswith("net.") and self.child_netns and (
                    name in HOST_NET_KEYS or not suggest(name, self.proc.nearby_keys(key_path))):
                self.namespaced[name] = "none"
                self.skipped[name] = self._missing_in_netns_reason(name)
                continue
            unknown.append(name)
        if unknown:
            self.module.fail_json(msg=f"settings: unknown key{'s' if len(unknown) > 1 else ''} (no /proc/sys entry on "
                                      f"this kernel): {'; '.join(self._unknown_detail(name) for name in unknown)}",
                                  unknown=unknown)
        if self.write_only:
            self.module.fail_json(msg=f"settings: {', '.join(self.write_only)}: write-only key (an action such as "
                                      "vm.drop_caches, not a setting with a value to keep); run it as a command instead")
        if self.live:
            for name, wanted in self.settings.items():
                if name in self.skipped or values_equal(self.current[name], wanted):
                    continue
                reason = self._cannot_write(name)
                if reason is None:
                    self.to_write.append(name)
                elif reason[0]:
                    self.skipped[name] = reason[1]
                else:
                    refused.append(f"{name}: {reason[1]}")
            if refused:
                self.module.fail_json(msg=f"settings: cannot be changed live: {'; '.join(refused)}")
            if self.to_write and os.geteuid() != 0:
                self.module.fail_json(msg=f"live: writing {', '.join(self.to_write)} to /proc/sys needs root; run the "
                                          "task with become: true, or set live: false")
        self._plan_file()

    def _missing_in_netns_reason(self, name: str) -> str:
        """Why a net.* key missing from a network namespace of its own is skipped rather than unknown."""
        where = f"a container ({self.container})" if self.container else "a network namespace of its own"
        if name in HOST_NET_KEYS:
            return (f"host-wide key: it exists only in the host's initial network namespace, and this host runs in "
                    f"{where}; set it on the host")
        return (f"not present in this network namespace ({where}): a key of the host's namespace only, or of a "
                "kernel module the host has not loaded; set it on the host")

    def _unknown_detail(self, name: str) -> str:
        """An unknown key with the nearest existing keys and, for module-provided keys, what loads them."""
        detail = name
        near = suggest(name, self.proc.nearby_keys(self.key_paths[name]))
        if near:
            detail += f" (did you mean {' or '.join(near)}?)"
        hint = module_hint(name)
        if hint:
            detail += f" ({hint})"
        return detail

    def _cannot_write(self, name: str) -> tuple[bool, str] | None:
        """Why a differing key is not written: ``(skip, reason)``; skip False means the task must fail."""
        namespace = self.namespaced[name]
        # In a container sharing the host's network namespace, net.* keys are the host's.
        host_wide = namespace == "none" or (namespace == "net" and not self.child_netns)
        if self.container and host_wide and self.in_container == "skip":
            shared = " (the container shares the host's network namespace)" if namespace == "net" else ""
            return True, (f"host-wide key in a container ({self.container}){shared}: writing it would change the "
                          "kernel of the host and every container on it; set it on the host, or use "
                          "in_container=apply")
        why = self.proc.unwritable(self.key_paths[name])
        if why is None:
            return None
        kind, text = why
        if self.container:
            scope = "host-wide key" if host_wide else f"key of the container's {namespace} namespace"
            prefix = "read-only /proc/sys" if kind == "ro-mount" else text
            return True, f"{prefix}: {scope} in a container ({self.container})"
        if kind in ("ro-mount", "not-owned"):
            return True, text
        if kind == "denied" and os.geteuid() != 0:
            return False, "writing /proc/sys needs root (become: true)"
        return False, text

    def _plan_file(self) -> None:
        """The file's new content (None: removed) and whether it changes."""
        if not self.persistent:
            self.file_after = self.file_before
            return
        full_path = host_path(_ROOT, self.path)
        if self.state == "absent":
            self.file_after = None
            self.file_changed = self.file_before is not None
        else:
            existing = {} if self.purge else parse_sysctl_conf(self.file_before)
            content = merge_settings(existing, self.settings, self.purge)
            self.file_after = render_sysctl_conf(managed_header(MODULE_NAME), content)
            self.file_changed = self.file_before != self.file_after or not file_mode_right(full_path, FILE_MODE)
            self.overridden = boot_overrides(_ROOT, self.file_name, self.settings)
        if self.file_changed and self.file_before is not None and not has_fingerprint(self.file_before, MODULE_NAME):
            self.module.warn(f"{self.path} was not written by this module (no containerhost.platform:{MODULE_NAME} "
                             f"line); it is {'removed' if self.file_after is None else 'replaced'}")

    # ---- 4. act: live values first (read back), then the file
    def apply(self) -> None:
        """Write the live values, verify them, then write or remove the file."""
        for name in self.to_write:
            try:
                self.proc.write(self.key_paths[name], self.settings[name])
            except OSError as exc:
                if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
                    self.skipped[name] = f"the kernel refused the write: {exc.strerror}"
                    continue
                self.fail(f"settings[{name}]: the kernel refused {self.settings[name]!r}: {exc.strerror or exc}"
                          f"{self._value_hint(name)}; nothing was written to {self.path}")
            self.live_changed.append(name)
        kept = {name: self.proc.read(self.key_paths[name]) for name in self.live_changed}
        mismatches = [f"{name}: wanted {self.settings[name]!r}, the kernel kept {kept[name]!r}"
                      for name in self.live_changed if not values_equal(kept[name], self.settings[name])]
        if mismatches:
            self.fail(f"settings: the kernel did not keep the value (clamped or rewritten): {'; '.join(mismatches)}; "
                      f"give the value the kernel keeps; nothing was written to {self.path}")
        if self.file_changed:
            full_path = host_path(_ROOT, self.path)
            if self.file_after is None:
                remove_file(full_path)
            else:
                atomic_write(self.module, full_path, self.file_after, mode=FILE_MODE)

    @staticmethod
    def _value_hint(name: str) -> str:
        """A hint for values that name something the kernel loads on demand."""
        if name == "net.ipv4.tcp_congestion_control" or name == "net.core.default_qdisc":
            return " (the algorithm's kernel module must be available, such as tcp_bbr for bbr)"
        return ""

    def fail(self, msg: str) -> t.NoReturn:
        """Fail, returning what was changed so far."""
        self.module.fail_json(msg=msg, **self.result())

    def result(self) -> dict[str, t.Any]:
        """The task result (predicted values in check mode)."""
        values = {}
        for name in self.settings:
            if name in self.live_changed:
                values[name] = self.settings[name] if self.module.check_mode else self.proc.read(self.key_paths[name])
            else:
                values[name] = self.current.get(name)
        out: dict[str, t.Any] = {
            "changed": bool(self.live_changed) or self.file_changed,
            "file": self.path,
            "file_changed": self.file_changed,
            "live_changed": list(self.live_changed),
            "skipped_keys": dict(self.skipped),
            "values": values,
            "namespaced": dict(self.namespaced),
            "overridden": self.overridden,
            "container": self.container,
        }
        if self.module._diff:
            out["diff"] = self.diff()
        return out

    def diff(self) -> list[dict[str, str]]:
        """The file before and after, and the changed live values before and after."""
        diffs = []
        if self.file_changed:
            diffs.append({"before_header": self.path, "after_header": self.path,
                          "before": self.file_before or "", "after": self.file_after or ""})
        if self.live_changed:
            diffs.append({"before_header": "/proc/sys (live)", "after_header": "/proc/sys (live)",
                          "before": "".join(f"{name} = {self._shown(name)}\n" for name in self.live_changed),
                          "after": "".join(f"{name} = {self.settings[name]}\n" for name in self.live_changed)})
        return diffs

    def _shown(self, name: str) -> str:
        """A live value before the task, as the diff shows it."""
        if name in self.unreadable:
            return f"(unreadable: {self.unreadable[name]})"
        return str(self.current[name])

    def run(self) -> None:
        """Validate, read, decide, act (unless in check mode) and exit."""
        self.validate()
        try:
            self.read()
            self.decide()
        except OSError as exc:
            self.module.fail_json(msg=f"could not read {exc.filename or '/proc/sys'}: {exc.strerror or exc}")
        if self.module.check_mode:
            self.live_changed = list(self.to_write)
        else:
            try:
                self.apply()
            except OSError as exc:
                self.fail(f"could not change {exc.filename or self.path}: {exc.strerror or exc}")
        if self.skipped:
            self.module.warn("not changed live: " + "; ".join(f"{name} ({reason})"
                                                              for name, reason in self.skipped.items()))
        for name, where in self.overridden.items():
            self.module.warn(f"{name}: {where['file']} sets it to {where['value']!r} after {self.path} at boot, so "
                             f"{self.settings[name]!r} does not survive a reboot; remove it there or use a later file")
        self.module.exit_json(**self.result())


def main() -> None:
    """Set the kernel parameters."""
    module = AnsibleModule(
        argument_spec={
            "settings": {"type": "dict", "default": {}},
            "file": {"type": "str", "default": "90-containerhost.conf"},
            "purge": {"type": "bool", "default": True},
            "live": {"type": "bool", "default": True},
            "persistent": {"type": "bool", "default": True},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "in_container": {"type": "str", "choices": ["skip", "apply"], "default": "skip"},
        },
        supports_check_mode=True,
    )
    SysctlManager(module).run()


if __name__ == "__main__":
    main()
