# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Private to the collection: not a public API and may change without notice.

"""Subnet leases for nodes without flanneld, written as flannel reservations (pure planning and one etcd store).

A flanneld lease and a reservation differ only in the etcd TTL: flanneld attaches its leases to an etcd lease (v3)
or a key TTL (v2) and renews them; a key without one is a reservation that flanneld reuses for the node with that
PublicIP. This module writes reservations in exactly the value format flanneld writes, so flanneld can take over a
node later, and never touches keys with a TTL (they belong to running flanneld daemons).
"""

from __future__ import annotations

import base64
import ipaddress
import json
import typing as t

from dataclasses import dataclass, field

from ansible_collections.containerhost.platform.plugins.module_utils._etcdctl import EtcdError, Etcdctl
from ansible_collections.containerhost.platform.plugins.module_utils._flannel import (
    V2_ENVIRON,
    Backend,
    FlannelError,
    NetworkConfig,
    allocate_subnets,
    capacity_error,
    config_key,
    decode_config,
    go_path_join,
    layout,
    lease_key,
    parse_lease,
    parse_subnet_key,
    parse_v2_node,
    render_lease,
    v2_argv,
    v2_failure,
    v2_key_missing,
)
from ansible_collections.containerhost.platform.plugins.module_utils._vxlan import (
    VxlanError,
    normalize_mac,
    vtep_mac_for,
)

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from ansible.module_utils.basic import AnsibleModule

    from ansible_collections.containerhost.platform.plugins.module_utils._etcdctl import Connection

MISSING_CONFIG = "write it with containerhost.platform.flannel_network first"


@dataclass(frozen=True)
class Node:
    """A node that gets a lease: its name, public IPv4 address and (vxlan) VTEP MAC."""

    name: str
    public_ip: str
    vtep_mac: str | None = None

    @property
    def mac(self) -> str:
        """The VTEP MAC written in its lease (declared, or derived from the public IP)."""
        return self.vtep_mac or vtep_mac_for(self.public_ip)


@dataclass(frozen=True)
class StoredLease:
    """A key under ``<prefix>/subnets/`` as etcd holds it; ``ttl`` when an etcd lease or TTL is attached."""

    key: str
    value: str
    ttl: bool = False
    lease_id: int | None = None


@dataclass
class LeasePlan:
    """What to write and delete, and the leases after the task."""

    writes: dict[str, str] = field(default_factory=dict)
    deletes: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    leases: dict[str, dict[str, t.Any]] = field(default_factory=dict)
    peers: list[dict[str, t.Any]] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Whether anything is written or deleted."""
        return bool(self.writes or self.deletes)


def subnets_prefix(prefix: str) -> str:
    """The directory of the leases, with a trailing '/': ``<prefix>/subnets/``."""
    return go_path_join(prefix, "subnets") + "/"


def read_prefix(prefix: str) -> str:
    """The key prefix holding both the configuration and the leases (``<prefix>/``, '/' for the root)."""
    return go_path_join(prefix, "x")[:-1]


def _b64(text: str | None) -> str:
    """One base64 field of etcdctl's v3 JSON."""
    return base64.b64decode(text).decode("utf-8", errors="replace") if text else ""


def parse_v3_range(text: str) -> dict[str, StoredLease]:
    """``etcdctl get --prefix -w json``: every key with its value and whether an etcd lease (a TTL) is attached."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise FlannelError(f"could not read the JSON etcdctl printed: {exc}: {text[:200]!r}") from exc
    found = {}
    for kv in (data.get("kvs") if isinstance(data, dict) else None) or []:
        key = _b64(kv.get("key"))
        lease_id = int(kv.get("lease") or 0)
        found[key] = StoredLease(key=key, value=_b64(kv.get("value")), ttl=lease_id != 0, lease_id=lease_id or None)
    return found


def parse_v2_dir(text: str) -> dict[str, StoredLease]:
    """``etcdctl -o json ls <dir>`` (v2): the keys in the directory, with whether each has a TTL."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise FlannelError(f"could not read the JSON etcdctl (v2) printed: {exc}: {text[:200]!r}") from exc
    found: dict[str, StoredLease] = {}
    pending = [(data.get("node") if isinstance(data, dict) else None) or {}]
    while pending:
        node = pending.pop()
        if node.get("dir"):
            pending.extend(node.get("nodes") or [])
        elif node.get("key"):
            key = str(node["key"])
            found[key] = StoredLease(key=key, value=str(node.get("value", "")), ttl=bool(node.get("ttl")))
    return found


