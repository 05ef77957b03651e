# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: engine_network
short_description: The container engine's bridge network on the host's overlay subnet and MTU (podman network, docker bip)
version_added: 0.1.0
description:
  - Makes the container engine's bridge network match a subnet and MTU, so that containers on each host get addresses
    from the subnet the overlay gave that host and packets fit the overlay.
  - The subnet and MTU come from flannel's lease file (O(subnet_env), C(/run/flannel/subnet.env), which flanneld
    writes with C(FLANNEL_NETWORK), C(FLANNEL_SUBNET) - the bridge's address with the subnet's prefix, such as
    V(10.5.34.1/24) -, C(FLANNEL_MTU) and C(FLANNEL_IPMASQ)) or from O(subnet), O(gateway) and O(mtu).
  - Everything is checked before the host is touched; a bad value fails naming the option (or the key of the file)
    and what is accepted. The subnet must leave room for containers (V(/30) or shorter), the gateway must be a host
    address in it, the subnet must lie inside the overlay network when that is known, the MTU from 68 to 65535.
  - With O(engine=podman), the podman network O(name) (bridge driver, one IPv4 subnet with its gateway, the bridge
    interface O(interface_name), the C(mtu) option, DNS as O(dns)) is compared with what C(podman network ls) reads.
    A network that differs is removed with C(podman network rm) and written again; while containers are attached this
    is refused unless O(force=true).
  - The network is written as a netavark network file (O(network_dir)C(/<name>.json), the file C(podman network
    create) writes) rather than with C(podman network create), which refuses a subnet that an interface of the host
    holds an address in - and flanneld gives its VXLAN device the subnet's first address (C(10.5.34.0/32)) before the
    lease file exists. Writing the file also names the bridge on podman 4.3, whose C(network create) has no
    C(--interface-name). The module checks what C(network create) would otherwise check against podman's other
    networks (overlapping subnets, the same bridge name) and reads the network back through podman after writing.
  - With O(engine=docker), C(bip), C(mtu) and C(ip-masq) are merged into docker's C(daemon.json) (O(daemon_json)),
    other keys kept, compared as data and written atomically. docker reads the file when it starts;
    RV(restart_required) tells when it must be restarted (the module does not restart it).
author:
  - containerhost.platform maintainers (@containerhost)
