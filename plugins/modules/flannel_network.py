# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: flannel_network
short_description: The flannel overlay's network configuration in etcd, validated and written in flannel's format
version_added: 0.1.0
description:
  - Declares the configuration flanneld reads from etcd at C(<prefix>/config) (C(--etcd-prefix), by default
    C(/coreos.com/network/config)) - the overlay network, the size and range of the per-host subnets and the
    backend (vxlan, host-gw or udp) with its settings.
  - Checks everything before etcd is touched, with the rules flanneld applies and the arithmetic they imply, and fails
    naming each wrong option and what it accepts. It checks that the network is in CIDR form with its host bits
    clear; that O(subnet_len) is from the network's prefix + 2 to 30; that O(subnet_min) and O(subnet_max) lie in the
    network, on a subnet boundary and in order; that there are enough subnets for O(expected_nodes) (flanneld never
    hands out the network's first subnet); VNI and port ranges; that the backend type reads every backend option
    given; and that the overlay MTU (O(backend.mtu)) fits the link's (O(link_mtu)) once the backend's encapsulation
    overhead is taken off.
  - Writes compact JSON with flannel's key names and order (C(Network), C(SubnetLen), C(SubnetMin), C(SubnetMax),
    C(Backend) with C(Type), C(VNI), C(Port), C(GBP), C(DirectRouting)); only the keys that are set, so that
    flanneld's own defaults apply to the rest.
  - Reads the stored value first and writes only when its bytes differ from that rendering. It also decodes the stored
    value the way flanneld does (field names in any letter case, unknown keys ignored, defaults applied) and returns
    whether flanneld would see a different network; a formatting-only rewrite is reported as a change with
    RV(semantic_change=false).
  - Talks to etcd through C(etcdctl), with the etcd API generation the flannel release reads (O(etcd_api)).
    Values reach C(etcdctl) on its standard input, never on its command line.
  - Manages only the configuration key; subnet leases below C(<prefix>/subnets/) are left to flanneld.
author:
  - containerhost.platform maintainers (@containerhost)