def lease_records(stored: Mapping[str, StoredLease], prefix: str) -> dict[str, StoredLease]:
    """The keys flanneld reads as leases (``<prefix>/subnets/<subnet key>``); anything else is never touched."""
    below = subnets_prefix(prefix)
    return {key: lease for key, lease in stored.items()
            if key.startswith(below) and "/" not in key[len(below):] and parse_subnet_key(key) is not None}


def nodes_from_params(entries: Sequence[Mapping[str, t.Any]]) -> tuple[list[Node], list[str]]:
    """The declared nodes, and every problem with them (names, addresses and MACs must be unique)."""
    nodes: list[Node] = []
    problems: list[str] = []
    seen: dict[str, dict[str, str]] = {"name": {}, "public_ip": {}, "vtep_mac": {}}
    for index, entry in enumerate(entries):
        where = f"nodes[{index}]"
        name = str(entry.get("name") or "")
        if not name:
            problems.append(f"{where}.name: missing; accepted: the node's inventory name")
            continue
        try:
            address = ipaddress.ip_address(entry.get("public_ip") or "")
        except ValueError:
            address = None
        if not isinstance(address, ipaddress.IPv4Address):
            problems.append(f"{where}.public_ip: {entry.get('public_ip')!r} is not an IPv4 address; accepted: the "
                            "node's public IPv4 address (flanneld's --public-ip)")
            continue
        mac = None
        if entry.get("vtep_mac"):
            try:
                mac = normalize_mac(entry["vtep_mac"], f"{where}.vtep_mac")
            except VxlanError as exc:
                problems.append(str(exc))
                continue
        node = Node(name=name, public_ip=str(address), vtep_mac=mac)
        for what, value in (("name", node.name), ("public_ip", node.public_ip), ("vtep_mac", node.mac)):
            if value in seen[what]:
                problems.append(f"nodes: {seen[what][value]} and {name} have the same {what} {value}; each node "
                                f"needs its own")
                if what == "public_ip" and mac is None:
                    # The derived MAC repeats too; one message is enough.
                    break
            seen[what][value] = name
        nodes.append(node)
    return nodes, problems


def network_of(text: str | None, key: str) -> tuple[dict[str, t.Any], NetworkConfig]:
    """The stored configuration decoded as flanneld reads it, and the IPv4 layout to allocate from."""
    if text is None:
        raise FlannelError(f"{key} does not exist: the overlay has no network configuration; {MISSING_CONFIG}")
    try:
        decoded = decode_config(text)
    except FlannelError as exc:
        raise FlannelError(f"{key} holds a configuration flanneld refuses ({exc}); {MISSING_CONFIG}") from exc
    if not decoded.get("EnableIPv4") or "Network" not in decoded:
        raise FlannelError(f"{key} has no IPv4 network; leases without flanneld are IPv4 only")
    kind = decoded["Backend"]["Type"]
    if kind not in ("vxlan", "host-gw", "udp"):
        raise FlannelError(f"{key} uses backend {kind!r}; accepted: vxlan, host-gw or udp leases")
    config = NetworkConfig(network=decoded["Network"], subnet_len=decoded["SubnetLen"],
                           subnet_min=decoded["SubnetMin"], subnet_max=decoded["SubnetMax"], backend=Backend(type=kind))
    return decoded, config


