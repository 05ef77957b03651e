# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: scope
short_description: Run one command in a transient systemd scope with cgroup limits
version_added: 0.1.0
description:
  - Runs a command like M(ansible.builtin.command) (no shell), but inside a transient scope unit created with
    C(systemd-run --scope), optionally in a given slice and with CPU, memory, task, IO and cpuset limits.
  - The command runs in the foreground; the task returns its exit status, output, the scope's name and how systemd saw
    the scope end, including whether the kernel's OOM killer stopped it because it reached its memory limit.
  - A scope that failed (for example after an OOM kill) is reset with C(systemctl reset-failed) after its result is
    read, so nothing is left behind and the same O(name) can be used again.
author:
  - containerhost.platform maintainers (@containerhost)
options:
  cmd:
    description:
      - The command to run, split into arguments like M(ansible.builtin.command) does (no shell, so no pipes,
        redirections or variable expansion).
      - Exactly one of O(cmd) and O(argv) is required.
    type: str
  argv:
    description:
      - The command to run as a list of arguments, passed on unchanged.
    type: list
    elements: str
  chdir:
    description: Directory to run the command in; relative O(creates) and O(removes) paths are taken from it.
    type: path
  creates:
    description: A path or glob; when it matches, the command is not run.
    type: path
  removes:
    description: A path or glob; when it does not match, the command is not run. Checked after O(creates).
    type: path
  stdin:
    description: Text passed to the command on standard input.
    type: str
  stdin_add_newline:
    description: Whether to add a newline to O(stdin).
    type: bool
    default: true
  strip_empty_ends:
    description: Strip trailing newlines from RV(stdout) and RV(stderr).
    type: bool
    default: true
  name:
    description:
      - Name of the scope unit, such as V(reindex.scope); V(.scope) is appended when missing.
      - Defaults to C(containerhost-<random>.scope). A scope of this name must not exist already.
    type: str
  slice:
    description:
      - Slice to run the scope in, such as V(batch.slice); systemd creates it (and its parents) when it has no unit
        file. Defaults to systemd's choice (V(system.slice)).
      - A drop-in with C(Slice=) for the scope's name (see M(containerhost.platform.unit_resources)) overrides it.
    type: str
  description:
    description: C(Description=) of the scope; defaults to a text naming the module and the command.
    type: str
extends_documentation_fragment:
  - containerhost.platform._attributes
  - containerhost.platform._resource_limits
attributes:
  check_mode:
    support: full
    details: Validates everything and checks that the scope name is free, but does not run the command; C(changed)
      is true unless O(creates) or O(removes) say the command would not run.
  diff_mode:
    support: none
  idempotent:
    support: partial
    details: The command runs on every run, unless O(creates) or O(removes) say otherwise.
  platform:
    support: full
    platforms: posix
    details: Linux with systemd as the service manager; cgroup v2 for memory limits that the kernel enforces in a scope.
notes:
  - "On cgroup v2 a command that allocates past O(memory_max) is killed by the kernel (SIGKILL, RV(rc) V(-9)); systemd
    records C(Result=oom-kill) for the scope and the module reports RV(oom_killed) and fails. On a cgroup v1 or hybrid
    host systemd only reports an OOM kill it sees in the unified hierarchy, so RV(oom_killed) can be false there
    while RV(signal) is V(9)."
  - Processes the command leaves running in the background keep the scope alive after the task; the module warns.
seealso:
  - module: ansible.builtin.command
  - module: containerhost.platform.slice
  - module: containerhost.platform.unit_resources
  - name: systemd-run(1)
    description: Running programs in transient scope units.
    link: https://www.freedesktop.org/software/systemd/man/latest/systemd-run.html
"""

EXAMPLES = r"""
- name: Rebuild the search index under a cap, in the batch slice
  containerhost.platform.scope:
    argv: [/usr/local/bin/reindex, --all]
    name: reindex.scope
    slice: batch.slice
    memory_max: 2G
    cpu_quota: 150%
    tasks_max: 64
    io_weight: 10
    creates: /var/lib/search/index.done

- name: Try a heavy command and look at how it ended
  containerhost.platform.scope:
    cmd: /usr/bin/python3 /opt/tools/import.py
    memory_max: 512M
  register: imported
  failed_when: imported.rc != 0 and not imported.oom_killed

- name: Report a memory cap that was hit
  ansible.builtin.debug:
    msg: "{{ imported.scope }} ran out of memory ({{ imported.result }})"
  when: imported.oom_killed