options:
  engine:
    description: The container engine whose bridge network is managed.
    type: str
    choices: [podman, docker]
    default: podman
  subnet_env:
    description:
      - Path of flannel's lease file on the host, such as V(/run/flannel/subnet.env). C(FLANNEL_SUBNET) and
        C(FLANNEL_MTU) are required; C(FLANNEL_NETWORK) (checked to contain the subnet) and C(FLANNEL_IPMASQ) are used
        when present.
      - Mutually exclusive with O(subnet). A missing file fails the task.
    type: path
  subnet:
    description:
      - The host's subnet in CIDR form with the host bits clear, such as V(10.5.34.0/24), V(/30) or shorter.
        Mutually exclusive with O(subnet_env); requires O(mtu).
    type: str
  gateway:
    description: The bridge's address in O(subnet); by default the subnet's first address (as flanneld's C(FLANNEL_SUBNET)).
    type: str
  mtu:
    description: The MTU of the bridge and the containers' interfaces, 68 to 65535 (with O(subnet)).
    type: int
  overlay_network:
    description: The whole overlay network (flannel's C(Network)); with O(subnet), O(subnet) must lie inside it.
    type: str
  ip_masq:
    description:
      - O(engine=docker) only - docker's own masquerading (C(ip-masq)) of traffic leaving its bridge.
      - Unset, it follows C(FLANNEL_IPMASQ) the way flannel's C(mk-docker-opts.sh) does - off when flanneld
        masquerades traffic leaving the overlay itself, so that traffic between containers of different hosts keeps
        the containers' addresses; when neither is known the key is left alone.
    type: bool
  name:
    description: The podman network's name (O(engine=podman)).
    type: str
    default: flannel
  interface_name:
    description:
      - The bridge interface's name (O(engine=podman)), up to 15 letters, digits, C(_), C(.) and C(-); no other
        podman network may use it.
    type: str
    default: flannelbr0
  network_dir:
    description: Where podman (netavark) keeps its network files; C(network_config_dir) of C(containers.conf).
    type: path
    default: /etc/containers/networks
  dns:
    description: Whether the podman network serves container names by DNS (C(--disable-dns) when false).
    type: bool
    default: true
  force:
    description:
      - Recreate (or with O(state=absent) remove) a podman network even while containers are attached to it. podman
        removes those containers with the network (C(podman network rm --force)); they are listed in
        RV(removed_containers) and must be created again (system containers, quadlets or the playbook that made them).
      - Without it, a change to a network with containers attached fails naming them.
    type: bool
    default: false
  daemon_json:
    description: docker's daemon configuration file (O(engine=docker)).
    type: path
    default: /etc/docker/daemon.json
  podman_executable:
    description: The podman program, a name looked up in E(PATH) or a path.
    type: str
    default: podman
  state:
    description:
      - V(present) makes the network match.
      - V(absent) removes the podman network (refused while containers are attached, unless O(force=true)), or removes
        C(bip), C(mtu) and C(ip-masq) from docker's C(daemon.json).
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - containerhost.platform._attributes
attributes:
  check_mode:
    support: full
    details:
      - Reads the networks (or C(daemon.json)) and the attached containers and predicts C(changed), RV(recreated) and
        the diff exactly; changes nothing.
  diff_mode:
    support: full
    details: The network's managed fields (podman) or the whole C(daemon.json) (docker) before and after.
  idempotent:
    support: full
    details: A network that matches is left alone; C(daemon.json) is compared as data, so formatting is kept.
  platform:
    support: full
    platforms: posix
    details:
      - podman 4 with the netavark or CNI network backend; docker reads C(daemon.json) at its next start.
notes:
  - "Masquerading with flannel: flanneld's C(-ip-masq) masquerades traffic from the overlay to outside it and leaves
    traffic inside the overlay alone. docker's own masquerading would also rewrite traffic towards other hosts'
    containers, hence C(ip-masq=false) when C(FLANNEL_IPMASQ=true) (O(ip_masq)), as flannel's C(mk-docker-opts.sh)
    does. podman (netavark) has no such switch: when a container starts it appends to the C(nat) table's
    C(POSTROUTING) chain a MASQUERADE for everything that leaves the network's own subnet, other hosts' containers
    included, and flanneld's C(RETURN) for traffic inside the overlay falls through to it. The
    C(containerhost.platform.flannel) role therefore puts C(-s <Network> -d <Network> -j ACCEPT) first in that chain
    (C(containerhost-flannel-iptables.service)); traffic leaving the overlay is masqueraded as before."
  - O(engine=podman) needs podman's netavark network backend (C(podman info) reports it; Debian 12's podman 4.3 uses
    it when the netavark package is installed); with the CNI backend the task fails before any change.
seealso:
  - module: containerhost.platform.flannel_network
"""

EXAMPLES = r"""
- name: The podman network takes the subnet and MTU of the node's flannel lease
  containerhost.platform.engine_network:
    engine: podman
    subnet_env: /run/flannel/subnet.env

- name: Explicit values and a bridge name of our choice
  containerhost.platform.engine_network:
    name: overlay
    subnet: 10.5.34.0/24
    mtu: 1450
    overlay_network: 10.5.0.0/16
    interface_name: overlaybr0

- name: docker takes bip and mtu from the lease; restart it when asked to
  containerhost.platform.engine_network:
    engine: docker
    subnet_env: /run/flannel/subnet.env
  register: docker_network

- name: Restart docker
  ansible.builtin.systemd_service:
    name: docker.service
    state: restarted
  when: docker_network.restart_required
"""

RETURN = r"""
engine:
  description: The engine managed.
  returned: always
  type: str
  sample: podman
target:
  description: What the network was made to match.
  returned: when O(state=present)
  type: dict
  contains:
    subnet:
      description: The host's subnet.
      type: str
      sample: 10.5.34.0/24
    gateway:
      description: The bridge's address.
      type: str
      sample: 10.5.34.1
    mtu:
      description: The MTU.
      type: int
      sample: 1450
    ip_masq:
      description: C(FLANNEL_IPMASQ) (whether flanneld masquerades), V(null) when not known.
      type: bool
      sample: true
    overlay_network:
      description: The whole overlay network, V(null) when not known.
      type: str
      sample: 10.5.0.0/16
network:
  description: The podman network's managed fields after the task (predicted in check mode); V(null) when absent.
  returned: when O(engine=podman)
  type: dict
  sample:
    name: flannel
    driver: bridge
    interface_name: flannelbr0
    subnets: [{subnet: 10.5.34.0/24, gateway: 10.5.34.1}]
    mtu: 1450
    dns_enabled: true
    internal: false
    ipv6_enabled: false
interface_name:
  description: The bridge interface of the podman network (V(null) when it is absent).
  returned: when O(engine=podman)
  type: str
  sample: flannelbr0
network_file:
  description: The network's file.
  returned: when O(engine=podman)
  type: str
  sample: /etc/containers/networks/flannel.json
differences:
  description: The fields of the podman network that differed (all of them when it did not exist).
  returned: when O(engine=podman)
  type: list
  elements: str
  sample: [subnets, mtu]
recreated:
  description: Whether an existing podman network was removed and created again.
  returned: when O(engine=podman)
  type: bool
  sample: false
removed_containers:
  description: Containers podman removed with the network (only with O(force=true)).
  returned: when O(engine=podman)
  type: list
  elements: str
  sample: []
daemon_json:
  description: The path of docker's configuration file.
  returned: when O(engine=docker)
  type: str
  sample: /etc/docker/daemon.json
changed_keys:
  description: The keys of C(daemon.json) whose value changed.
  returned: when O(engine=docker)
  type: list
  elements: str
  sample: [bip, mtu]
restart_required:
  description: Whether docker must be restarted to use the changed C(daemon.json).
  returned: when O(engine=docker)
  type: bool
  sample: true
"""

import datetime
import os
import secrets
import typing as t

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.containerhost.platform.plugins.module_utils._engine_network import (
    NETAVARK,
    EngineNetworkError,
    Target,
    changed_keys,
    check_interface_name,
    check_network_name,
    desired_daemon_config,
    desired_network_state,
    docker_ip_masq,
    network_conflicts,
    network_differences,
    network_state,
    parse_container_names,
    parse_daemon_json,
    parse_network_list,
    parse_subnet_env,
    render_daemon_json,
    render_network_file,
    target_from_env,
    target_from_params,
)
from ansible_collections.containerhost.platform.plugins.module_utils._unit_files import atomic_write, read_text_or_none

ENVIRON = {"LANG": "C", "LC_ALL": "C", "LC_MESSAGES": "C"}


class CommandFailed(Exception):
    """A podman call failed; carries what fail_json reports."""

    def __init__(self, argv: list[str], rc: int, stdout: str, stderr: str) -> None:
        detail = (stderr or stdout).strip() or f"exit status {rc}"
        super().__init__(f"{' '.join(argv)}: {detail}")
        self.result = {"cmd": argv, "rc": rc, "stdout": stdout, "stderr": stderr}


def read_target(module: AnsibleModule) -> Target:
    """The target from subnet.env or the explicit options; fails naming the field."""
    params = module.params
    try:
        if params["subnet_env"]:
            path = params["subnet_env"]
            text = read_text_or_none(path)
            if text is None:
                module.fail_json(msg=f"subnet_env: {path} does not exist; flanneld writes it once it holds a lease "
                                     "(or give subnet, gateway and mtu)")
            try:
                values = parse_subnet_env(text)
            except EngineNetworkError as exc:
                module.fail_json(msg=f"subnet_env ({path}): {exc}")
            return target_from_env(values, path)
        return target_from_params(params["subnet"], params["gateway"], params["mtu"], params["overlay_network"])
    except EngineNetworkError as exc:
        module.fail_json(msg=str(exc))
    raise AssertionError("unreachable")


class PodmanNetwork:
    """Reads podman's networks and the attached containers, decides, writes the network file (unless in check mode)."""

    def __init__(self, module: AnsibleModule, target: Target | None) -> None:
        self.module = module
        self.target = target
        params = module.params
        self.name: str = params["name"]
        self.dns: bool = params["dns"]
        self.interface_name: str = params["interface_name"]
        self.force: bool = params["force"]
        self.path = os.path.join(params["network_dir"], f"{self.name}.json")
        executable = params["podman_executable"]
        self.podman = executable if "/" in executable else module.get_bin_path(executable, required=True)

    def run(self, args: list[str]) -> str:
        """Run podman; its stdout, or CommandFailed."""
        argv = [self.podman, *args]
        rc, out, err = self.module.run_command(argv, environ_update=ENVIRON)
        if rc != 0:
            raise CommandFailed(argv, rc, out, err)
        return out

    def networks(self) -> list[dict[str, t.Any]]:
        """Every podman network as podman reads it."""
        out = self.run(["network", "ls", "--format", "json"])
        try:
            return parse_network_list(out)
        except ValueError as exc:
            raise CommandFailed([self.podman, "network", "ls", "--format", "json"], 0, out,
                                f"could not read its JSON: {exc}") from None

    def current(self) -> dict[str, t.Any] | None:
        """This network's managed fields as podman reads them, None when it does not exist."""
        found = [network for network in self.networks() if network.get("name") == self.name]
        return network_state(found[0]) if found else None

    def containers(self) -> list[str]:
        """Containers attached to the network, running or not."""
        return parse_container_names(self.run(["ps", "--all", "--filter", f"network={self.name}",
                                               "--format", "{{.Names}}"]))

    def check_backend(self) -> None:
        """Fail unless podman uses netavark, whose network files this module writes."""
        backend = self.run(["info", "--format", "{{.Host.NetworkBackend}}"]).strip()
        if backend != NETAVARK:
            self.module.fail_json(msg=f"engine: podman's network backend is {backend or 'unknown'}; this module "
                                      "writes netavark network files: install netavark and aardvark-dns and set "
                                      "network_backend = \"netavark\" in containers.conf")

    def apply(self) -> dict[str, t.Any]:
        """Decide and act; the module's result."""
        self.check_backend()
        networks = self.networks()
        found = [network for network in networks if network.get("name") == self.name]
        before = network_state(found[0]) if found else None
        desired = None
        if self.target is not None:
            desired = desired_network_state(self.name, self.target, self.dns, self.interface_name)
            problems = network_conflicts(networks, self.name, self.target, self.interface_name)
            if problems:
                self.module.fail_json(msg="; ".join(problems))
        differences = [] if desired is None else network_differences(before, desired)
        remove = before is not None and (desired is None or bool(differences))
        create = desired is not None and (before is None or bool(differences))
        attached = self.containers() if remove else []
        if attached and not self.force:
            what = (f"differs in {', '.join(differences)} and must be created again" if desired is not None
                    else "is to be removed")
            self.module.fail_json(msg=f"name: the podman network {self.name} {what}, but containers are attached: "
                                      f"{', '.join(attached)}; stop and remove them first, or set force: true to "
                                      "let podman remove them with the network", containers=attached,
                                  differences=differences, before=before, wanted=desired)
        changed = remove or create
        after = desired if changed else before
        if changed and not self.module.check_mode:
            if remove:
                # podman tears down what the network set up and removes its file (and, forced, the containers).
                self.run(["network", "rm", *(["--force"] if attached else []), self.name])
            if create:
                if self.target is None:
                    raise AssertionError("internal error: no target network")
                created = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                atomic_write(self.module, self.path, render_network_file(
                    self.name, secrets.token_hex(32), created, self.target, self.dns, self.interface_name), 0o644)
                after = self.current()
                if after != desired:
                    self.module.fail_json(msg=f"podman reads {self.path} differently than written: {after} instead "
                                              f"of {desired}", before=before, wanted=desired, network=after)
        result: dict[str, t.Any] = {
            "changed": changed, "engine": "podman", "network": after, "network_file": self.path,
            "differences": differences, "recreated": remove and create,
            "removed_containers": attached if remove else [],
            "interface_name": (after or {}).get("interface_name"),
        }
        if self.target is not None:
            result["target"] = self.target.as_dict()
        if self.module._diff:
            result["diff"] = {"before": before or {}, "after": after or {},
                              "before_header": f"podman network {self.name}",
                              "after_header": f"podman network {self.name}"}
        return result


class DockerDaemonConfig:
    """Merges bip, mtu and ip-masq into daemon.json (or removes them)."""

    def __init__(self, module: AnsibleModule, target: Target | None) -> None:
        self.module = module
        self.target = target
        self.path: str = module.params["daemon_json"]
        self.ip_masq = None if target is None else docker_ip_masq(target, module.params["ip_masq"])

    def apply(self) -> dict[str, t.Any]:
        """Decide and write; the module's result."""
        text = read_text_or_none(self.path)
        try:
            before = parse_daemon_json(text, self.path)
            after = desired_daemon_config(before, self.target, self.ip_masq, self.path)
        except EngineNetworkError as exc:
            self.module.fail_json(msg=str(exc))
        keys = changed_keys(before, after)
        # An absent file with nothing to remove stays absent.
        changed = bool(keys)
        if changed and not self.module.check_mode:
            atomic_write(self.module, self.path, render_daemon_json(after), 0o644)
        if changed:
            self.module.warn(f"{self.path} changed ({', '.join(keys)}); docker uses it after a restart "
                             "(restart_required)")
        result: dict[str, t.Any] = {"changed": changed, "engine": "docker", "daemon_json": self.path,
                                    "changed_keys": keys, "restart_required": changed}
        if self.target is not None:
            result["target"] = self.target.as_dict()
        if self.module._diff:
            result["diff"] = {"before": render_daemon_json(before) if text is not None else "",
                              "after": render_daemon_json(after) if (changed or text is not None) else "",
                              "before_header": self.path, "after_header": self.path}
        return result


def main() -> None:
    """Make the engine's bridge network match."""
    module = AnsibleModule(
        argument_spec={
            "engine": {"type": "str", "choices": ["podman", "docker"], "default": "podman"},
            "subnet_env": {"type": "path"},
            "subnet": {"type": "str"},
            "gateway": {"type": "str"},
            "mtu": {"type": "int"},
            "overlay_network": {"type": "str"},
            "ip_masq": {"type": "bool"},
            "name": {"type": "str", "default": "flannel"},
            "interface_name": {"type": "str", "default": "flannelbr0"},
            "network_dir": {"type": "path", "default": "/etc/containers/networks"},
            "dns": {"type": "bool", "default": True},
            "force": {"type": "bool", "default": False},
            "daemon_json": {"type": "path", "default": "/etc/docker/daemon.json"},
            "podman_executable": {"type": "str", "default": "podman"},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
        },
        mutually_exclusive=[("subnet_env", "subnet")],
        required_by={"subnet": ("mtu",), "gateway": ("subnet",), "overlay_network": ("subnet",)},
        supports_check_mode=True,
    )
    params = module.params
    try:
        check_network_name(params["name"])
        check_interface_name(params["interface_name"])
    except EngineNetworkError as exc:
        module.fail_json(msg=str(exc))
    if params["state"] == "present" and not (params["subnet_env"] or params["subnet"]):
        module.fail_json(msg="subnet_env or subnet: one is required with state=present; accepted: the path of "
                             "flannel's subnet.env, or subnet with mtu")
    if params["engine"] == "podman" and params["ip_masq"] is not None:
        module.fail_json(msg="ip_masq: only for engine=docker; podman has no per-network switch (see the notes)")
    if params["engine"] == "docker" and params["force"]:
        module.fail_json(msg="force: only for engine=podman; docker applies daemon.json at its next restart")
    target = read_target(module) if params["state"] == "present" else None
    manager = PodmanNetwork(module, target) if params["engine"] == "podman" else DockerDaemonConfig(module, target)
    try:
        result = manager.apply()
    except CommandFailed as exc:
        module.fail_json(msg=str(exc), **exc.result)
    except OSError as exc:
        module.fail_json(msg=f"{os.strerror(exc.errno or 0)}: {exc.filename or ''}".strip())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