def _meaning(value: str) -> tuple[t.Any, ...] | None:
    """What flanneld reads from a lease value (None when it cannot read it)."""
    try:
        lease = parse_lease(value)
    except FlannelError:
        return None
    return lease["public_ip"], lease["public_ipv6"], lease["backend_type"], lease["vni"], lease["vtep_mac"]


def _owner(lease: StoredLease) -> str | None:
    """The public IP a stored lease belongs to."""
    try:
        return parse_lease(lease.value)["public_ip"]
    except FlannelError:
        return None


def describe(key: str, value: str, ttl: bool, name: str | None = None) -> dict[str, t.Any] | None:
    """A lease for the result (None when its value is unreadable): subnet, gateway, public IP, backend, VTEP MAC."""
    subnet = parse_subnet_key(key)
    try:
        lease = parse_lease(value)
    except FlannelError:
        return None
    if subnet is None or lease["public_ip"] is None:
        return None
    return {"name": name, "key": key, "subnet": str(subnet), "gateway": str(subnet.network_address),
            "public_ip": lease["public_ip"], "vtep_mac": lease["vtep_mac"],
            "backend": lease["backend_type"] or "udp", "reservation": not ttl}


def _free_subnets(config: NetworkConfig, taken: set[ipaddress.IPv4Network],
                  released: set[ipaddress.IPv4Network]) -> Iterable[ipaddress.IPv4Network]:
    """Free subnets, never-used ones first, then those released in this run."""
    plan = layout(config)
    for wanted_released in (False, True):
        for subnet in plan.subnets():
            if subnet not in taken and (subnet in released) == wanted_released:
                yield t.cast(ipaddress.IPv4Network, subnet)


def plan_leases(decoded: Mapping[str, t.Any], config: NetworkConfig, nodes: Sequence[Node],
                stored: Mapping[str, StoredLease], prefix: str, purge: bool = True) -> LeasePlan:
    """Leases for ``nodes`` under the stored configuration.

    ``allocate_subnets`` decides which existing lease each node keeps and which subnets new nodes get. Leases with
    a TTL are never deleted or rewritten, and with ``purge`` off neither are reservations of unlisted nodes; their
    subnets stay taken. A kept reservation whose value means something else than the node's lease now (another MAC,
    VNI or backend) is rewritten.
    """
    backend = decoded["Backend"]
    kind = backend["Type"]
    keep, add, remove = allocate_subnets(config, {node.name: node.public_ip for node in nodes},
                                         {key: lease.value for key, lease in stored.items()}, prefix)
    node_ips = {node.public_ip for node in nodes}
    protected = {key for key in remove if stored[key].ttl or (not purge and _owner(stored[key]) not in node_ips)}
    result = LeasePlan(deletes=[key for key in remove if key not in protected])
    taken = {t.cast(ipaddress.IPv4Network, parse_subnet_key(key)) for key in [*keep.values(), *protected]}
    released = {t.cast(ipaddress.IPv4Network, parse_subnet_key(key)) for key in result.deletes}
    for name in sorted(add):
        subnet = t.cast(ipaddress.IPv4Network, parse_subnet_key(add[name]))
        if subnet in taken:
            # allocate_subnets handed out a subnet a protected lease still holds (only when nothing else was free).
            subnet = next(iter(_free_subnets(config, taken, released)), None)
            if subnet is None:
                raise FlannelError(capacity_error(layout(config), len(nodes) + len(protected), "nodes")
                                   or "nodes: no free subnet left")
            add[name] = lease_key(prefix, subnet)
        taken.add(subnet)
    for node in sorted(nodes, key=lambda node: node.name):
        mac = node.mac if kind == "vxlan" else None
        wanted = render_lease(node.public_ip, kind, mac, backend.get("VNI", 1))
        key = keep.get(node.name) or add[node.name]
        # A subnet released in this run and handed out again is a new lease (deleted, then written).
        lease = None if key in result.deletes else stored.get(key)
        if lease is None:
            result.writes[key] = wanted
            result.added.append(key)
            value, ttl = wanted, False
        elif lease.ttl:
            # A running flanneld holds it: it is reported as it is, never rewritten.
            value, ttl = lease.value, True
        else:
            if _meaning(lease.value) != _meaning(wanted):
                result.writes[key] = wanted
                result.updated.append(key)
            value, ttl = result.writes.get(key, lease.value), False
        result.leases[node.name] = t.cast(dict, describe(key, value, ttl, node.name))
    names = {info["key"]: name for name, info in result.leases.items()}
    for key in sorted(set(stored) - set(result.deletes) | set(result.writes), key=_subnet_order):
        if key in names:
            result.peers.append(result.leases[names[key]])
        else:
            info = describe(key, stored[key].value, stored[key].ttl)
            if info is not None:
                result.peers.append(info)
    return result


