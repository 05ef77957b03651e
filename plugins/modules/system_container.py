# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: system_container
short_description: Run a container image as a systemd service, with deployments, updates and rollback
version_added: 0.1.0
description:
  - Installs a container image as a system container - a systemd service C(<name>.service) that runs it - the way
    C(atomic install --system) did, and keeps it up to date with the image's digest.
  - With O(backend=oci), the image is copied with C(skopeo) and unpacked into a read-only root filesystem of a
    deployment directory, an OCI runtime configuration (C(config.json)) is generated, and the unit runs
    C(runc run) (or C(crun run), see O(runtime)) on it. With O(backend=podman), the image is pulled by digest and
    the unit runs it with C(podman run --read-only).
  - Every change to what the container runs (a new image digest, other values, options or command) makes a new
    deployment beside the current one under O(root_dir)C(/<name>/deployments/); the C(current) link is switched
    atomically, a running service is restarted, and the module waits until it is up (O(start_timeout),
    O(health_command)). A start that fails switches back to the previous deployment, restarts it, and fails the
    task with RV(rolled_back=true). The previous deployment is kept, so O(state=rollback) returns to it.
  - The unit carries ordering and dependencies, the restart policy, the slice it runs in and resource limits (the
    same options as M(containerhost.platform.slice)). The container gets its own SELinux MCS label, allocated from
    the collection's record in O(mcs_state_path) unless O(mcs_label) gives one.
  - Reads the registry's digest with C(skopeo inspect) (read-only, also in check mode) and decides every change by
    digests and the rendered configuration, so a second run changes nothing.
author:
  - containerhost.platform maintainers (@containerhost)
