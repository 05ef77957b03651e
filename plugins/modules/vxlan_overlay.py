# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: vxlan_overlay
short_description: Program flannel's vxlan data plane on a node without flanneld (device, routes, neighbours, FDB)
version_added: 0.1.0
description:
  - Sets up on this node what flanneld's vxlan backend sets up, for fleets that cannot run flanneld (the leases come
    from M(containerhost.platform.flannel_lease)); a VXLAN device (C(flannel.<VNI>) by default) without learning, with
    this node's public IP as local endpoint, the node's VTEP MAC, and C(<subnet network address>/32) as its address;
    and for every peer a route to the peer's subnet through the device with the peer's subnet address as an on-link
    gateway, a permanent neighbour entry mapping that gateway to the peer's VTEP MAC, and a permanent forwarding
    database entry sending that MAC to the peer's public IP.
  - Routes, permanent neighbour entries and FDB entries on the device that belong to no listed peer are removed, so a
    re-run after nodes left the inventory removes them everywhere. Neighbour entries the kernel learnt itself (not
    permanent) are left to expire.
  - Reads the state once (C(ip -j -d addr show), then C(ip -j route show dev), C(ip -j neigh show dev),
    C(bridge -j fdb show dev)), compares, and runs only the C(ip), C(bridge) and C(sysctl) commands that differ.
    Device settings C(ip link set) cannot change (VNI, port, local IP, underlay device, learning, GBP), or a link of
    another type with the device's name, make the module delete and recreate the device.
  - Enables IPv4 forwarding (C(net.ipv4.ip_forward)) in the node's network namespace, which the overlay needs to
    forward between the containers and the device, and turns off router advertisements on the device as flanneld
    does. The forwarding setting is live only; persist it with M(containerhost.platform.sysctl).
author:
  - containerhost.platform maintainers (@containerhost)