def plan_absent(nodes: Sequence[Node], stored: Mapping[str, StoredLease]) -> LeasePlan:
    """Delete the reservations of the listed nodes (leases with a TTL are left to their flanneld)."""
    node_ips = {node.public_ip for node in nodes}
    result = LeasePlan(deletes=sorted((key for key, lease in stored.items()
                                       if not lease.ttl and _owner(lease) in node_ips), key=_subnet_order))
    for key in sorted(set(stored) - set(result.deletes), key=_subnet_order):
        info = describe(key, stored[key].value, stored[key].ttl)
        if info is not None:
            result.peers.append(info)
    return result


def _subnet_order(key: str) -> tuple[int, str]:
    """Leases ordered by their subnet's address."""
    subnet = parse_subnet_key(key)
    return (int(subnet.network_address) if subnet else -1, key)


def render_state(stored: Mapping[str, StoredLease]) -> str:
    """The leases as text lines for --diff (keys with a TTL marked)."""
    return "".join(f"{key} {stored[key].value}{'  # TTL: held by flanneld' if stored[key].ttl else ''}\n"
                   for key in sorted(stored, key=_subnet_order))


def after_state(stored: Mapping[str, StoredLease], plan: LeasePlan) -> dict[str, StoredLease]:
    """The leases after applying a plan."""
    after = {key: lease for key, lease in stored.items() if key not in plan.deletes}
    for key, value in plan.writes.items():
        after[key] = StoredLease(key=key, value=value)
    return after


class LeaseStore:
    """Reads the configuration and leases and writes reservations through etcdctl (v3, or v2 for old flannel)."""

    def __init__(self, module: AnsibleModule, connection: Connection, api: str, binary: str = "etcdctl") -> None:
        self.module = module
        self.connection = connection
        self.api = api
        self.etcdctl = Etcdctl(module, connection, binary)

    def _v2(self, args: list[str], data: str | None = None, missing_ok: bool = False) -> str | None:
        """Run etcdctl with the v2 API; None for a missing key when ``missing_ok``."""
        argv = v2_argv(self.etcdctl.binary, self.connection, args)
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

    def read(self, prefix: str) -> tuple[str | None, dict[str, StoredLease]]:
        """The configuration text (None when missing) and every lease key with its TTL state."""
        key = config_key(prefix)
        if self.api == "v2":
            out = self._v2(["get", "--", key], missing_ok=True)
            config = None if out is None else parse_v2_node(out)["value"]
            listing = self._v2(["ls", "--", subnets_prefix(prefix).rstrip("/")], missing_ok=True)
            return config, lease_records(parse_v2_dir(listing) if listing else {}, prefix)
        found = parse_v3_range(self.etcdctl.run(["get", "--prefix", "--", read_prefix(prefix)]))
        config_entry = found.get(key)
        return (None if config_entry is None else config_entry.value), lease_records(found, prefix)

    def put(self, key: str, value: str) -> None:
        """Write a reservation (no etcd lease, no TTL)."""
        if self.api == "v2":
            self._v2(["set", "--", key], data=value)
        else:
            self.etcdctl.put(key, value)

    def delete(self, key: str) -> None:
        """Delete a reservation."""
        if self.api == "v2":
            self._v2(["rm", "--", key], missing_ok=True)
        else:
            self.etcdctl.delete(key)