options:
  name:
    description:
      - Name of the system container; the unit is C(<name>.service), the runtime's container ID and the podman
        container name are C(<name>), and its files are under O(root_dir)C(/<name>).
      - Up to 128 letters, digits, C(_), C(.) and C(-), starting with a letter or digit.
    type: str
    required: true
  image:
    description:
      - The image, fully qualified with its registry and a tag or digest, such as
        V(registry.example:5000/infra/etcd:3.4) or V(registry.example:5000/infra/etcd@sha256:...).
      - With O(backend=oci), a transport reference is also accepted (V(oci:/srv/layout:etcd),
        V(oci-archive:/srv/etcd.tar), V(dir:/srv/etcd), V(docker-archive:/srv/etcd.tar),
        V(containers-storage:localhost/etcd:1)).
      - The tag is resolved to its digest on every run; when the digest differs from the running deployment's, a
        new deployment is made.
      - Required with O(state=present) and O(state=started) until something is installed; ignored with
        O(state=rollback) and O(state=absent).
      - With O(image), the options declare the whole container and its unit. Without it, the installed deployment
        and unit are left as they are and only the service state changes (O(state=rollback) restores the unit the
        previous deployment ran with), so C(name) and C(state) are enough for a rollback, a stop or a start.
    type: str
  state:
    description:
      - V(present) installs or updates the deployment and the unit; a running service is restarted onto a new
        deployment, a stopped one stays stopped.
      - V(started) is V(present) and makes sure the service runs.
      - V(stopped) is V(present) (when O(image) is given) and makes sure the service is stopped.
      - V(rollback) makes the previous deployment current again and (re)starts the service. Rolling back twice
        changes nothing (the deployment rolled back from becomes the previous one), and a later run with O(image)
        moves forward again.
      - V(absent) stops and disables the service, removes the unit, every deployment, and the MCS allocation.
    type: str
    choices: [present, started, stopped, absent, rollback]
    default: started
  backend:
    description:
      - V(oci) unpacks the image and runs it with an OCI runtime (O(runtime)) directly under systemd.
      - V(podman) runs the image with C(podman run) (the runtime podman is configured with, or O(runtime)).
    type: str
    choices: [oci, podman]
    default: oci
  runtime:
    description:
      - The OCI runtime program, a name looked up in E(PATH) or an absolute path. V(runc) by default for
        O(backend=oci); podman's configured runtime for O(backend=podman), where it is passed as C(--runtime).
    type: str
  podman_executable:
    description: The podman program (O(backend=podman)).
    type: str
    default: podman
  skopeo_executable:
    description: The skopeo program that resolves digests and (O(backend=oci)) copies images.
    type: str
    default: skopeo
  command:
    description:
      - The command the container runs, replacing the image's entrypoint and command (and the template's process
        arguments). Values are filled in (see O(values)).
    type: list
    elements: str
  env:
    description:
      - Environment variables of the container, added to (and overriding) the image's and the template's. Values are
        filled in (see O(values)).
    type: dict
    default: {}
  ro_binds:
    description:
      - Read-only bind mounts, as host path to container path. The host paths must exist. Values are filled into
        the host paths.
    type: dict
    default: {}
  rw_binds:
    description:
      - Read-write bind mounts, as host path to container path. A missing host path is created as a directory
        (mode 0700, owned by root). Values are filled into the host paths.
    type: dict
    default: {}
  network:
    description:
      - V(host) shares the host's network (no network namespace); V(none) gives the container a namespace with
        loopback only.
    type: str
    choices: [host, none]
    default: host
  hostname:
    description: Host name inside the container (its own UTS namespace); the host's name when not given.
    type: str
  values:
    description:
      - Values filled into C($NAME) and C(${NAME}) (C($$) is a literal C($)), as C(atomic install --system --set
        NAME=VALUE) did.
      - With O(backend=oci), an image that carries C(/exports/config.json.template) (atomic's convention) has its
        template rendered with them and laid over the generated configuration; C(/exports/manifest.json)
        C(defaultValues) give defaults. V(NAME), V(DESTDIR) (the deployment directory), V(RUN_DIRECTORY),
        V(STATE_DIRECTORY) and V(CONF_DIRECTORY) are always defined.
      - They are also filled into O(command), O(env) values and the host paths of O(ro_binds) and O(rw_binds), for
        both backends; there only the built-in values and these are defined (not the image's defaults), and a
        C($NAME) without a value fails the task before anything changes. With O(backend=podman), V(DESTDIR) is
        O(root_dir)C(/<name>).
    type: dict
    default: {}
  description:
    description: The unit's C(Description=).
    type: str
  after:
    description: Units to start after (C(After=)); C(network-online.target) is always included.
    type: list
    elements: str
    default: []
  before:
    description: Units to start before (C(Before=)).
    type: list
    elements: str
    default: []
  requires:
    description: Units required (C(Requires=)).
    type: list
    elements: str
    default: []
  wants:
    description: Units wanted (C(Wants=)); C(network-online.target) is always included.
    type: list
    elements: str
    default: []
  restart:
    description: The restart policy (C(Restart=)).
    type: str
    choices: ['no', on-success, on-failure, on-abnormal, on-watchdog, on-abort, always]
    default: on-failure
  restart_sec:
    description: Seconds to wait before an automatic restart (C(RestartSec=)).
    type: int
    default: 5
  slice:
    description:
      - The slice the service runs in (C(Slice=)), such as one declared with M(containerhost.platform.slice).
      - The container's processes run in a cgroup below the unit's (C(<slice>/<name>.service/container)), so the
        slice's limits and the unit's own limits cover them.
    type: str
    default: system.slice
  enabled:
    description:
      - Whether the service starts at boot (C(systemctl enable), C(WantedBy=multi-user.target)).
      - Defaults to V(true) when O(image) is given, and to leaving it as it is otherwise.
    type: bool
  mcs_label:
    description:
      - The MCS level of the container, such as V(s0:c12,c345), recorded for O(name) in O(mcs_state_path). Without
        it, a free pair of categories is allocated there (and kept for the name).
    type: str
  mcs_state_path:
    description: The allocation record shared with the collection's other MCS users.
    type: path
    default: /var/lib/containerhost/mcs/allocations.json
  root_dir:
    description: Where deployments live (O(root_dir)C(/<name>/)).
    type: path
    default: /var/lib/containerhost/system-containers
  unit_dir:
    description: Where the unit file is written.
    type: path
    default: /etc/systemd/system
  keep_deployments:
    description:
      - How many deployments to keep on disk, the current one included. V(2) keeps the previous one for
        O(state=rollback); V(1) keeps none.
    type: int
    default: 2
  start_timeout:
    description:
      - Seconds to wait for a started or restarted service to be up before the start counts as failed.
    type: int
    default: 60
  stable_seconds:
    description:
      - Without O(health_command), how long the service must stay active (the same main process) to count as up.
    type: int
    default: 5
  health_command:
    description:
      - A command run on the host (an argument list, no shell) until it exits 0 while the service is active, such as
        V([etcdctl, --endpoints=http://127.0.0.1:2379, endpoint, health]).
    type: list
    elements: str
  auth_file:
    description:
      - Registry credentials file on the host (containers-auth.json(5)); the engines' default file when not given.
    type: path
  username:
    description: Registry user name; with O(password), a temporary 0600 auth file is used for the task.
    type: str
  password:
    description: Registry password for O(username). Never logged.
    type: str
  validate_certs:
    description: Verify the registry's TLS certificate. V(false) only for test registries.
    type: bool
    default: true
  ca_cert_dir:
    description:
      - Directory with the registry's CA certificates (C(*.crt)); without it,
        C(/etc/containers/certs.d/<host:port>/).
    type: path
extends_documentation_fragment:
  - containerhost.platform._attributes
  - containerhost.platform._resource_limits
attributes:
  check_mode:
    support: full
    details:
      - Resolves the digest with the same read-only registry request as a real run, renders the unit and the
        configuration, and predicts C(changed), the deployment switch, the restart and the MCS allocation exactly;
        copies, unpacks, writes, allocates, starts and stops nothing. Whether a new image starts is only known by
        starting it.
  diff_mode:
    support: full
    details: The unit file, the current and previous deployments, and the runtime configuration, before and after.
  idempotent:
    support: full
    details: A second run with the same options changes nothing; O(state=rollback) twice rolls back once.
  platform:
    support: full
    platforms: posix
    details: Linux with systemd, skopeo 1.9 or later, and runc or crun (O(backend=oci)) or podman 4 (O(backend=podman)).
notes:
  - runc and crun refuse to start a container whose configuration has an SELinux label on a host where SELinux is
    disabled. The MCS label is therefore always in the configuration's annotations
    (C(io.containerhost.system-container.mcs-label)), and in C(process.selinuxLabel) and C(linux.mountLabel) only
    where SELinux is enabled. podman keeps C(--security-opt label=level:...) either way.
  - With SELinux enabled and O(backend=oci), the container's directory (deployments, links, C(config.json)) and the
    sources of O(rw_binds) are labelled C(container_file_t) at the container's MCS level (C(chcon -R), as podman's
    C(:Z) does), so that the confined runtime can read the bundle and the container can use its data; sources of
    O(ro_binds) keep their labels and must be readable by C(container_t). The policy needs the C(container) module
    (Debian ships it as source in selinux-policy-src).
  - The runtime is given an absolute C(cgroupsPath) below the unit's own cgroup, computed from systemd's cgroup root
    (C(/proc/1/cgroup)), the slice and the unit name. A relative path would be resolved by runc against its own
    cgroup as the hierarchy's mount shows it, which goes wrong where systemd itself runs in a container; a
    systemd-managed scope (C(--systemd-cgroup)) would take the container out of the unit, so that the unit's limits
    and C(systemctl stop) no longer cover it.
  - Deployments of O(backend=podman) record the digest and the C(podman run) command; the images stay in podman's
    storage when deployments are pruned or removed (M(containerhost.platform.image) removes them).
  - The root filesystem is read-only; C(/run), C(/tmp) and C(/dev) are tmpfs, and data goes to O(rw_binds).
seealso:
  - module: containerhost.platform.slice
  - module: containerhost.platform.image
  - name: OCI runtime specification
    description: The format of C(config.json).
    link: https://github.com/opencontainers/runtime-spec/blob/main/config.md
"""

EXAMPLES = r"""
- name: etcd as a system container in its own slice
  containerhost.platform.system_container:
    name: etcd
    image: registry.example:5000/infra/etcd:3.4
    slice: infra.slice
    memory_max: 1G
    tasks_max: 512
    rw_binds:
      /var/lib/etcd-container: /var/lib/etcd
    values:
      ETCD_NAME: "{{ inventory_hostname }}"
    health_command: [etcdctl, --endpoints=http://127.0.0.1:2379, endpoint, health]
    ca_cert_dir: /etc/containerhost/registry-ca

- name: Back to the previous deployment
  containerhost.platform.system_container:
    name: etcd
    state: rollback

- name: The same with podman
  containerhost.platform.system_container:
    name: etcd
    backend: podman
    image: registry.example:5000/infra/etcd:3.4
    rw_binds:
      /var/lib/etcd-container: /var/lib/etcd

- name: Remove it with its deployments and MCS label
  containerhost.platform.system_container:
    name: etcd
    state: absent
"""

RETURN = r"""
name:
  description: The container's name.
  returned: always
  type: str
  sample: etcd
unit:
  description: The unit's name.
  returned: always
  type: str
  sample: etcd.service
unit_file:
  description: Path of the unit file.
  returned: always
  type: str
  sample: /etc/systemd/system/etcd.service
backend:
  description: The backend.
  returned: always
  type: str
  sample: oci
deployment:
  description: The current deployment after the task (None when nothing is installed).
  returned: always
  type: str
  sample: 3120cb11614c-2
previous_deployment:
  description: The previous deployment, which O(state=rollback) returns to.
  returned: always
  type: str
  sample: 1d8d2ac68030-1
deployment_dir:
  description: Directory of the current deployment (C(rootfs/), C(config.json) and C(info.json) for O(backend=oci)).
  returned: always
  type: str
  sample: /var/lib/containerhost/system-containers/etcd/deployments/3120cb11614c-2
digest:
  description: The manifest digest of the current deployment's image.
  returned: always
  type: str
  sample: sha256:3120cb11614cdc3bf47d0edee406433128d17c9fd52cd777c217094b1164e4a2
previous_digest:
  description: The manifest digest of the previous deployment's image.
  returned: always
  type: str
label:
  description: The container's MCS label.
  returned: always
  type: str
  sample: s0:c212,c817
restarted:
  description: Whether the service was (or in check mode would be) started or restarted.
  returned: always
  type: bool
rolled_back:
  description:
    - Whether a failed start made the module switch back to the deployment that ran before (the task then fails).
  returned: always
  type: bool
action:
  description: What happened to the deployments - V(none), V(new), V(switch_previous), V(rollback) or V(removed).
  returned: always
  type: str
  sample: new
reason:
  description: Why, in words.
  returned: always
  type: str
  sample: new image
active_state:
  description: The service's C(ActiveState) after the task (before it in check mode).
  returned: always
  type: str
  sample: active
start:
  description: How the start went (up, health check output, or why it failed), when the service was (re)started.
  returned: when the service was started or restarted
  type: str
  sample: active and healthy (127.0.0.1:2379 is healthy)
removed:
  description: With O(state=absent), the files and directories removed.
  returned: when O(state=absent)
  type: list
  elements: str
"""

import copy
import json
import os
import shutil
import tempfile
import time
import typing as t

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.containerhost.platform.plugins.module_utils._host_facts import parse_cgroup_layout
from ansible_collections.containerhost.platform.plugins.module_utils._image_ref import (
    TRANSPORTS,
    ImageRef,
    ImageRefError,
    parse_reference,
)
from ansible_collections.containerhost.platform.plugins.module_utils._mcs import (
    McsAllocator,
    McsError,
    labels_in_use,
    parse_label,
    selinux_state,
)
from ansible_collections.containerhost.platform.plugins.module_utils._oci_spec import (
    MANIFEST_PATH,
    TEMPLATE_PATH,
    SpecError,
    config_label,
    effective_values,
    image_process,
    option_values,
    render_config,
    substitute,
    validate_binds,
    validate_env,
    validate_hostname,
    validate_values,
)
from ansible_collections.containerhost.platform.plugins.module_utils._podman import EngineError, Podman
from ansible_collections.containerhost.platform.plugins.module_utils._registry_auth import (
    REGISTRY_MUTUALLY_EXCLUSIVE,
    REGISTRY_REQUIRED_TOGETHER,
    RegistryAccess,
    access_problems,
    registry_argument_spec,
)
from ansible_collections.containerhost.platform.plugins.module_utils._resource_control import (
    LIMIT_OPTIONS,
    ResourceError,
    host_limits,
    normalise_limits,
    plan_properties,
    systemd_cgroup_root,
)
from ansible_collections.containerhost.platform.plugins.module_utils._skopeo import Skopeo
from ansible_collections.containerhost.platform.plugins.module_utils._system_container import (
    CGROUP_LEAF,
    CONFIG_FILE,
    INFO_FILE,
    MODULE_NAME,
    ContainerError,
    Layout,
    clone_tree,
    decide_deployment,
    decide_service,
    deployment_id,
    is_enabled,
    next_number,
    oci_service,
    parse_unit_sections,
    podman_run_argv,
    podman_service,
    prune_list,
    read_rootfs_json,
    read_rootfs_text,
    restart_relevant,
    switch_link,
    unit_sections,
    unpack_layout,
    validate_name,
    watch_start,
    write_json,
)
from ansible_collections.containerhost.platform.plugins.module_utils._systemctl import Systemctl, SystemctlError
from ansible_collections.containerhost.platform.plugins.module_utils._unit_files import (
    UnitNameError,
    atomic_write,
    escape_value,
    has_fingerprint,
    managed_header,
    read_text_or_none,
    remove_file,
    render_unit,
    slice_cgroup_path,
    validate_unit_name,
)

SHOW_PROPERTIES = ("LoadState", "ActiveState", "SubState", "UnitFileState", "NeedDaemonReload", "MainPID",
                   "InvocationID", "NRestarts", "Result", "ExecMainStatus")
HEALTH_INTERVAL = 1.0
# Tests point these at a fake /proc.
_PROC = "/proc"
_clock = time.monotonic
_sleep = time.sleep


def cgroups_path(systemd_root: str, slice_name: str, unit: str) -> str:
    """The container's absolute cgroup: ``<systemd's root>/<slice path>/<unit>/container``."""
    root = systemd_root.rstrip("/")
    return f"{root}/{slice_cgroup_path(slice_name)}/{unit}/{CGROUP_LEAF}"


class SystemContainer:
    """Validates, reads the host once, decides, then applies (or predicts in check mode)."""

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.params = module.params
        self.check_mode = module.check_mode
        self.state = self.params["state"]
        self.backend = self.params["backend"]
        self.result: dict[str, t.Any] = {"changed": False, "restarted": False, "rolled_back": False,
                                         "backend": self.backend, "action": "none", "reason": ""}
        self.diffs: list[dict[str, str]] = []
        self.new_id: str | None = None

    # ---- helpers
    def fail(self, msg: str, **kwargs: t.Any) -> t.NoReturn:
        """Fail the task with what is known so far."""
        result = {key: value for key, value in self.result.items() if key != "changed"}
        result.update(kwargs)
        self.module.fail_json(msg=f"{self.params['name']}: {msg}", changed=self.result["changed"], **result)

    def bin_path(self, name: str) -> str:
        """Absolute path of a program (a unit's Exec lines need one)."""
        if "/" in name:
            return name
        found = self.module.get_bin_path(name)
        if not found:
            self.fail(f"{name} is not installed (not found in PATH)")
        return found

    # ---- 1. validate
    def validate(self) -> None:
        """Check every option before anything on the host changes."""
        params = self.params
        try:
            self.name = validate_name(params["name"])
            self.unit = validate_unit_name(f"{self.name}.service", "service")
            self.slice = validate_unit_name(params["slice"], "slice")
            self.deps = {}
            for field in ("after", "before", "requires", "wants"):
                self.deps[field] = [validate_unit_name(unit) for unit in params[field]]
        except (ContainerError, UnitNameError) as exc:
            self.module.fail_json(msg=str(exc))
        self.result.update(name=self.name, unit=self.unit, unit_file=os.path.join(params["unit_dir"], self.unit))
        self.unit_path = self.result["unit_file"]
        if ":" in params["root_dir"]:
            self.module.fail_json(msg=f"root_dir: {params['root_dir']} contains ':', which image transports cannot "
                                      "take; accepted: a path without ':'")
        self.layout = Layout(params["root_dir"], self.name)
        for field, minimum in (("keep_deployments", 1), ("start_timeout", 1), ("stable_seconds", 0),
                               ("restart_sec", 0)):
            if params[field] < minimum:
                self.module.fail_json(msg=f"{field}: {params[field]} is too small; accepted: an integer of at least "
                                          f"{minimum}")
        if params["health_command"] is not None and not params["health_command"]:
            self.module.fail_json(msg="health_command: empty; accepted: a command as a list of arguments")
        if params["command"] is not None and not params["command"]:
            self.module.fail_json(msg="command: empty; accepted: a command as a list of arguments, or no command")
        try:
            self.values = validate_values(params["values"])
            self.env = validate_env(params["env"])
            self.ro_binds = validate_binds(params["ro_binds"], "ro_binds")
            self.rw_binds = validate_binds(params["rw_binds"], "rw_binds")
            self.hostname = validate_hostname(params["hostname"])
        except SpecError as exc:
            self.module.fail_json(msg=str(exc))
        # Options see the built-in and the user's values only, so a missing one is found before anything changes.
        values = option_values(self.name, self.layout.deployment("check"), self.values)
        try:
            for index, arg in enumerate(params["command"] or []):
                substitute(arg, values, f"command[{index}]")
            for key, value in self.env.items():
                substitute(value, values, f"env.{key}")
            for field, binds in (("ro_binds", self.ro_binds), ("rw_binds", self.rw_binds)):
                for source in binds:
                    substitute(source, values, f"{field}.{source}")
        except SpecError as exc:
            self.module.fail_json(msg=str(exc))
        description = params["description"] or f"System container {self.name} (containerhost.platform)"
        try:
            self.description = escape_value(description)
        except ValueError as exc:
            self.module.fail_json(msg=f"description: {exc}; accepted: one line of text")
        self.ref: ImageRef | None = None
        if params["image"] is not None and self.state not in ("absent", "rollback"):
            transports = TRANSPORTS if self.backend == "oci" else ("docker",)
            try:
                self.ref = parse_reference(params["image"], transports=transports)
            except ImageRefError as exc:
                self.module.fail_json(msg=f"image: {exc}")
        if self.backend == "podman":
            for field, binds in (("ro_binds", self.ro_binds), ("rw_binds", self.rw_binds)):
                for source, destination in binds.items():
                    if ":" in source or ":" in destination:
                        self.module.fail_json(msg=f"{field}: {source}: {destination}: podman --volume cannot take "
                                                  "paths with ':'; accepted: paths without ':'")
        self.label_wanted = None
        if params["mcs_label"] is not None:
            try:
                level, low, high = parse_label(params["mcs_label"])
            except ValueError as exc:
                self.module.fail_json(msg=f"mcs_label: {exc}")
            self.label_wanted = (level, f"{level}:c{low},c{high}")
        problems = access_problems(params)
        if problems:
            self.module.fail_json(msg="; ".join(problems))
        self.systemctl = Systemctl(self.module)
        if self.state != "absent":
            host = host_limits(self.module, systemctl=self.systemctl.binary)
            limits = {key: value for key, value in params.items() if key in LIMIT_OPTIONS}
            try:
                normalised = normalise_limits(limits, self.unit, host)
            except ResourceError as exc:
                self.module.fail_json(msg=str(exc))
            self.limit_plan = plan_properties(normalised, host)
            for gap in self.limit_plan.not_honoured:
                self.module.warn(f"{self.unit}: {gap['option']} is not enforced on this host: {gap['reason']}")
            # A health command that cannot run would only show after the switch: look for it now.
            health = params["health_command"]
            if health and "/" not in health[0]:
                found = self.module.get_bin_path(health[0])
                if not found:
                    self.module.fail_json(msg=f"health_command: {health[0]} is not found in PATH on the host; "
                                              "accepted: an installed program or an absolute path")
                params["health_command"] = [found, *health[1:]]
            elif health and not os.access(health[0], os.X_OK):
                self.module.fail_json(msg=f"health_command: {health[0]} is not an executable file on the host")
            for source in self.ro_binds:
                if "$" not in source and not os.path.exists(source):
                    message = (f"ro_binds: {source} does not exist on the host; accepted: an existing path (rw_binds "
                               "creates missing directories)")
                    # In check mode an earlier task of the play may be about to create it.
                    if self.module.check_mode:
                        self.module.warn(message)
                    else:
                        self.module.fail_json(msg=message)

    # ---- 2. read
    def read(self) -> None:
        """Read the deployments, the unit, systemd's view of it, and (for an image) the registry's digest."""
        self.current_id = self.layout.read_link("current")
        self.previous_id = self.layout.read_link("previous")
        self.current = self._info(self.current_id)
        self.previous = self._info(self.previous_id)
        self.rolled_back_from = self.layout.read_state().get("rolled_back_from")
        self.unit_text = read_text_or_none(self.unit_path)
        if self.unit_text is not None and not has_fingerprint(self.unit_text, MODULE_NAME):
            self.fail(f"{self.unit_path} exists and was not written by containerhost.platform.system_container; "
                      "remove it or choose another name")
        self.shown = self.systemctl.show([self.unit], SHOW_PROPERTIES)[self.unit]
        self.result["active_state"] = self.shown.get("ActiveState", "inactive")
        self.desired_digest = None
        if self.ref is not None:
            found = self.skopeo.remote_image(self.ref, self.options)
            if found is None:
                self.fail(f"image: {self.ref} was not found (the registry or layout has no such image)")
            self.desired_digest = found.digest

    def _info(self, identifier: str | None) -> dict[str, t.Any] | None:
        """A deployment's info.json with its ID (None when missing)."""
        if identifier is None:
            return None
        info = self.layout.read_info(identifier)
        if info is None:
            self.module.warn(f"{self.layout.deployment(identifier)}/{INFO_FILE} is missing or damaged; the deployment "
                             "is treated as absent")
            return None
        info["id"] = identifier
        return info

    # ---- MCS
    def allocate_label(self) -> str:
        """The container's MCS label: recorded (or, in a real run, newly recorded) in the allocation file."""
        level = self.label_wanted[0] if self.label_wanted else "s0"
        static = {self.name: self.label_wanted[1]} if self.label_wanted else None
        self.selinux = selinux_state()
        try:
            allocator = McsAllocator(self.params["mcs_state_path"], level=level, static=static)
            in_use = labels_in_use(_PROC if self.selinux != "disabled" else None)
            label, changed = allocator.allocate(self.name, check_mode=self.check_mode, in_use=in_use)
        except McsError as exc:
            self.fail(f"MCS label (mcs_label, mcs_state_path): {exc}")
        if changed:
            self.result["changed"] = True
            self.result["mcs_allocated"] = True
        return label

    # ---- what a deployment should hold
    def cgroups_path(self) -> str:
        """Where the runtime puts the container: below the unit's own cgroup (see the notes)."""
        mountinfo = read_text_or_none(f"{_PROC}/self/mountinfo") or ""
        mode = parse_cgroup_layout(mountinfo)["mode"]
        root = systemd_cgroup_root(read_text_or_none(f"{_PROC}/1/cgroup") or "", mode)
        return cgroups_path(root, self.slice, self.unit)

    def render_oci(self, identifier: str, rootfs: str, image_config: t.Mapping[str, t.Any],
                   digest: str) -> dict[str, t.Any]:
        """The config.json a deployment with this root filesystem should have."""
        template = read_rootfs_json(rootfs, TEMPLATE_PATH)
        manifest = read_rootfs_json(rootfs, MANIFEST_PATH)
        directory = self.layout.deployment(identifier)
        values = effective_values(self.name, directory, manifest, self.values)
        process = image_process(image_config, read_rootfs_text(rootfs, "etc/passwd") or "",
                                read_rootfs_text(rootfs, "etc/group") or "")
        return render_config(name=self.name, process=process, template=template, values=values,
                             option_values=option_values(self.name, directory, self.values),
                             command=self.params["command"], env=self.env, ro_binds=self.ro_binds,
                             rw_binds=self.rw_binds, network=self.params["network"], hostname=self.hostname,
                             mcs_label=self.label, selinux_enabled=self.selinux != "disabled",
                             cgroups_path=self.cgroups_path_text, digest=digest)

    def podman_argv(self, digest: str) -> list[str]:
        """The podman run command of a deployment of this digest."""
        values = option_values(self.name, self.layout.base, self.values)
        if self.ref is None:
            raise AssertionError("internal error: no image reference")
        image = f"{self.ref.name}@{digest}"
        command = [substitute(arg, values, f"command[{i}]") for i, arg in enumerate(self.params["command"] or [])]
        return podman_run_argv(
            podman=self.podman_bin, name=self.name, image=image, label=self.label, network=self.params["network"],
            env={key: substitute(value, values, f"env.{key}") for key, value in self.env.items()},
            ro_binds={substitute(src, values, f"ro_binds.{src}"): dst for src, dst in self.ro_binds.items()},
            rw_binds={substitute(src, values, f"rw_binds.{src}"): dst for src, dst in self.rw_binds.items()},
            command=command or None, hostname=self.hostname,
            runtime=self.params["runtime"] and self.bin_path(self.params["runtime"]))

    def matches(self, info: t.Mapping[str, t.Any] | None) -> bool:
        """Whether a deployment runs exactly what the options ask for."""
        if info is None or info.get("digest") != self.desired_digest or info.get("backend", "oci") != self.backend:
            return False
        if self.backend == "podman":
            return info.get("argv") == self.podman_argv(self.desired_digest)
        directory = self.layout.deployment(info["id"])
        current = self.layout.read_config(info["id"])
        if current is None or not os.path.isdir(os.path.join(directory, "rootfs")):
            return False
        try:
            wanted = self.render_oci(info["id"], os.path.join(directory, "rootfs"), info.get("image_config") or {},
                                     info["digest"])
        except (SpecError, ContainerError) as exc:
            self.fail(str(exc))
        return current == wanted

    # ---- 3. decide
    def decide(self) -> None:
        """Deployment change, unit text, reload, enable and service action."""
        needs_label = self.desired_digest is not None
        self.label = self.allocate_label() if needs_label else (self.current or {}).get("label")
        self.cgroups_path_text = self.cgroups_path()
        if self.backend == "oci":
            self.runtime_bin = self.bin_path(self.params["runtime"] or "runc")
        else:
            self.podman_bin = self.bin_path(self.params["podman_executable"])
        try:
            self.decision = decide_deployment(
                state=self.state, current=self.current, previous=self.previous, desired_digest=self.desired_digest,
                current_matches=self.matches(self.current) if needs_label else False,
                previous_matches=self.matches(self.previous) if needs_label else False,
                rolled_back_from=self.rolled_back_from)
        except (ContainerError, SpecError) as exc:
            self.fail(str(exc))
        self.result.update(action=self.decision.action, reason=self.decision.reason)
        # The deployments after the switch (predicted IDs for new ones).
        self.new_id = None
        after_current, after_previous = self.current_id, self.previous_id
        if self.decision.action == "new":
            if self.desired_digest is None:
                raise AssertionError("internal error: no digest")
            self.new_id = deployment_id(self.desired_digest, next_number(self.layout.list_deployments()))
            after_current, after_previous = self.new_id, self.current_id
        elif self.decision.action in ("switch_previous", "rollback"):
            after_current, after_previous = self.previous_id, self.current_id
        if self.params["keep_deployments"] < 2:
            after_previous = None
        self.after_links = (after_current, after_previous)
        # With an image the options declare everything and the unit is rendered from them. Without one (rollback,
        # or only a service state) the unit stays as it is; a rollback restores the unit the deployment ran with.
        self.declared = self.ref is not None
        if self.declared:
            self.unit_content = self.render_unit(after_current)
        elif self.decision.action == "rollback" and (self.previous or {}).get("unit"):
            self.unit_content = self.previous["unit"]
        else:
            self.unit_content = self.unit_text if self.unit_text is not None else (self.current or {}).get("unit")
            if self.unit_content is None:
                self.fail(f"{self.unit_path} is missing and {self.current_id} records no unit; install again with "
                          "image")
        self.unit_changed = self.unit_content != self.unit_text
        limit_names = list(self.limit_plan.properties)
        self.restart_settings_changed = self.unit_text is not None and restart_relevant(
            parse_unit_sections(self.unit_text), limit_names) != restart_relevant(
            parse_unit_sections(self.unit_content), limit_names)
        self.needs_reload = self.unit_changed or self.shown.get("NeedDaemonReload") == "yes"
        want_enabled = self.params["enabled"]
        if want_enabled is None:
            want_enabled = True if self.declared else is_enabled(self.shown.get("UnitFileState"))
        self.enable = want_enabled and (self.unit_text is None or not is_enabled(self.shown.get("UnitFileState")))
        self.disable = not want_enabled and is_enabled(self.shown.get("UnitFileState"))
        self.service_action = decide_service(state=self.state, active_state=self.result["active_state"],
                                             sub_state=self.shown.get("SubState", ""),
                                             switched=self.decision.switches,
                                             restart_settings_changed=self.restart_settings_changed)
        # Binds whose host directory is missing are created before the service starts (a new deployment adds its
        # own when it is made, from its config).
        self.missing_sources = []
        if self.service_action in ("start", "restart") and self.decision.action != "new":
            after_config = None
            if self.backend == "oci" and self.after_links[0] is not None:
                after_config = self.layout.read_config(self.after_links[0])
            self.missing_sources = self.rw_sources(after_config)
        self.prune = prune_list([*self.layout.list_deployments(), *([self.new_id] if self.new_id else [])],
                                self.params["keep_deployments"], *self.after_links)
        if self.decision.switches or self.unit_changed or self.needs_reload or self.enable or self.disable \
                or self.service_action or self.prune or self.missing_sources or self.after_links[1] != self.previous_id:
            self.result["changed"] = True
        self.result["restarted"] = self.service_action in ("start", "restart")

    def render_unit(self, identifier: str | None) -> str:
        """The unit file for the deployment that will be current."""
        if self.backend == "oci":
            service = oci_service(self.runtime_bin, self.name, self.layout.bundle())
        else:
            if self.new_id is not None and identifier == self.new_id:
                argv = self.podman_argv(self.desired_digest)
            else:
                info = self._info(identifier) if identifier not in (self.current_id, self.previous_id) else (
                    self.current if identifier == self.current_id else self.previous)
                argv = (info or {}).get("argv") or []
                if not argv:
                    self.fail(f"deployment {identifier} records no podman command; reinstall with image")
            service = podman_service(self.podman_bin, argv, self.bin_path("rm"))
        sections = unit_sections(description=self.description, service=service, slice_name=self.slice,
                                 limits=self.limit_plan.properties, after=self.deps["after"],
                                 before=self.deps["before"], requires=self.deps["requires"], wants=self.deps["wants"],
                                 restart=self.params["restart"], restart_sec=self.params["restart_sec"],
                                 backend=self.backend)
        return render_unit(managed_header(MODULE_NAME), sections)

    # ---- 4a. predict
    def links_text(self, current: str | None, previous: str | None) -> str:
        """The deployment pointers as a diff shows them."""
        def describe(identifier: str | None) -> str:
            if identifier is None:
                return "(none)"
            if identifier == self.new_id:
                return f"{identifier} ({self.desired_digest}, new)"
            info = self.current if identifier == self.current_id else self.previous if identifier == self.previous_id \
                else self._info(identifier)
            return f"{identifier} ({(info or {}).get('digest')})"
        return f"current: {describe(current)}\nprevious: {describe(previous)}\n"

    def collect_diff(self) -> None:
        """Unit file and deployment pointers before and after."""
        if self.unit_changed:
            self.diffs.append({"before_header": self.unit_path, "after_header": self.unit_path,
                               "before": self.unit_text or "", "after": self.unit_content})
        if self.backend == "oci" and self.decision.switches:
            before = self.layout.read_config(self.current_id) if self.current_id else None
            after = None
            if self.decision.action in ("switch_previous", "rollback"):
                after = self.layout.read_config(self.previous_id) if self.previous_id else None
            elif self.decision.clone_from:
                source = self._info(self.decision.clone_from) or {}
                rootfs = os.path.join(self.layout.deployment(self.decision.clone_from), "rootfs")
                after = self.render_oci(self.new_id or "", rootfs, source.get("image_config") or {},
                                        self.desired_digest or "")
            header = f"{self.layout.bundle()}/{CONFIG_FILE}"
            self.diffs.append({"before_header": header, "after_header": header,
                               "before": json.dumps(before, indent=2, sort_keys=True) + "\n" if before else "",
                               "after": json.dumps(after, indent=2, sort_keys=True) + "\n" if after
                               else "(rendered when the new image is unpacked)\n"})
        if self.decision.switches or self.after_links[1] != self.previous_id:
            header = f"{self.layout.base} (deployments)"
            self.diffs.append({"before_header": header, "after_header": header,
                               "before": self.links_text(self.current_id, self.previous_id),
                               "after": self.links_text(*self.after_links)})

    # ---- 4b. apply
    def apply(self) -> None:
        """Make the deployment, switch, write the unit, reload, enable, (re)start and wait; roll back a failed start."""
        old_links = (self.current_id, self.previous_id)
        old_unit = self.unit_text
        created = None
        if self.decision.action == "new":
            created = self.create_deployment()
        if self.decision.switches or self.after_links[1] != self.previous_id:
            self.switch(*self.after_links)
        if self.decision.switches:
            if self.decision.action == "rollback":
                write_json(self.layout.state_path, {"rolled_back_from": self.current_id}, mode=0o600)
            else:
                remove_file(self.layout.state_path)
        self.write_unit(self.unit_content)
        self.record_unit(self.after_links[0])
        for path in self.missing_sources:
            os.makedirs(path, mode=0o700, exist_ok=True)
        self.label_files()
        if self.enable:
            self.systemctl.run(["enable", "--", self.unit])
        if self.disable:
            self.systemctl.run(["disable", "--", self.unit])
        if self.service_action == "stop":
            self.systemctl.stop([self.unit])
        elif self.service_action in ("start", "restart"):
            ok, how = self.start(self.service_action)
            self.result["start"] = how
            if not ok:
                self.recover(how, old_links, old_unit, created)
        for identifier in self.prune:
            shutil.rmtree(self.layout.deployment(identifier), ignore_errors=False)

    def label_files(self) -> None:
        """With SELinux on and the oci backend, label the container's files (deployments, links, config) and its
        read-write bind sources container_file_t at its MCS level, as podman does with :Z; otherwise the runtime,
        confined as container_engine_t, cannot read config.json and the container cannot use its files."""
        if self.backend != "oci" or not self.label or selinux_state() == "disabled":
            return
        context = f"system_u:object_r:container_file_t:{self.label}"
        values = option_values(self.name, self.layout.base, self.values)
        paths = [self.layout.base]
        for source in self.rw_binds:
            try:
                paths.append(substitute(source, values, f"rw_binds.{source}"))
            except SpecError:
                continue
        rc, _out, err = self.module.run_command([self.bin_path("chcon"), "-R", "-h", context, "--", *paths])
        if rc != 0:
            self.fail(f"labelling the container's files {context} failed: {err.strip()}")

    def record_unit(self, identifier: str | None) -> None:
        """Keep the unit a deployment runs with in its info.json, so that a rollback to it restores that unit."""
        if identifier is None or identifier == self.new_id:
            return
        info = self.layout.read_info(identifier)
        if info is not None and info.get("unit") != self.unit_content:
            info["unit"] = self.unit_content
            write_json(os.path.join(self.layout.deployment(identifier), INFO_FILE), info, mode=0o600)

    def switch(self, current: str | None, previous: str | None) -> None:
        """Point the links (previous first, so that current never names a deployment about to go)."""
        switch_link(self.layout, "previous", previous)
        switch_link(self.layout, "current", current)

    def write_unit(self, content: str) -> None:
        """Write the unit when it differs from the file, and reload systemd when needed."""
        if content != read_text_or_none(self.unit_path):
            atomic_write(self.module, self.unit_path, content)
            self.systemctl.daemon_reload()
        elif self.needs_reload:
            self.systemctl.daemon_reload()
            self.needs_reload = False

    def start(self, action: str) -> tuple[bool, str]:
        """Start or restart the service and wait until it is up; ``(ok, how)``."""
        rc, out, err = self.systemctl.run([action, "--", self.unit], check=False)
        if rc != 0:
            # Type=notify (podman) waits for the container: a failed start shows here; the watch says why.
            self.module.warn(f"systemctl {action} {self.unit}: {(err or out).strip()}")
        health = self.health_check if self.params["health_command"] else None
        return watch_start(lambda: self.systemctl.show([self.unit], SHOW_PROPERTIES)[self.unit], clock=_clock,
                           sleep=_sleep, timeout=self.params["start_timeout"],
                           stable_seconds=self.params["stable_seconds"], health=health, interval=HEALTH_INTERVAL)

    def health_check(self) -> tuple[bool, str]:
        """Run the health command once: ``(exit 0, its last output line)``."""
        rc, out, err = self.module.run_command(self.params["health_command"],
                                               environ_update={"LANG": "C", "LC_ALL": "C"})
        lines = [line.strip() for line in f"{out}\n{err}".splitlines() if line.strip()]
        return rc == 0, lines[-1] if lines else f"exit status {rc}"

    def recover(self, why: str, old_links: tuple[str | None, str | None], old_unit: str | None,
                created: str | None) -> t.NoReturn:
        """A start failed: switch back to what ran before and restart it, then fail the task saying what happened."""
        failed = self.after_links[0]
        if not self.decision.switches or old_links[0] is None:
            self.fail(f"{self.unit} did not start: {why}", deployment=failed)
        self.switch(*old_links)
        if self.decision.action == "rollback":
            remove_file(self.layout.state_path)
        elif self.rolled_back_from:
            write_json(self.layout.state_path, {"rolled_back_from": self.rolled_back_from}, mode=0o600)
        if old_unit is not None:
            self.write_unit(old_unit)
        ok, how = self.start("restart")
        if created is not None:
            shutil.rmtree(self.layout.deployment(created), ignore_errors=True)
        self.result.update(rolled_back=True, restarted=True, start=how)
        self.set_returns(*old_links)
        self.result["active_state"] = self.shown_after().get("ActiveState")
        state = f"{old_links[0]} is running again ({how})" if ok else f"{old_links[0]} did not come up either: {how}"
        self.fail(f"deployment {failed} did not start ({why}); switched back to {old_links[0]}: {state}",
                  failed_deployment=failed)

    def create_deployment(self) -> str:
        """Make the new deployment: root filesystem (copied from the registry, or hard links of a deployment of the
        same image), config.json and info.json, under a temporary name renamed into place when complete."""
        if self.new_id is None or self.desired_digest is None:
            raise AssertionError("internal error: no deployment ID or digest")
        os.makedirs(self.layout.root_dir, mode=0o755, exist_ok=True)
        os.makedirs(self.layout.deployments, mode=0o700, exist_ok=True)
        os.chmod(self.layout.base, 0o700)
        final = self.layout.deployment(self.new_id)
        workdir = tempfile.mkdtemp(prefix=f".new-{self.new_id}-", dir=self.layout.deployments)
        try:
            info: dict[str, t.Any] = {"image": str(self.ref), "digest": self.desired_digest, "backend": self.backend,
                                      "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                      "label": self.label, "unit": self.unit_content}
            if self.backend == "podman":
                self.pull_podman()
                info["argv"] = self.podman_argv(self.desired_digest)
                self.missing_sources = [*self.missing_sources, *self.rw_sources(None)]
            else:
                rootfs = os.path.join(workdir, "rootfs")
                if self.decision.clone_from:
                    source = self._info(self.decision.clone_from) or {}
                    clone_tree(os.path.join(self.layout.deployment(self.decision.clone_from), "rootfs"), rootfs)
                    image_config = source.get("image_config") or {}
                else:
                    image_config = self.fetch_rootfs(workdir, rootfs)
                info["image_config"] = image_config
                try:
                    config = self.render_oci(self.new_id, rootfs, image_config, self.desired_digest)
                except (SpecError, ContainerError) as exc:
                    self.fail(f"the image's configuration cannot be rendered: {exc}")
                write_json(os.path.join(workdir, CONFIG_FILE), config, mode=0o600)
                self.missing_sources = [*self.missing_sources, *self.rw_sources(config)]
            write_json(os.path.join(workdir, INFO_FILE), info, mode=0o600)
            os.chmod(workdir, 0o700)
            os.rename(workdir, final)
        except BaseException:
            shutil.rmtree(workdir, ignore_errors=True)
            raise
        return self.new_id

    def fetch_rootfs(self, workdir: str, rootfs: str) -> dict[str, t.Any]:
        """Copy the image by digest into an OCI layout with skopeo and unpack it; returns its ``config`` object."""
        if self.ref is None or self.desired_digest is None:
            raise AssertionError("internal error: no image reference or digest")
        source = self.ref
        if self.ref.transport == "docker":
            source = ImageRef("docker", registry=self.ref.registry, repository=self.ref.repository,
                              digest=self.desired_digest)
        layout_dir = os.path.join(workdir, "image")
        destination = parse_reference(f"oci:{layout_dir}:image", transports=("oci",))
        self.skopeo.copy(source, destination, self.options)
        try:
            image = unpack_layout(layout_dir, rootfs)
        except ContainerError as exc:
            self.fail(f"image {self.ref}: {exc}")
        shutil.rmtree(layout_dir)
        config = image.get("config") or {}
        return {key: config[key] for key in ("Entrypoint", "Cmd", "Env", "WorkingDir", "User", "Labels")
                if key in config}

    def pull_podman(self) -> None:
        """Make sure podman's storage holds the image by digest (pulled once)."""
        if self.ref is None or self.desired_digest is None:
            raise AssertionError("internal error: no image reference or digest")
        pinned = ImageRef("docker", registry=self.ref.registry, repository=self.ref.repository,
                          digest=self.desired_digest)
        podman = Podman(self.module, self.podman_bin)
        if podman.inspect([pinned]).get(str(pinned)) is None:
            podman.pull(pinned, self.options)

    def rw_sources(self, config: t.Mapping[str, t.Any] | None) -> list[str]:
        """Host directories of the read-write binds that do not exist yet (created as 0700 directories).

        For the oci backend they are read from the deployment's config (values may come from the image); without one
        (a new image in check mode) from the options, leaving out paths that need the image's values.
        """
        if config is not None:
            read_write = set(self.rw_binds.values())
            sources = [mount["source"] for mount in config.get("mounts") or []
                       if mount.get("type") == "bind" and mount.get("destination") in read_write]
        else:
            values = option_values(self.name, self.layout.base, self.values)
            sources = []
            for source in self.rw_binds:
                try:
                    sources.append(substitute(source, values, f"rw_binds.{source}"))
                except SpecError:
                    continue
        return [source for source in dict.fromkeys(sources) if not os.path.lexists(source)]

    def shown_after(self) -> dict[str, str]:
        """systemd's view of the unit now."""
        return self.systemctl.show([self.unit], SHOW_PROPERTIES)[self.unit]

    # ---- absent
    def run_absent(self) -> None:
        """Stop, disable and remove the unit, remove every deployment, and release the MCS label."""
        self.current_id = self.layout.read_link("current")
        self.current = self._info(self.current_id)
        self.previous = self._info(self.layout.read_link("previous"))
        self.unit_text = read_text_or_none(self.unit_path)
        if self.unit_text is not None and not has_fingerprint(self.unit_text, MODULE_NAME):
            self.fail(f"{self.unit_path} exists and was not written by containerhost.platform.system_container; "
                      "it is left alone")
        shown = self.systemctl.show([self.unit], SHOW_PROPERTIES)[self.unit]
        active = shown.get("ActiveState", "inactive")
        self.result.update(active_state=active, action="removed", reason="state=absent",
                           previous_deployment=self.layout.read_link("previous"))
        self.set_returns(self.current_id, self.layout.read_link("previous"))
        removed = [path for path in (self.unit_path, self.layout.base) if os.path.lexists(path)]
        stop = decide_service(state="absent", active_state=active, sub_state=shown.get("SubState", ""),
                              switched=False, restart_settings_changed=False)
        disable = is_enabled(shown.get("UnitFileState"))
        try:
            allocator = McsAllocator(self.params["mcs_state_path"])
            released = allocator.release(self.name, check_mode=self.check_mode)
        except McsError as exc:
            self.fail(f"MCS label (mcs_state_path): {exc}")
        self.result.update(removed=removed, mcs_released=released)
        self.result["changed"] = bool(removed or stop or disable or released)
        if not self.result["changed"]:
            self.result.update(action="none", reason="nothing is installed under this name")
        if self.module._diff and removed:
            self.diffs.append({"before_header": self.unit_path, "after_header": self.unit_path,
                               "before": self.unit_text or "", "after": ""})
            self.diffs.append({"before_header": f"{self.layout.base} (deployments)",
                               "after_header": f"{self.layout.base} (deployments)",
                               "before": "\n".join(self.layout.list_deployments()) + "\n", "after": ""})
        if not self.check_mode:
            if stop:
                self.systemctl.stop([self.unit])
            if disable:
                self.systemctl.run(["disable", "--", self.unit])
            if os.path.lexists(self.unit_path):
                remove_file(self.unit_path)
                self.systemctl.daemon_reload()
            if os.path.lexists(self.layout.base):
                shutil.rmtree(self.layout.base)
            if shown.get("ActiveState") == "failed":
                self.systemctl.run(["reset-failed", "--", self.unit], check=False)
            self.result["active_state"] = self.shown_after().get("ActiveState")

    def set_returns(self, current: str | None, previous: str | None) -> None:
        """deployment, previous_deployment, their digests and directory, and the label."""
        def info(identifier: str | None) -> dict[str, t.Any]:
            if identifier is None:
                return {}
            if identifier == self.new_id:
                return {"digest": self.desired_digest, "label": getattr(self, "label", None)}
            return self._info(identifier) or {}
        current_info, previous_info = info(current), info(previous)
        self.result.update(
            deployment=current, previous_deployment=previous,
            deployment_dir=self.layout.deployment(current) if current else None,
            digest=current_info.get("digest"), previous_digest=previous_info.get("digest"),
            image=current_info.get("image", str(self.ref) if self.ref else None))
        label = current_info.get("label") or getattr(self, "label", None)
        if current and self.backend == "oci" and current != self.new_id:
            config = self.layout.read_config(current)
            label = config_label(config) if config else label
        self.result["label"] = label

    # ---- run
    def run(self) -> None:
        """Validate, read, decide, act and exit."""
        self.validate()
        registries = [self.ref.registry] if self.ref is not None and self.ref.registry else []
        with RegistryAccess(self.module, registries) as options:
            self.options = options
            self.skopeo = Skopeo(self.module, self.params["skopeo_executable"])
            if self.state == "absent":
                self.run_absent()
                self.exit()
            self.read()
            if self.current is None and self.desired_digest is None and self.state == "stopped":
                self.result.update(reason="nothing is installed under this name")
                self.set_returns(None, None)
                self.exit()
            self.decide()
            if self.module._diff:
                self.collect_diff()
            if self.check_mode:
                self.set_returns(*self.after_links)
            else:
                self.apply()
                self.set_returns(*self.after_links)
                self.result["active_state"] = self.shown_after().get("ActiveState")
        self.exit()

    def exit(self) -> t.NoReturn:
        """Exit with the result (and the diff when asked)."""
        if self.module._diff:
            self.result["diff"] = self.diffs
        self.module.exit_json(**self.result)


def main() -> None:
    """Install, update, roll back or remove the system container."""
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "image": {"type": "str"},
            "state": {"type": "str", "default": "started",
                      "choices": ["present", "started", "stopped", "absent", "rollback"]},
            "backend": {"type": "str", "default": "oci", "choices": ["oci", "podman"]},
            "runtime": {"type": "str"},
            "podman_executable": {"type": "str", "default": "podman"},
            "skopeo_executable": {"type": "str", "default": "skopeo"},
            "command": {"type": "list", "elements": "str"},
            "env": {"type": "dict", "default": {}},
            "ro_binds": {"type": "dict", "default": {}},
            "rw_binds": {"type": "dict", "default": {}},
            "network": {"type": "str", "default": "host", "choices": ["host", "none"]},
            "hostname": {"type": "str"},
            "values": {"type": "dict", "default": {}},
            "description": {"type": "str"},
            "after": {"type": "list", "elements": "str", "default": []},
            "before": {"type": "list", "elements": "str", "default": []},
            "requires": {"type": "list", "elements": "str", "default": []},
            "wants": {"type": "list", "elements": "str", "default": []},
            "restart": {"type": "str", "default": "on-failure",
                        "choices": ["no", "on-success", "on-failure", "on-abnormal", "on-watchdog", "on-abort",
                                    "always"]},
            "restart_sec": {"type": "int", "default": 5},
            "slice": {"type": "str", "default": "system.slice"},
            "enabled": {"type": "bool"},
            "mcs_label": {"type": "str"},
            "mcs_state_path": {"type": "path", "default": "/var/lib/containerhost/mcs/allocations.json"},
            "root_dir": {"type": "path", "default": "/var/lib/containerhost/system-containers"},
            "unit_dir": {"type": "path", "default": "/etc/systemd/system"},
            "keep_deployments": {"type": "int", "default": 2},
            "start_timeout": {"type": "int", "default": 60},
            "stable_seconds": {"type": "int", "default": 5},
            "health_command": {"type": "list", "elements": "str"},
            **registry_argument_spec(),
            **copy.deepcopy(LIMIT_OPTIONS),
        },
        mutually_exclusive=REGISTRY_MUTUALLY_EXCLUSIVE,
        required_together=REGISTRY_REQUIRED_TOGETHER,
        supports_check_mode=True,
    )
    container = SystemContainer(module)
    try:
        container.run()
    except SystemctlError as exc:
        container.fail(str(exc), **exc.result())
    except EngineError as exc:
        container.fail(str(exc), **exc.result())
    except (SpecError, ContainerError) as exc:
        container.fail(str(exc))
    except OSError as exc:
        container.fail(f"could not change {exc.filename or 'a file'}: {exc.strerror or exc}")


if __name__ == "__main__":
    main()