"""

RETURN = r"""
cmd:
  description: The command, as a list of arguments.
  returned: always
  type: list
  elements: str
  sample: [/usr/local/bin/reindex, --all]
scope:
  description: The name of the scope unit the command ran (or would run) in.
  returned: always
  type: str
  sample: reindex.scope
slice:
  description: The declared slice, or null.
  returned: always
  type: str
  sample: batch.slice
scope_cmd:
  description: The C(systemd-run) command line that runs the command.
  returned: always
  type: list
  elements: str
  sample: [/usr/bin/systemd-run, --scope, --unit=reindex.scope, --slice=batch.slice, -p, MemoryMax=2147483648, --,
           /usr/local/bin/reindex, --all]
rc:
  description: Exit status of the command; negative when a signal killed it (V(-9) for SIGKILL), V(0) when skipped.
  returned: when the command ran or was skipped
  type: int
  sample: 0
stdout:
  description: Standard output of the command.
  returned: always
  type: str
  sample: indexed 1200 documents
stderr:
  description: Standard error of the command (without systemd-run's own "Running scope as unit" line).
  returned: always
  type: str
  sample: ""
stdout_lines:
  description: RV(stdout) split into lines.
  returned: always
  type: list
  elements: str
  sample: [indexed 1200 documents]
stderr_lines:
  description: RV(stderr) split into lines.
  returned: always
  type: list
  elements: str
  sample: []
start:
  description: When the command started.
  returned: when the command ran
  type: str
  sample: "2026-11-23 01:55:40.102391"
end:
  description: When the command ended.
  returned: when the command ran
  type: str
  sample: "2026-11-23 01:55:41.631227"
delta:
  description: How long the command ran.
  returned: when the command ran
  type: str
  sample: "0:00:01.528836"
result:
  description:
    - systemd's C(Result=) of the scope after the command ended, such as V(success) or V(oom-kill); V(success)
      when systemd already removed the scope (it keeps only failed ones).
  returned: when the command ran
  type: str
  sample: oom-kill
oom_killed:
  description: Whether the kernel's OOM killer stopped processes of the scope because it reached its memory limit.
  returned: always
  type: bool
  sample: true
signal:
  description: The signal that killed the command, or null.
  returned: always
  type: int
  sample: 9
properties:
  description: The systemd properties the scope was (or would be) given.
  returned: always
  type: dict
  sample: {"MemoryMax": "67108864"}
translated:
  description: Options written under another property name for this systemd, or that systemd converts for the cgroup v1
    hierarchy, each with C(option), C(property) and C(reason).
  returned: always
  type: list
  elements: dict
  sample: []
not_honoured:
  description: Options this host cannot enforce, each with C(option) and C(reason).
  returned: always
  type: list
  elements: dict
  sample: [{"option": "memory_max", "reason": "cgroup hybrid: the memory controller is not available to systemd ..."}]
msg:
  description: What happened.
  returned: always
  type: str
  sample: "reindex.scope: the kernel's OOM killer stopped the command because the scope reached its memory limit"
"""

import copy
import datetime
import glob
import os
import shlex
import time
import typing as t
import uuid

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.containerhost.platform.plugins.module_utils._placement import (
    PlacementError,
    generated_scope_name,
    scope_argv,
    scope_failure_message,
    scope_outcome,
    split_scope_notice,
    validate_slice,
)
from ansible_collections.containerhost.platform.plugins.module_utils._resource_control import (
    LIMIT_OPTIONS,
    Plan,
    ResourceError,
    host_limits,
    normalise_limits,
    plan_properties,
)
from ansible_collections.containerhost.platform.plugins.module_utils._systemctl import Systemctl, SystemctlError
from ansible_collections.containerhost.platform.plugins.module_utils._unit_files import UnitNameError, validate_unit_name

# Properties that cap memory: named in the message when the OOM killer acted.
MEMORY_CAPS = ("MemoryMax", "MemorySwapMax", "MemoryLimit")
# How long to wait for systemd to notice the scope emptied after the command exited (it learns that asynchronously).
SETTLE_SECONDS = 5.0
SETTLE_STEP = 0.1


def _matches(pattern: str | None, chdir: str | None) -> bool:
    """Whether a creates/removes path or glob matches, relative paths taken from chdir."""
    if pattern is None:
        return False
    if chdir and not os.path.isabs(pattern):
        pattern = os.path.join(chdir, pattern)
    return bool(glob.glob(pattern))


class ScopeRun:
    """Validates the command, scope name, slice and limits, then runs the command in its scope and reads the end."""

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.params = module.params
        self.result: dict[str, t.Any] = {"changed": False, "stdout": "", "stderr": "", "oom_killed": False,
                                         "signal": None, "slice": None}
        self.where = "scope"
        self.systemctl = Systemctl(module)
        self.systemd_run = module.get_bin_path("systemd-run", required=True)
        self.limits_plan = Plan()

    def fail(self, msg: str, **kwargs: t.Any) -> t.NoReturn:
        """Fail the task with everything known so far."""
        self.result.update(kwargs)
        self.module.fail_json(msg=msg, **self._finish(self.result))

    def command(self) -> list[str]:
        """The command as argv, from argv or by splitting cmd."""
        if self.params["argv"] is not None:
            command = list(self.params["argv"])
        else:
            try:
                command = shlex.split(self.params["cmd"])
            except ValueError as exc:
                self.module.fail_json(msg=f"cmd: {self.params['cmd']!r} cannot be split into arguments ({exc}); "
                                          "accepted: a command line with balanced quotes, or argv as a list")
        if not command or not command[0]:
            self.module.fail_json(msg="cmd/argv: the command is empty; accepted: a program and its arguments")
        return command

    def validate(self) -> None:
        """Everything that can be refused before the host is asked anything."""
        command = self.command()
        name = self.params["name"]
        try:
            scope = validate_unit_name(name, "scope") if name is not None else generated_scope_name(uuid.uuid4().hex[:12])
        except UnitNameError as exc:
            self.module.fail_json(msg=f"scope ({name}): name: {exc}")
        where = f"scope ({scope})"
        slice_name = None
        if self.params["slice"] is not None:
            try:
                slice_name = validate_slice(self.params["slice"], where)
            except PlacementError as exc:
                self.module.fail_json(msg=str(exc))
        chdir = self.params["chdir"]
        if chdir is not None and not os.path.isdir(chdir):
            self.module.fail_json(msg=f"{where}: chdir: {chdir} is not a directory; accepted: an existing directory")
        self.result.update(cmd=command, scope=scope, slice=slice_name)
        self.where = where

    def plan(self) -> None:
        """Normalise and translate the limits for this host; warn about what it cannot enforce."""
        host = host_limits(self.module, systemctl=self.systemctl.binary)
        limits = {key: value for key, value in self.params.items() if key in LIMIT_OPTIONS}
        try:
            normalised = normalise_limits(limits, self.where, host)
        except ResourceError as exc:
            self.module.fail_json(msg=str(exc))
        self.limits_plan = plan_properties(normalised, host)
        self.result.update(self.limits_plan.as_dict())
        for gap in self.limits_plan.not_honoured:
            self.module.warn(f"{self.result['scope']}: {gap['option']} is not enforced on this host: {gap['reason']}")
        # Only shown by systemctl status and the journal; long commands are cut so the unit stays readable.
        description = self.params["description"] or (
            "containerhost.platform.scope: " + " ".join(self.result["cmd"]))[:200]
        self.result["scope_cmd"] = scope_argv(self.systemd_run, self.result["scope"], self.result["slice"],
                                              description, self.limits_plan.properties, self.result["cmd"])

    def check_name_free(self) -> None:
        """Refuse a scope name systemd already has loaded (running, or failed and not reset)."""
        # systemd-run would refuse it too, but only after the task has claimed to run the command.
        scope = self.result["scope"]
        shown = self.systemctl.show([scope], ["LoadState", "ActiveState"])[scope]
        if shown.get("LoadState") not in ("not-found", None):
            self.module.fail_json(msg=f"{self.where}: name: a unit {scope} already exists "
                                      f"(ActiveState={shown.get('ActiveState')}); accepted: a name not in use, no name "
                                      f"for a generated one, or systemctl reset-failed {scope} for a failed one")

    def skip_reason(self) -> str | None:
        """Why creates/removes say the command does not run, or None."""
        chdir, creates, removes = self.params["chdir"], self.params["creates"], self.params["removes"]
        verb = "Would" if self.module.check_mode else "Did"
        if _matches(creates, chdir):
            return f"{verb} not run command since '{creates}' exists"
        if removes is not None and not _matches(removes, chdir):
            return f"{verb} not run command since '{removes}' does not exist"
        return None

    def execute(self) -> None:
        """Run systemd-run --scope in the foreground and read how the scope ended."""
        stdin = self.params["stdin"]
        start = datetime.datetime.now()
        # Not --quiet: systemd-run's "Running scope as unit" line tells its own failures from the command's. No
        # --collect either: a failed scope must stay loaded until its Result is read. argv is passed as given, like
        # ansible.builtin.command with a list, without expanding ~ or $VARS.
        rc, stdout, stderr = self.module.run_command(
            self.result["scope_cmd"], cwd=self.params["chdir"], data=stdin,
            binary_data=not self.params["stdin_add_newline"], expand_user_and_vars=False)
        end = datetime.datetime.now()
        started, stderr = split_scope_notice(stderr)
        self.result.update(changed=True, rc=rc, stdout=stdout, stderr=stderr, start=str(start), end=str(end),
                           delta=str(end - start))
        if started is None:
            # No "Running scope as unit" line: systemd-run stopped before it ran the command.
            self.fail(f"{self.where}: systemd-run could not start the scope: {stderr.strip() or 'no output'}")
        shown = self._settled()
        outcome = scope_outcome(rc, shown)
        self.result.update(result=outcome["result"], oom_killed=outcome["oom_killed"], signal=outcome["signal"])
        if outcome["active_state"] in ("active", "activating", "deactivating"):
            self.module.warn(f"{self.result['scope']}: processes the command started still run in the scope "
                             f"(ActiveState={outcome['active_state']})")
        if outcome["needs_reset"]:
            # A failed scope stays loaded until reset; its result is read, so let systemd collect it.
            self.systemctl.run(["reset-failed", "--", self.result["scope"]])

    def _settled(self) -> dict[str, str]:
        """systemctl show of the scope once systemd has seen it empty (or after SETTLE_SECONDS)."""
        scope = self.result["scope"]
        deadline = time.monotonic() + SETTLE_SECONDS
        while True:
            shown = self.systemctl.show([scope], ["LoadState", "ActiveState", "Result"])[scope]
            if shown.get("ActiveState") not in ("active", "activating", "deactivating") \
                    or time.monotonic() >= deadline:
                return shown
            time.sleep(SETTLE_STEP)

    def _finish(self, result: dict[str, t.Any]) -> dict[str, t.Any]:
        """Strip and split the output like ansible.builtin.command."""
        for key in ("stdout", "stderr"):
            text = result.get(key) or ""
            if self.params["strip_empty_ends"]:
                text = text.rstrip("\r\n")
            result[key] = text
            result[f"{key}_lines"] = text.splitlines()
        return result

    def run(self) -> None:
        """Validate, plan, check the name, then skip, predict or run, and exit."""
        self.validate()
        self.plan()
        self.check_name_free()
        skip = self.skip_reason()
        if skip:
            self.result.update(rc=0, msg=skip)
        elif self.module.check_mode:
            self.result.update(changed=True, msg="Command would have run if not in check mode")
        else:
            self.execute()
            rc = self.result["rc"]
            if rc != 0:
                capped = [f"{name}={value}" for name, value in self.limits_plan.properties.items() if name in MEMORY_CAPS]
                self.fail(scope_failure_message(self.result["scope"], self.result, rc, capped))
            self.result["msg"] = f"{self.result['scope']}: command ran (Result={self.result['result']})"
        self.module.exit_json(**self._finish(self.result))


def main() -> None:
    """Run the command in its scope."""
    argument_spec = {
        "cmd": {"type": "str"},
        "argv": {"type": "list", "elements": "str"},
        "chdir": {"type": "path"},
        "creates": {"type": "path"},
        "removes": {"type": "path"},
        "stdin": {"type": "str"},
        "stdin_add_newline": {"type": "bool", "default": True},
        "strip_empty_ends": {"type": "bool", "default": True},
        "name": {"type": "str"},
        "slice": {"type": "str"},
        "description": {"type": "str"},
        **copy.deepcopy(LIMIT_OPTIONS),
    }
    module = AnsibleModule(
        argument_spec=argument_spec,
        required_one_of=[["cmd", "argv"]],
        mutually_exclusive=[["cmd", "argv"]],
        supports_check_mode=True,
    )
    run = ScopeRun(module)
    try:
        run.run()
    except SystemctlError as exc:
        # Keep the command's own rc/stdout/stderr; the failed systemctl call is in the message.
        run.fail(str(exc))


if __name__ == "__main__":
    main()