options:
  device:
    description: The VXLAN device's name. Defaults to flanneld's C(flannel.<vni>).
    type: str
  vni:
    description:
      - The VXLAN network identifier (flannel's C(Backend.VNI); C(network.Backend.VNI) in the result of
        M(containerhost.platform.flannel_lease)).
      - Required with O(state=present); with O(state=absent) it names the default device.
    type: int
  port:
    description:
      - The UDP port of the overlay (flannel's C(Backend.Port)). V(0) means the kernel's default, 8472, as in flanneld.
    type: int
    default: 8472
  local_ip:
    description: This node's public IPv4 address (its lease's C(PublicIP)); the device's local endpoint.
    type: str
  underlay_dev:
    description: The link carrying the overlay. Defaults to the link that holds O(local_ip).
    type: str
  vtep_mac:
    description:
      - The device's MAC address, as in this node's lease (C(BackendData.VtepMAC)).
      - Defaults to the address M(containerhost.platform.flannel_lease) derives from O(local_ip)
        (C(0e:fc:) followed by the four octets in hex).
    type: str
  mtu:
    description: The device's MTU. Defaults to the underlay link's MTU less the 50 bytes of VXLAN headers.
    type: int
  subnet:
    description:
      - This node's lease subnet, for example C(10.5.34.0/24). The device gets the subnet's network address as a
        C(/32), as flanneld gives it, so traffic from the node itself has an overlay source address.
    type: str
  peers:
    description:
      - The other nodes, each a dict with C(subnet), C(public_ip) and optionally C(vtep_mac) (default derived from
        C(public_ip) as for O(vtep_mac)) and C(name) (for messages). Other keys are ignored, so the values of
        RV(containerhost.platform.flannel_lease#module:leases) can be passed as they are.
      - The entry with this node's O(local_ip) is skipped; entries whose C(backend) is not V(vxlan) are skipped with
        a warning, as flanneld's vxlan backend skips such leases.
    type: list
    elements: dict
    default: []
  ip_forward:
    description: Enable C(net.ipv4.ip_forward) in the node's network namespace. V(false) leaves it as it is.
    type: bool
    default: true
  state:
    description: V(present) programs the overlay; V(absent) deletes the VXLAN device and with it every entry on it.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - containerhost.platform._attributes
attributes:
  check_mode:
    support: full
    details: Reads the kernel's state and returns the commands it would run; changes nothing.
  diff_mode:
    support: full
    details: Shows the device, its routes, permanent neighbour and FDB entries and the forwarding setting before and after.
  idempotent:
    support: full
    details: A second run finds every entry in place and runs no command.
  platform:
    support: full
    platforms: posix
    details: Linux with the vxlan kernel module and iproute2 with JSON output (C(ip -j), C(bridge -j); Debian 11 and later).
notes:
  - Run it on every node after M(containerhost.platform.flannel_lease) (which runs once for the fleet), with the
    leases it returned as O(peers).
  - Containers reach the overlay through a bridge or veth on the node that holds an address from O(subnet) (for
    example C(10.5.34.1/24) on C(cni0)); that part belongs to the container network, not to this module.
seealso:
  - module: containerhost.platform.flannel_lease
  - module: containerhost.platform.flannel_network
"""

EXAMPLES = r"""
- name: Subnet leases for the nodes of the inventory group (once for the fleet)
  containerhost.platform.flannel_lease:
    endpoints: [https://10.0.0.1:2379]
    nodes: >-
      {{ dict(groups['nodes'] | zip(groups['nodes'] | map('extract', hostvars, 'ansible_host')))
         | dict2items(key_name='name', value_name='public_ip') }}
  run_once: true
  register: overlay

- name: VXLAN device, routes, neighbour and FDB entries for every peer
  containerhost.platform.vxlan_overlay:
    vni: "{{ overlay.network.Backend.VNI }}"
    port: "{{ overlay.network.Backend.Port }}"
    local_ip: "{{ overlay.leases[inventory_hostname].public_ip }}"
    vtep_mac: "{{ overlay.leases[inventory_hostname].vtep_mac }}"
    subnet: "{{ overlay.leases[inventory_hostname].subnet }}"
    peers: "{{ overlay.peers }}"

- name: Remove the overlay from a node
  containerhost.platform.vxlan_overlay:
    vni: 1
    state: absent
"""

RETURN = r"""
device:
  description: The device after the task (as declared; predicted in check mode). V(null) with O(state=absent).
  returned: always
  type: dict
  contains:
    name:
      description: The device's name.
      type: str
      sample: flannel.1
    vni:
      description: The VXLAN network identifier.
      type: int
      sample: 1
    port:
      description: The UDP destination port.
      type: int
      sample: 8472
    local_ip:
      description: The local endpoint address.
      type: str
      sample: 172.29.219.11
    underlay_dev:
      description: The link the encapsulated packets leave through.
      type: str
      sample: eth0
    vtep_mac:
      description: The device's MAC address.
      type: str
      sample: 0e:fc:ac:1d:db:0b
    mtu:
      description: The device's MTU.
      type: int
      sample: 1450
    up:
      description: Whether the device is up.
      type: bool
      sample: true
    addresses:
      description: The device's IPv4 addresses.
      type: list
      elements: str
      sample: [10.5.1.0/32]
    learning:
      description: Whether the device learns remote MACs (never, as with flanneld).
      type: bool
      sample: false
    gbp:
      description: Whether Group Based Policy is on.
      type: bool
      sample: false
peers:
  description: The peers programmed on the device, ordered by subnet.
  returned: always
  type: list
  elements: dict
  sample:
    - {name: h3, subnet: 10.5.3.0/24, gateway: 10.5.3.0, public_ip: 172.29.219.13, vtep_mac: "0e:fc:ac:1d:db:0d"}
skipped_peers:
  description: Entries of O(peers) left out because their backend is not vxlan.
  returned: always
  type: list
  elements: dict
  sample: []
ops:
  description: The commands run (in check mode, the ones that would run), in order, each with what it does.
  returned: always
  type: list
  elements: dict
  sample:
    - {argv: [ip, route, del, 10.5.2.0/24, dev, flannel.1], what: remove route 10.5.2.0/24}
recreated:
  description: Why the device was deleted and created again (empty when it was not).
  returned: always
  type: list
  elements: str
  sample: ["vni 2 -> 1"]
ip_forward:
  description: C(net.ipv4.ip_forward) before and after the task (V(null) when the node has no such file).
  returned: always
  type: dict
  sample: {before: false, after: true}
"""

import typing as t

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.containerhost.platform.plugins.module_utils._vxlan import (
    DEFAULT_PORT,
    CommandError,
    IpRoute2,
    NetState,
    Op,
    Overlay,
    VxlanError,
    absent_plan,
    accept_ra_key,
    check_device_name,
    current_summary,
    default_device_name,
    desired_overlay,
    desired_summary,
    plan,
)

PROC_SYS_NET = "/proc/sys/net"


def read_sysctl(key: str) -> str | None:
    """A value below /proc/sys/net, None when the file does not exist (IPv6 off, no such device)."""
    try:
        with open(f"{PROC_SYS_NET}/{key}", encoding="ascii") as handle:
            return handle.read().strip()
    except OSError:
        return None


def _as_bool(value: str | None) -> bool | None:
    """A 0/1 sysctl value as a boolean."""
    return None if value is None else value != "0"


class VxlanOverlay:
    """Validates, reads the kernel's state once, plans, applies unless in check mode."""

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.runner = IpRoute2(module)
        self.ops: list[Op] = []
        self.applied: list[Op] = []

    def name(self) -> str:
        """The device's name from the options."""
        params = self.module.params
        if params["device"]:
            return params["device"]
        if params["vni"] is None:
            self.module.fail_json(msg="device or vni: give one; accepted: the device's name, or the VNI that names "
                                      "flannel.<vni>")
        return default_device_name(params["vni"])

    def sysctls(self, name: str) -> dict[str, str | None]:
        """The forwarding and router-advertisement settings the plan compares."""
        return {key: read_sysctl(key) for key in ("ipv4/ip_forward", accept_ra_key(name), accept_ra_key("default"))}

    def apply(self) -> None:
        """Run the plan, remembering what ran for a failure report."""
        for op in self.ops:
            self.runner.run(op.argv)
            self.applied.append(op)

    def present(self) -> dict[str, t.Any]:
        """Program the overlay."""
        links = self.runner.links()
        try:
            overlay, skipped = desired_overlay(self.module.params, links)
        except VxlanError as exc:
            self.module.fail_json(msg=str(exc))
        for entry in skipped:
            self.module.warn(f"peers: {entry['name'] or entry['subnet']} has backend {entry['backend']}; the vxlan "
                             "overlay ignores it, as flanneld does")
        name = overlay.device.name
        current = self.runner.read(name, links, self.sysctls(name))
        self.ops, recreated = plan(overlay, current)
        if self.ops and not self.module.check_mode:
            self.apply()
        return self.result(overlay, current, skipped, recreated)

    def absent(self) -> dict[str, t.Any]:
        """Delete the device (its entries go with it)."""
        name = self.name()
        try:
            check_device_name(name)
        except VxlanError as exc:
            self.module.fail_json(msg=str(exc))
        links = self.runner.links()
        current = self.runner.read(name, links, self.sysctls(name))
        if current.device is not None and current.kind != "vxlan":
            self.module.warn(f"{name} is a {current.kind or 'plain'} link, not a VXLAN device; left alone")
        self.ops = absent_plan(current, name)
        if self.ops and not self.module.check_mode:
            self.apply()
        forward = _as_bool(current.sysctls.get("ipv4/ip_forward"))
        result = self.common()
        result.update(device=None, peers=[], skipped_peers=[], recreated=[],
                      ip_forward={"before": forward, "after": forward})
        if self.module._diff:
            after = NetState(sysctls=current.sysctls) if self.ops else current
            result["diff"] = {"before_header": name, "after_header": name, "before": current_summary(current),
                              "after": current_summary(after)}
        return result

    def common(self) -> dict[str, t.Any]:
        """The return values every state has."""
        return {"changed": bool(self.ops), "ops": [{"argv": list(op.argv), "what": op.what} for op in self.ops]}

    def result(self, overlay: Overlay, current: NetState, skipped: list[dict[str, t.Any]],
               recreated: list[str]) -> dict[str, t.Any]:
        """The return values of state=present."""
        before = current.sysctls.get("ipv4/ip_forward")
        result = self.common()
        result.update(device=overlay.device.describe(), peers=[peer.describe() for peer in overlay.peers],
                      skipped_peers=skipped, recreated=recreated,
                      ip_forward={"before": _as_bool(before),
                                  "after": True if overlay.ip_forward else _as_bool(before)})
        if self.module._diff:
            name = overlay.device.name
            result["diff"] = {"before_header": name, "after_header": name, "before": current_summary(current),
                              "after": desired_summary(overlay, before)}
        return result

    def run(self) -> None:
        """Do what the state asks and exit."""
        try:
            result = self.present() if self.module.params["state"] == "present" else self.absent()
        except (CommandError, VxlanError) as exc:
            details = exc.result() if isinstance(exc, CommandError) else {}
            self.module.fail_json(msg=str(exc), applied=[list(op.argv) for op in self.applied], **details)
        self.module.exit_json(**result)


def main() -> None:
    """Program flannel's vxlan data plane."""
    module = AnsibleModule(
        argument_spec={
            "device": {"type": "str"},
            "vni": {"type": "int"},
            "port": {"type": "int", "default": DEFAULT_PORT},
            "local_ip": {"type": "str"},
            "underlay_dev": {"type": "str"},
            "vtep_mac": {"type": "str"},
            "mtu": {"type": "int"},
            "subnet": {"type": "str"},
            "peers": {"type": "list", "elements": "dict", "default": []},
            "ip_forward": {"type": "bool", "default": True},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
        },
        required_if=[("state", "present", ("vni", "local_ip", "subnet"))],
        supports_check_mode=True,
    )
    VxlanOverlay(module).run()


if __name__ == "__main__":
    main()