options:
  network:
    description:
      - The whole overlay network, flannel's C(Network), as an IPv4 network in CIDR form with its host bits clear,
        for example V(10.5.0.0/16). A V(/28) is the smallest flannel accepts.
      - Required with O(state=present); ignored with O(state=absent).
    type: str
  subnet_len:
    description:
      - The prefix length of the subnet each host gets (C(SubnetLen)). Accepted from the network's prefix + 2 to 30.
      - When unset the key is not written and flanneld uses its default, 24 for a V(/22) or larger network and the
        network's prefix + 2 for a smaller one.
    type: int
  subnet_min:
    description:
      - The first subnet flanneld may hand out (C(SubnetMin)), an address in O(network) on a O(subnet_len) boundary.
      - When unset, flanneld starts at the network's second subnet.
    type: str
  subnet_max:
    description:
      - The last subnet flanneld may hand out (C(SubnetMax)), an address in O(network) on a O(subnet_len) boundary, not
        below O(subnet_min).
      - When unset, flanneld goes up to the network's last subnet.
    type: str
  backend:
    description: The backend that carries packets between hosts (C(Backend)).
    type: dict
    suboptions:
      type:
        description:
          - C(vxlan) encapsulates in the kernel's VXLAN (the recommended one); C(host-gw) routes to the other hosts
            directly and needs them on one layer-2 network; C(udp) encapsulates in user space (for debugging).
        type: str
        choices: [vxlan, host-gw, udp]
        default: vxlan
      vni:
        description: The VXLAN network identifier (C(VNI)), 0 to 16777215; vxlan only. Unset, flanneld uses 1.
        type: int
      port:
        description:
          - The UDP port encapsulated packets are sent to (C(Port)), 1 to 65535; vxlan and udp only.
          - Unset, vxlan uses the kernel's default (8472) and udp uses 8285.
        type: int
      gbp:
        description: VXLAN Group Based Policy (C(GBP)); vxlan only. Unset, flanneld leaves it off.
        type: bool
      direct_routing:
        description:
          - Route directly (as host-gw does) to hosts on the same subnet and encapsulate only for the others
            (C(DirectRouting)); vxlan only. Unset, flanneld leaves it off.
        type: bool
      mtu:
        description:
          - The MTU the overlay must offer (what the containers' interfaces need), checked against O(link_mtu) less the
            backend's overhead per packet (vxlan 50 bytes, udp 28, host-gw none).
          - Not stored in etcd; flanneld has no such setting and derives the overlay MTU from the link the same way
            (RV(effective.overlay_mtu)).
        type: int
  prefix:
    description: flanneld's etcd prefix (C(--etcd-prefix)); the configuration lives at C(<prefix>/config).
    type: str
    default: /coreos.com/network
  etcd_api:
    description:
      - The etcd API generation the flannel release on the hosts reads its configuration through. etcd keeps the two
        generations' keys apart, so a configuration written through one is invisible through the other.
      - V(v3) for flannel 0.18.0 and later (its release notes list "Upgrade etcd client to v3", flannel pull request
        1562); written with C(etcdctl put) (API 3).
      - V(v2) for flannel 0.17.0 and earlier; written with C(ETCDCTL_API=2 etcdctl set) into the v2 keyspace, which
        etcd 3.4 and 3.5 serve only when started with C(--enable-v2=true). etcd 3.6 has no v2 API.
    type: str
    choices: [v3, v2]
    default: v3
  expected_nodes:
    description:
      - How many hosts will join the overlay (for example the size of the inventory group); fails before anything is
        written when the subnets from O(subnet_min) to O(subnet_max) are fewer.
    type: int
  link_mtu:
    description: The MTU of the hosts' link that carries the overlay, for the O(backend.mtu) check and RV(effective.overlay_mtu).
    type: int
    default: 1500
  state:
    description: V(present) writes the configuration, V(absent) deletes the configuration key.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - containerhost.platform._attributes
  - containerhost.platform._etcd
attributes:
  check_mode:
    support: full
    details: Reads the stored configuration and predicts C(changed), RV(semantic_change) and the diff exactly; writes nothing.
  diff_mode:
    support: full
    details: Shows the stored text before and after.
  idempotent:
    support: full
    details: A second run with the same options finds the same bytes stored and reports no change.
  platform:
    support: full
    platforms: posix
    details:
      - Needs C(etcdctl) on the target; 3.4 or later for O(etcd_api=v3), 3.4 or 3.5 (which still have the v2 commands)
        for O(etcd_api=v2).
notes:
  - flanneld reads its configuration when it starts. When the stored configuration changes what flanneld uses, the
    module warns; restart flanneld on every host, and expect hosts to get new subnets when theirs lie outside the new
    range.
  - With O(etcd_api=v2), O(dial_timeout) is etcdctl's C(--timeout) (per request) and O(command_timeout) its
    C(--total-timeout); etcdctl talks only to O(endpoints) (C(--no-sync)).
seealso:
  - module: containerhost.platform.etcd_key
"""

EXAMPLES = r"""
- name: VXLAN overlay for the cluster, checked against the inventory's size
  containerhost.platform.flannel_network:
    endpoints: [https://10.0.0.1:2379, https://10.0.0.2:2379]
    ca_cert: /etc/etcd/pki/ca.crt
    client_cert: /etc/etcd/pki/client.crt
    client_key: /etc/etcd/pki/client.key
    network: 10.5.0.0/16
    subnet_len: 24
    backend:
      type: vxlan
      vni: 1
      direct_routing: true
      mtu: 1450
    link_mtu: 1500
    expected_nodes: "{{ groups['container_hosts'] | length }}"

- name: A flannel release older than 0.18.0 reads the v2 keyspace under its own prefix
  containerhost.platform.flannel_network:
    etcd_api: v2
    prefix: /cluster-a/network
    network: 172.30.0.0/16
    subnet_min: 172.30.10.0
    subnet_max: 172.30.99.0
    backend:
      type: host-gw

- name: Remove the configuration
  containerhost.platform.flannel_network:
    prefix: /cluster-a/network
    state: absent
"""

RETURN = r"""
key:
  description: The configuration key, C(<prefix>/config) joined and cleaned as flanneld does.
  returned: always
  type: str
  sample: /coreos.com/network/config
etcd_api:
  description: The API generation the key was read and written through.
  returned: always
  type: str
  sample: v3
value:
  description: The stored text after the task (predicted in check mode); V(null) when the key is absent.
  returned: always
  type: str
  sample: '{"Network":"10.5.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan","VNI":1}}'
config:
  description: RV(value) as data; V(null) when the key is absent.
  returned: always
  type: dict
  sample: {"Network": "10.5.0.0/16", "SubnetLen": 24, "Backend": {"Type": "vxlan", "VNI": 1}}
before:
  description: The stored text before the task; V(null) when the key did not exist.
  returned: always
  type: str
  sample: '{"Network": "10.5.0.0/16", "Backend": {"Type": "vxlan"}}'
semantic_change:
  description:
    - Whether flanneld reads a different configuration after the task than before (creation and removal included).
      V(false) with C(changed=true) means only the formatting of the stored text changed.
  returned: always
  type: bool
  sample: false
effective:
  description: What flanneld uses with this configuration, its defaults filled in.
  returned: when O(state=present)
  type: dict
  contains:
    network:
      description: The overlay network.
      type: str
      sample: 10.5.0.0/16
    subnet_len:
      description: The prefix length of each host's subnet.
      type: int
      sample: 24
    subnet_min:
      description: The first subnet handed out.
      type: str
      sample: 10.5.1.0
    subnet_max:
      description: The last subnet handed out.
      type: str
      sample: 10.5.255.0
    subnet_count:
      description: How many hosts can get a subnet.
      type: int
      sample: 255
    backend:
      description: The backend settings flanneld uses (type, and for vxlan vni, port, gbp, learning, direct_routing).
      type: dict
      sample: {"type": "vxlan", "vni": 1, "port": 8472, "gbp": false, "learning": false, "direct_routing": false}
    overlay_mtu:
      description: The overlay MTU flanneld derives from O(link_mtu) for this backend.
      type: int
      sample: 1450
"""

import json
import os
import typing as t

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.containerhost.platform.plugins.module_utils._etcdctl import (
    CONNECTION_OPTIONS,
    Connection,
    EtcdError,
    Etcdctl,
    validate_connection,
)
from ansible_collections.containerhost.platform.plugins.module_utils._flannel import (
    DEFAULT_PREFIX,
    V2_ENVIRON,
    FlannelError,
    NetworkConfig,
    config_key,
    decode_config,
    describe,
    parse_v2_node,
    render_config,
    same_meaning,
    v2_argv,
    v2_failure,
    v2_key_missing,
    validate,
)

BACKEND_OPTIONS: dict[str, dict[str, t.Any]] = {
    "type": {"type": "str", "choices": ["vxlan", "host-gw", "udp"], "default": "vxlan"},
    "vni": {"type": "int"},
    "port": {"type": "int"},
    "gbp": {"type": "bool"},
    "direct_routing": {"type": "bool"},
    "mtu": {"type": "int"},
}


class EtcdctlV2:
    """Runs etcdctl with ETCDCTL_API=2 for one key at a time; raises EtcdError on failure."""

    def __init__(self, module: AnsibleModule, connection: Connection, binary: str = "etcdctl") -> None:
        self.module = module
        self.connection = connection
        self.binary = binary if "/" in binary else module.get_bin_path(binary, required=True)

    def run(self, args: list[str], data: str | None = None, missing_ok: bool = False) -> str | None:
        """Run etcdctl; ``data`` goes to stdin. Returns stdout, or None for a missing key when ``missing_ok``."""
        argv = v2_argv(self.binary, self.connection, args)
        kwargs: dict[str, t.Any] = {"environ_update": V2_ENVIRON}
        if data is not None:
            kwargs.update(data=data, binary_data=True)
        rc, out, err = self.module.run_command(argv, **kwargs)
        if rc == 0:
            return out
        if missing_ok and v2_key_missing(err):
            return None
        kind, msg = v2_failure(err, out, self.connection.endpoints)
        raise EtcdError(msg, kind, argv, rc, out, err)

    def get(self, key: str) -> str | None:
        """The value of a key, None when it does not exist."""
        out = self.run(["get", "--", key], missing_ok=True)
        return None if out is None else parse_v2_node(out)["value"]

    def put(self, key: str, value: str) -> None:
        """Write a value (etcdctl reads it from stdin when no value argument is given)."""
        self.run(["set", "--", key], data=value)

    def delete(self, key: str) -> None:
        """Delete a key; a key that is already gone is fine."""
        self.run(["rm", "--", key], missing_ok=True)


class EtcdctlV3:
    """The v3 runner with the same one-key interface as EtcdctlV2."""

    def __init__(self, module: AnsibleModule, connection: Connection, binary: str = "etcdctl") -> None:
        self.etcdctl = Etcdctl(module, connection, binary)

    def get(self, key: str) -> str | None:
        """The value of a key, None when it does not exist."""
        found = self.etcdctl.get_range(key)
        return found[key]["value"] if key in found else None

    def put(self, key: str, value: str) -> None:
        """Write a value on stdin."""
        self.etcdctl.put(key, value)

    def delete(self, key: str) -> None:
        """Delete a key."""
        self.etcdctl.delete(key)


class FlannelNetwork:
    """Validates the declared configuration, reads the stored one, decides, writes (unless in check mode)."""

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        params = module.params
        self.state: str = params["state"]
        self.api: str = params["etcd_api"]
        self.key = config_key(params["prefix"])
        self.config = NetworkConfig.from_params(params) if self.state == "present" else None
        self.before: str | None = None
        self.after: str | None = None
        self.changed = False
        self.semantic_change = False

    def validate(self) -> None:
        """Fail listing every problem with the options, before etcd is contacted."""
        params = self.module.params
        problems = validate_connection(params)
        for name in ("ca_cert", "client_cert", "client_key"):
            path = params[name]
            if path and not os.path.isfile(path):
                problems.append(f"{name}: {path} is not a file")
        if not params["prefix"].strip():
            problems.append(f"prefix: must not be empty; accepted: flanneld's --etcd-prefix, e.g. {DEFAULT_PREFIX}")
        if self.config is not None:
            problems.extend(validate(self.config, params["expected_nodes"], params["link_mtu"]))
        if problems:
            self.module.fail_json(msg="; ".join(problems), errors=problems, key=self.key)

    def store(self) -> EtcdctlV2 | EtcdctlV3:
        """The runner for the configured API generation."""
        runner = EtcdctlV2 if self.api == "v2" else EtcdctlV3
        return runner(self.module, Connection.from_params(self.module.params), self.module.params["executable"])

    def decide(self) -> None:
        """The text after the task, whether the bytes change and whether flanneld would see a change."""
        if self.config is None:
            self.after = None
            self.semantic_change = self.before is not None
        else:
            self.after = render_config(self.config)
            self.semantic_change = not same_meaning(self.before, self.after)
        self.changed = self.after != self.before

    def warn(self) -> None:
        """Tell the operator what a change means for running flanneld instances."""
        if self.before is None or not self.semantic_change or self.after is None:
            return
        try:
            decode_config(self.before)
        except FlannelError as exc:
            self.module.warn(f"{self.key} held a configuration flanneld refuses ({exc}); it was replaced")
            return
        self.module.warn(f"{self.key} now gives flanneld a different network configuration; flanneld reads it only "
                         "when it starts: restart flanneld on every host (hosts whose subnet lies outside the new "
                         "range get a new one)")

    def result(self) -> dict[str, t.Any]:
        """The task's return values."""
        result: dict[str, t.Any] = {
            "changed": self.changed, "key": self.key, "etcd_api": self.api, "value": self.after,
            "config": None if self.after is None else json.loads(self.after), "before": self.before,
            "semantic_change": self.semantic_change,
        }
        if self.config is not None:
            result["effective"] = describe(self.config, self.module.params["link_mtu"])
        if self.module._diff:
            result["diff"] = {"before_header": self.key, "after_header": self.key,
                              "before": "" if self.before is None else f"{self.before}\n",
                              "after": "" if self.after is None else f"{self.after}\n"}
        return result

    def run(self) -> None:
        """Validate, read, decide, write unless in check mode, and exit."""
        self.validate()
        try:
            store = self.store()
            self.before = store.get(self.key)
            self.decide()
            if self.changed and not self.module.check_mode:
                if self.after is None:
                    store.delete(self.key)
                else:
                    store.put(self.key, self.after)
        except EtcdError as exc:
            self.module.fail_json(msg=str(exc), key=self.key, etcd_api=self.api, **exc.result())
        except FlannelError as exc:
            self.module.fail_json(msg=str(exc), key=self.key, etcd_api=self.api)
        self.warn()
        self.module.exit_json(**self.result())


def main() -> None:
    """Manage flannel's network configuration."""
    module = AnsibleModule(
        argument_spec={
            "network": {"type": "str"},
            "subnet_len": {"type": "int"},
            "subnet_min": {"type": "str"},
            "subnet_max": {"type": "str"},
            "backend": {"type": "dict", "options": BACKEND_OPTIONS, "apply_defaults": True},
            "prefix": {"type": "str", "default": DEFAULT_PREFIX},
            "etcd_api": {"type": "str", "choices": ["v3", "v2"], "default": "v3"},
            "expected_nodes": {"type": "int"},
            "link_mtu": {"type": "int", "default": 1500},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            **CONNECTION_OPTIONS,
        },
        required_if=[("state", "present", ("network",))],
        supports_check_mode=True,
    )
    FlannelNetwork(module).run()


if __name__ == "__main__":
    main()
