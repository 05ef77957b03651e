# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: flannel_lease
short_description: Give every node a flannel subnet lease in etcd, for overlays without flanneld
version_added: 0.1.0
description:
  - Allocates each node's subnet of the flannel overlay and records it in etcd as flanneld does
    (C(<prefix>/subnets/10.5.34.0-24)), so nodes that cannot run flanneld can be programmed with
    M(containerhost.platform.vxlan_overlay), and real flanneld nodes can join the same network later and see them.
  - Runs once for the fleet (C(run_once)). Reads the network configuration (C(<prefix>/config), written by
    M(containerhost.platform.flannel_network)) and every lease with one C(etcdctl get), keeps each node's existing
    lease (found by its public IP, as flanneld finds it), gives nodes without one the lowest free subnets, and
    writes only what is missing or different.
  - Writes the leases as reservations, keys without an etcd lease or TTL (flannel's Documentation/reservations.md),
    with flanneld's value format for the configured backend, for example
    C({"PublicIP":"10.0.0.11","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"0e:fc:0a:00:00:0b"}}).
    flanneld starting on such a node takes the reservation over as its own.
  - Keys with a TTL are leases of running flanneld daemons. They are never deleted or rewritten; a node whose lease
    a flanneld holds is reported with it, and their subnets are never handed to another node.
author:
  - containerhost.platform maintainers (@containerhost)
options:
  nodes:
    description:
      - The nodes of the overlay.
      - Names, public IPs and VTEP MACs must be unique.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: The node's name (its inventory name), the key of RV(leases).
        type: str
        required: true
      public_ip:
        description: The node's public IPv4 address, the lease's C(PublicIP) (flanneld's C(--public-ip)).
        type: str
        required: true
      vtep_mac:
        description:
          - The MAC address of the node's VXLAN device (C(BackendData.VtepMAC)), for the vxlan backend.
          - Defaults to a locally administered unicast address derived from O(nodes[].public_ip), C(0e:fc:) followed
            by its four octets in hex (C(0e:fc:0a:00:00:0b) for C(10.0.0.11)), which
            M(containerhost.platform.vxlan_overlay) derives the same way.
        type: str
  prefix:
    description: flanneld's etcd prefix (C(--etcd-prefix)); leases live under C(<prefix>/subnets/).
    type: str
    default: /coreos.com/network
  etcd_api:
    description:
      - The etcd API generation the flannel release reads (see M(containerhost.platform.flannel_network)). V(v3) for
        flannel 0.18.0 and later; V(v2) for older releases (etcd 3.4 or 3.5 started with C(--enable-v2=true)).
    type: str
    choices: [v3, v2]
    default: v3
  purge:
    description:
      - Delete reservations (leases without a TTL, as this module writes them) whose C(PublicIP) is not one of
        O(nodes), so a node removed from the inventory loses its lease and its peers drop it on their next run.
      - Leases with a TTL are never deleted. Reservations of listed nodes that are replaced (a duplicate, or a subnet
        the configuration no longer allows) are deleted either way.
    type: bool
    default: true
  state:
    description:
      - V(present) gives every node a lease.
      - V(absent) deletes the reservations of the listed nodes (the configuration is not needed).
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - containerhost.platform._attributes
  - containerhost.platform._etcd
attributes:
  check_mode:
    support: full
    details: Reads etcd and predicts the allocation, RV(added), RV(removed) and the diff exactly; writes nothing.
  diff_mode:
    support: full
    details: Shows every lease key and value under C(<prefix>/subnets/) before and after.
  idempotent:
    support: full
    details: A second run finds every node's lease in place and writes nothing.
  platform:
    support: full
    platforms: posix
    details: Needs C(etcdctl) (3.4 or later) where it runs; with O(etcd_api=v2), one that still has the v2 commands (3.4, 3.5).
notes:
  - Run it once for the fleet (C(run_once=true)), with every node in O(nodes); with O(purge) on, nodes left out
    lose their reservation.
  - Allocation follows flanneld's rules (subnets between C(SubnetMin) and C(SubnetMax), never the network's first
    one); a subnet freed in the same run goes to a new node only when no other subnet is free.
seealso:
  - module: containerhost.platform.flannel_network
  - module: containerhost.platform.vxlan_overlay
"""

EXAMPLES = r"""
- name: Leases for every node of the inventory group, written once
  containerhost.platform.flannel_lease:
    endpoints: [https://10.0.0.1:2379]
    ca_cert: /etc/etcd/pki/ca.crt
    client_cert: /etc/etcd/pki/client.crt
    client_key: /etc/etcd/pki/client.key
    nodes: >-
      {{ dict(groups['nodes'] | zip(groups['nodes'] | map('extract', hostvars, 'ansible_host')))
         | dict2items(key_name='name', value_name='public_ip') }}
  run_once: true
  register: overlay

- name: Give one node a fixed VTEP MAC and keep reservations of nodes not listed here
  containerhost.platform.flannel_lease:
    nodes:
      - {name: n1, public_ip: 10.0.0.21, vtep_mac: "0e:00:00:00:00:21"}
      - {name: n2, public_ip: 10.0.0.22}
    purge: false

- name: Release the reservations of two retired nodes
  containerhost.platform.flannel_lease:
    nodes:
      - {name: n7, public_ip: 10.0.0.27}
      - {name: n8, public_ip: 10.0.0.28}
    state: absent
"""

RETURN = r"""
leases:
  description:
    - Each node's lease after the task (predicted in check mode), by node name; empty with O(state=absent).
    - "Each value has: C(name); C(key), the lease's etcd key; C(subnet), the node's subnet; C(gateway), the subnet's
      network address, which flanneld's vxlan backend puts on the node's device as a C(/32) and which peers route
      the subnet through; C(public_ip); C(vtep_mac), the node's VTEP MAC (vxlan; V(null) for other backends);
      C(backend), the lease's backend type; C(reservation), V(true) for a key without TTL and V(false) when a running
      flanneld holds the node's lease."
  returned: always
  type: dict
  sample:
    h1:
      name: h1
      key: /coreos.com/network/subnets/10.5.1.0-24
      subnet: 10.5.1.0/24
      gateway: 10.5.1.0
      public_ip: 172.29.219.11
      vtep_mac: "0e:fc:ac:1d:db:0b"
      backend: vxlan
      reservation: true
peers:
  description:
    - Every readable lease under C(<prefix>/subnets/) after the task (the nodes' and those of other flanneld nodes),
      ordered by subnet, with the keys of RV(leases) (C(name) is V(null) for leases of no listed node). Pass it to
      M(containerhost.platform.vxlan_overlay)'s O(containerhost.platform.vxlan_overlay#module:peers).
  returned: always
  type: list
  elements: dict
network:
  description: The stored configuration as flanneld reads it, its defaults filled in (C(Backend.VNI), C(Backend.Port)...).
  returned: when O(state=present)
  type: dict
  sample: {"Network": "10.5.0.0/16", "SubnetLen": 24, "SubnetMin": "10.5.1.0", "SubnetMax": "10.5.255.0",
           "EnableIPv4": true, "EnableIPv6": false,
           "Backend": {"Type": "vxlan", "VNI": 1, "Port": 8472, "GBP": false, "Learning": false, "DirectRouting": false}}
added:
  description: The lease keys written for nodes that had none.
  returned: always
  type: list
  elements: str
  sample: [/coreos.com/network/subnets/10.5.3.0-24]
updated:
  description: Reservations rewritten because the node's lease now says something else (VTEP MAC, VNI, backend).
  returned: always
  type: list
  elements: str
  sample: []
removed:
  description: The reservations deleted.
  returned: always
  type: list
  elements: str
  sample: [/coreos.com/network/subnets/10.5.2.0-24]
etcd_api:
  description: The API generation used.
  returned: always
  type: str
  sample: v3
"""

import os
import typing as t

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.containerhost.platform.plugins.module_utils._etcdctl import (
    CONNECTION_OPTIONS,
    Connection,
    EtcdError,
    validate_connection,
)
from ansible_collections.containerhost.platform.plugins.module_utils._flannel import (
    DEFAULT_PREFIX,
    FlannelError,
    config_key,
)
from ansible_collections.containerhost.platform.plugins.module_utils._flannel_lease import (
    LeasePlan,
    LeaseStore,
    Node,
    after_state,
    network_of,
    nodes_from_params,
    plan_absent,
    plan_leases,
    render_state,
    subnets_prefix,
)

NODE_OPTIONS: dict[str, dict[str, t.Any]] = {
    "name": {"type": "str", "required": True},
    "public_ip": {"type": "str", "required": True},
    "vtep_mac": {"type": "str"},
}


class FlannelLease:
    """Validates, reads configuration and leases once, plans, writes unless in check mode."""

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.params = module.params
        self.prefix: str = self.params["prefix"]

    def validate(self) -> list[Node]:
        """Fail listing every problem with the options, before etcd is contacted; returns the nodes."""
        problems = validate_connection(self.params)
        for name in ("ca_cert", "client_cert", "client_key"):
            path = self.params[name]
            if path and not os.path.isfile(path):
                problems.append(f"{name}: {path} is not a file")
        if not self.prefix.strip():
            problems.append(f"prefix: must not be empty; accepted: flanneld's --etcd-prefix, e.g. {DEFAULT_PREFIX}")
        nodes, node_problems = nodes_from_params(self.params["nodes"])
        problems.extend(node_problems)
        if problems:
            self.module.fail_json(msg="; ".join(problems), errors=problems)
        return nodes

    def run(self) -> None:
        """Validate, read, plan, write unless in check mode, and exit."""
        nodes = self.validate()
        store = LeaseStore(self.module, Connection.from_params(self.params), self.params["etcd_api"],
                           self.params["executable"])
        network = None
        try:
            config_text, stored = store.read(self.prefix)
            if self.params["state"] == "present":
                network, config = network_of(config_text, config_key(self.prefix))
                plan = plan_leases(network, config, nodes, stored, self.prefix, self.params["purge"])
            else:
                plan = plan_absent(nodes, stored)
            if not self.module.check_mode:
                for key in plan.deletes:
                    store.delete(key)
                for key, value in plan.writes.items():
                    store.put(key, value)
        except EtcdError as exc:
            self.module.fail_json(msg=str(exc), etcd_api=self.params["etcd_api"], **exc.result())
        except FlannelError as exc:
            self.module.fail_json(msg=str(exc), etcd_api=self.params["etcd_api"])
        self.module.exit_json(**self.result(plan, stored, network))

    def result(self, plan: LeasePlan, stored: dict[str, t.Any], network: dict[str, t.Any] | None) -> dict[str, t.Any]:
        """The task's return values."""
        result: dict[str, t.Any] = {
            "changed": plan.changed, "leases": plan.leases, "peers": plan.peers, "added": plan.added,
            "updated": plan.updated, "removed": plan.deletes, "etcd_api": self.params["etcd_api"],
        }
        if network is not None:
            result["network"] = network
        if self.module._diff:
            header = subnets_prefix(self.prefix)
            result["diff"] = {"before_header": header, "after_header": header, "before": render_state(stored),
                              "after": render_state(after_state(stored, plan))}
        return result


def main() -> None:
    """Manage the subnet leases of nodes without flanneld."""
    module = AnsibleModule(
        argument_spec={
            "nodes": {"type": "list", "elements": "dict", "required": True, "options": NODE_OPTIONS},
            "prefix": {"type": "str", "default": DEFAULT_PREFIX},
            "etcd_api": {"type": "str", "choices": ["v3", "v2"], "default": "v3"},
            "purge": {"type": "bool", "default": True},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            **CONNECTION_OPTIONS,
        },
        supports_check_mode=True,
    )
    FlannelLease(module).run()


if __name__ == "__main__":
    main()
