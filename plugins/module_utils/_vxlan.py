# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Private to the collection: not a public API and may change without notice.

"""The kernel data plane of flannel's vxlan backend, programmed without flanneld (pure functions and one runner).

flanneld's vxlan backend creates one VXLAN device per node (``flannel.<VNI>``: no learning, the node's address as
the local endpoint, ``<subnet network address>/32`` on it) and, for every remote lease, three entries: a route to
the peer's subnet through the device with the peer's subnet address as an on-link gateway, a permanent neighbour
entry mapping that gateway to the peer's VTEP MAC, and a permanent forwarding-database entry sending that MAC to the
peer's public IP. This module reads the same state from ``ip -j`` / ``bridge -j``, compares it with the declared
peers and plans the ``ip``/``bridge``/``sysctl`` commands that make it so.
"""

from __future__ import annotations

import ipaddress
import json
import re
import typing as t

from dataclasses import dataclass, field

if t.TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from ansible.module_utils.basic import AnsibleModule

DEFAULT_PORT = 8472
# IPv4 + UDP + VXLAN + inner Ethernet headers: the overlay MTU is the underlay's less this.
ENCAP_OVERHEAD = 50
VNI_MAX = (1 << 24) - 1
IFNAME_MAX = 15
IPV4_MIN_MTU = 68
_MAC = re.compile(r"^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$")
_IFNAME = re.compile(r"^[^/\s:]+$")
_ENVIRON = {"LANG": "C", "LC_ALL": "C", "LC_MESSAGES": "C"}


class VxlanError(ValueError):
    """Input this module cannot use, or output of ip/bridge it cannot read."""


class CommandError(Exception):
    """A command failed; carries what fail_json needs."""

    def __init__(self, msg: str, argv: Sequence[str], rc: int, stdout: str, stderr: str) -> None:
        super().__init__(msg)
        self.argv = list(argv)
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr

    def result(self) -> dict[str, t.Any]:
        """The failure as keyword arguments for fail_json."""
        return {"cmd": self.argv, "rc": self.rc, "stdout": self.stdout, "stderr": self.stderr}


def vtep_mac_for(public_ip: str) -> str:
    """A node's default VTEP MAC: locally administered unicast ``0e:fc:`` followed by its IPv4 address in hex."""
    try:
        address = ipaddress.IPv4Address(public_ip)
    except ValueError as exc:
        raise VxlanError(f"public_ip: {public_ip!r} is not an IPv4 address") from exc
    return "0e:fc:" + ":".join(f"{octet:02x}" for octet in address.packed)


def normalize_mac(text: t.Any, name: str) -> str:
    """A unicast MAC address in lower case with colons, or VxlanError naming the field."""
    mac = text.lower().replace("-", ":") if isinstance(text, str) else ""
    if not _MAC.match(mac):
        raise VxlanError(f"{name}: {text!r} is not a MAC address; accepted: six hex pairs such as 0e:fc:0a:00:00:01")
    if int(mac[:2], 16) & 1:
        raise VxlanError(f"{name}: {text} is a multicast MAC address; accepted: a unicast one (even first octet)")
    return mac


@dataclass(frozen=True)
class Peer:
    """A remote node as its lease describes it."""

    subnet: ipaddress.IPv4Network
    public_ip: ipaddress.IPv4Address
    vtep_mac: str
    name: str | None = None

    @property
    def gateway(self) -> ipaddress.IPv4Address:
        """The on-link next hop flannel routes the peer's subnet through (the subnet's network address)."""
        return self.subnet.network_address

    def describe(self) -> dict[str, t.Any]:
        """The peer for the module's result."""
        return {"name": self.name, "subnet": str(self.subnet), "gateway": str(self.gateway),
                "public_ip": str(self.public_ip), "vtep_mac": self.vtep_mac}


@dataclass(frozen=True)
class Device:
    """A VXLAN device's attributes (desired, or read from the kernel)."""

    name: str
    vni: int | None
    port: int | None
    local_ip: str | None
    underlay: str | None
    mac: str
    mtu: int
    up: bool
    addresses: tuple[str, ...] = ()
    learning: bool = False
    gbp: bool = False

    def describe(self) -> dict[str, t.Any]:
        """The device for the module's result."""
        return {"name": self.name, "vni": self.vni, "port": self.port, "local_ip": self.local_ip,
                "underlay_dev": self.underlay, "vtep_mac": self.mac, "mtu": self.mtu, "up": self.up,
                "addresses": list(self.addresses), "learning": self.learning, "gbp": self.gbp}


@dataclass(frozen=True)
class Route:
    """A route through the device (``ip -j route show dev``)."""

    dst: str
    gateway: str | None = None
    onlink: bool = False
    protocol: str | None = None


@dataclass(frozen=True)
class Neighbour:
    """A neighbour entry of the device (``ip -j neigh show dev``)."""

    dst: str
    lladdr: str | None
    states: tuple[str, ...]

    @property
    def permanent(self) -> bool:
        """Entries someone programmed (flanneld, this module), as opposed to ones the kernel learnt."""
        return "PERMANENT" in self.states


@dataclass(frozen=True)
class FdbEntry:
    """A forwarding-database entry of the device (``bridge -j fdb show dev``)."""

    mac: str
    dst: str | None
    self_entry: bool
    state: str

    @property
    def permanent(self) -> bool:
        """Whether the entry is static."""
        return self.state == "permanent"


@dataclass
class NetState:
    """What the kernel has for the overlay: the device (or a foreign link of that name) and its entries."""

    device: Device | None = None
    kind: str | None = None
    routes: list[Route] = field(default_factory=list)
    neighbours: list[Neighbour] = field(default_factory=list)
    fdb: list[FdbEntry] = field(default_factory=list)
    sysctls: dict[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Overlay:
    """The declared overlay on this node."""

    device: Device
    peers: tuple[Peer, ...]
    ip_forward: bool = True


@dataclass(frozen=True)
class Op:
    """One command of a plan: argv (first element a tool name: ip, bridge, sysctl) and what it does."""

    argv: tuple[str, ...]
    what: str


def _load_list(text: str, what: str) -> list[t.Any]:
    """The JSON array iproute2 prints with -j (an empty output is an empty list)."""
    if not text.strip():
        return []
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise VxlanError(f"could not read the JSON {what} printed: {exc}: {text[:200]!r}") from exc
    if not isinstance(data, list):
        raise VxlanError(f"{what} printed {type(data).__name__}, not a JSON array: {text[:200]!r}")
    return [item for item in data if isinstance(item, dict)]


def parse_links(text: str) -> list[dict[str, t.Any]]:
    """``ip -j -d addr show``: every link with its details and addresses."""
    return _load_list(text, "ip -j -d addr show")


def _inet_addresses(link: Mapping[str, t.Any]) -> tuple[str, ...]:
    """The IPv4 addresses on a link as ``address/prefix``, sorted."""
    return tuple(sorted(f"{info['local']}/{info['prefixlen']}" for info in link.get("addr_info") or []
                        if info.get("family") == "inet" and "local" in info and "prefixlen" in info))


def find_link(links: Sequence[Mapping[str, t.Any]], name: str) -> Mapping[str, t.Any] | None:
    """The link called ``name``."""
    return next((link for link in links if link.get("ifname") == name), None)


def link_kind(link: Mapping[str, t.Any]) -> str:
    """The link's type (``vxlan``, ``veth``, ...; ``""`` for plain devices)."""
    return str((link.get("linkinfo") or {}).get("info_kind") or "")


def device_from_link(link: Mapping[str, t.Any]) -> Device:
    """A link's attributes as a Device (VXLAN settings empty for other kinds)."""
    data = (link.get("linkinfo") or {}).get("info_data") or {} if link_kind(link) == "vxlan" else {}
    return Device(
        name=str(link.get("ifname", "")), vni=data.get("id"), port=data.get("port"), local_ip=data.get("local"),
        underlay=data.get("link"), mac=str(link.get("address", "")).lower(), mtu=int(link.get("mtu", 0)),
        up="UP" in (link.get("flags") or []), addresses=_inet_addresses(link),
        learning=bool(data.get("learning", False)), gbp=bool(data.get("gbp", False)))


def underlay_of(links: Sequence[Mapping[str, t.Any]], address: str) -> Mapping[str, t.Any] | None:
    """The link holding an IPv4 address (the interface flanneld would pick for that public IP)."""
    for link in links:
        for info in link.get("addr_info") or []:
            if info.get("family") == "inet" and info.get("local") == address:
                return link
    return None


def parse_routes(text: str) -> list[Route]:
    """``ip -j route show dev <dev>`` as Routes."""
    return [Route(dst=str(item.get("dst", "")), gateway=item.get("gateway"),
                  onlink="onlink" in (item.get("flags") or []), protocol=item.get("protocol"))
            for item in _load_list(text, "ip -j route show")]


def parse_neighbours(text: str) -> list[Neighbour]:
    """``ip -j neigh show dev <dev>`` as Neighbours."""
    return [Neighbour(dst=str(item.get("dst", "")), lladdr=(item.get("lladdr") or None) and item["lladdr"].lower(),
                      states=tuple(item.get("state") or ()))
            for item in _load_list(text, "ip -j neigh show")]


def parse_fdb(text: str) -> list[FdbEntry]:
    """``bridge -j fdb show dev <dev>`` as FdbEntries."""
    return [FdbEntry(mac=str(item.get("mac", "")).lower(), dst=item.get("dst"),
                     self_entry="self" in (item.get("flags") or []), state=str(item.get("state", "")))
            for item in _load_list(text, "bridge -j fdb show")]


def _ipv4(text: t.Any, name: str) -> ipaddress.IPv4Address:
    """An IPv4 address, or VxlanError naming the field."""
    try:
        return ipaddress.IPv4Address(text)
    except ValueError as exc:
        raise VxlanError(f"{name}: {text!r} is not an IPv4 address") from exc


def _subnet(text: t.Any, name: str) -> ipaddress.IPv4Network:
    """An IPv4 subnet in CIDR form with its host bits clear, or VxlanError naming the field."""
    try:
        network = ipaddress.IPv4Network(text) if isinstance(text, str) and "/" in text else None
    except ValueError:
        network = None
    if network is None:
        raise VxlanError(f"{name}: {text!r} is not an IPv4 subnet with its host bits clear; accepted: a lease "
                         "subnet such as 10.5.34.0/24")
    if network.prefixlen > 31:
        raise VxlanError(f"{name}: {text} is too small; accepted: a lease subnet of /31 or larger")
    return network


def default_device_name(vni: int) -> str:
    """flanneld's device name for a VNI."""
    return f"flannel.{vni}"


def check_device_name(name: str) -> None:
    """Raise VxlanError unless the kernel accepts ``name`` as an interface name."""
    if not name or len(name) > IFNAME_MAX or not _IFNAME.match(name) or name in (".", ".."):
        raise VxlanError(f"device: {name!r} is not a usable interface name; accepted: 1 to {IFNAME_MAX} characters "
                         "without '/', ':' or spaces (flannel.<VNI> for VNIs up to 7 digits)")


def parse_peers(entries: Sequence[Mapping[str, t.Any]], local_ip: ipaddress.IPv4Address,
                own_subnet: ipaddress.IPv4Network, own_mac: str) -> tuple[list[Peer], list[dict[str, t.Any]]]:
    """The declared peers (this node's own entry dropped) and the entries skipped for another backend.

    Every problem is collected and raised together: missing or malformed fields, two peers with the same subnet,
    public IP or MAC, subnets that overlap each other or this node's.
    """
    peers: list[Peer] = []
    skipped: list[dict[str, t.Any]] = []
    problems: list[str] = []
    for index, entry in enumerate(entries):
        where = f"peers[{index}]"
        if not isinstance(entry, dict):
            problems.append(f"{where}: {entry!r} is not a dict; accepted: subnet, public_ip and vtep_mac keys")
            continue
        backend = entry.get("backend")
        if backend not in (None, "vxlan"):
            # flanneld's vxlan backend ignores leases of other backends the same way.
            skipped.append({"name": entry.get("name"), "subnet": entry.get("subnet"), "backend": backend})
            continue
        try:
            for required in ("subnet", "public_ip"):
                if not entry.get(required):
                    raise VxlanError(f"{where}.{required}: missing")
            subnet = _subnet(entry["subnet"], f"{where}.subnet")
            public_ip = _ipv4(entry["public_ip"], f"{where}.public_ip")
            mac = normalize_mac(entry["vtep_mac"], f"{where}.vtep_mac") if entry.get("vtep_mac") else \
                vtep_mac_for(str(public_ip))
        except VxlanError as exc:
            problems.append(str(exc))
            continue
        if public_ip == local_ip:
            if subnet != own_subnet:
                problems.append(f"{where}: this node's own entry (public_ip {public_ip}) has subnet {subnet} but "
                                f"subnet is {own_subnet}; accepted: the same lease")
            continue
        name = entry.get("name")
        peers.append(Peer(subnet=subnet, public_ip=public_ip, vtep_mac=mac, name=None if name is None else str(name)))
    peers.sort(key=lambda peer: (int(peer.subnet.network_address), peer.subnet.prefixlen))
    seen: dict[str, dict[t.Any, Peer]] = {"public_ip": {}, "vtep_mac": {}}
    previous: Peer | None = None
    for peer in peers:
        label = _label(peer)
        if peer.subnet.overlaps(own_subnet):
            problems.append(f"peers: {label}'s subnet {peer.subnet} overlaps this node's subnet {own_subnet}")
        if peer.vtep_mac == own_mac:
            problems.append(f"peers: {label}'s vtep_mac {peer.vtep_mac} is this node's own vtep_mac")
        for what, value in (("public_ip", peer.public_ip), ("vtep_mac", peer.vtep_mac)):
            other = seen[what].get(value)
            if other is not None:
                problems.append(f"peers: {_label(other)} and {label} have the same {what} {value}")
            seen[what][value] = peer
        # Sorted by address, a subnet can only overlap the one before it (or be equal to it).
        if previous is not None and previous.subnet.overlaps(peer.subnet):
            relation = "the same subnet" if previous.subnet == peer.subnet else "overlapping subnets"
            problems.append(f"peers: {_label(previous)} ({previous.subnet}) and {label} ({peer.subnet}) have "
                            f"{relation}")
        if previous is None or peer.subnet.broadcast_address > previous.subnet.broadcast_address:
            previous = peer
    if problems:
        raise VxlanError("; ".join(dict.fromkeys(problems)))
    return peers, skipped


def _label(peer: Peer) -> str:
    """How messages name a peer."""
    return peer.name or str(peer.public_ip)


def desired_overlay(params: Mapping[str, t.Any], links: Sequence[Mapping[str, t.Any]],
                    ) -> tuple[Overlay, list[dict[str, t.Any]]]:
    """The declared overlay from module parameters and this node's links; VxlanError lists every problem.

    The underlay is O(underlay_dev) or the link holding O(local_ip); the MTU defaults to the underlay's less the
    VXLAN overhead, as flanneld leaves it to the kernel.
    """
    problems: list[str] = []
    vni = params["vni"]
    if vni is None or not 0 <= vni <= VNI_MAX:
        problems.append(f"vni: {vni} is out of range; accepted: 0 to {VNI_MAX} (24 bits)")
    # 0 leaves the port to the kernel in flanneld, which means 8472.
    port = params.get("port") or DEFAULT_PORT
    if not 1 <= port <= 65535:
        problems.append(f"port: {port} is out of range; accepted: 1 to 65535")
    name = params.get("device") or default_device_name(vni if vni is not None else 0)
    local_ip = subnet = mac = None
    try:
        check_device_name(name)
    except VxlanError as exc:
        problems.append(str(exc))
    try:
        local_ip = _ipv4(params.get("local_ip"), "local_ip")
    except VxlanError as exc:
        problems.append(str(exc))
    try:
        subnet = _subnet(params.get("subnet"), "subnet")
    except VxlanError as exc:
        problems.append(str(exc))
    try:
        given_mac = params.get("vtep_mac")
        mac = normalize_mac(given_mac, "vtep_mac") if given_mac else (
            vtep_mac_for(str(local_ip)) if local_ip is not None else None)
    except VxlanError as exc:
        problems.append(str(exc))
    underlay_name = params.get("underlay_dev")
    underlay = None
    if underlay_name:
        underlay = find_link(links, underlay_name)
        if underlay is None:
            problems.append(f"underlay_dev: {underlay_name} does not exist on this host")
    elif local_ip is not None:
        underlay = underlay_of(links, str(local_ip))
        if underlay is None:
            problems.append(f"local_ip: {local_ip} is not an address of any interface on this host; accepted: this "
                            "node's public IPv4 address, or name the interface in underlay_dev")
    if underlay is not None and underlay.get("ifname") == name:
        problems.append(f"underlay_dev: {name} is the overlay device itself; accepted: the link carrying the overlay")
        underlay = None
    mtu = params.get("mtu")
    if underlay is not None:
        room = int(underlay.get("mtu", 0)) - ENCAP_OVERHEAD
        if mtu is None:
            mtu = room
        if not IPV4_MIN_MTU <= mtu <= room:
            problems.append(f"mtu: {mtu} does not fit: {underlay.get('ifname')} has MTU {underlay.get('mtu')}, less "
                            f"{ENCAP_OVERHEAD} bytes of VXLAN headers leaves {room}; accepted: {IPV4_MIN_MTU} to "
                            f"{room}")
    peers: list[Peer] = []
    skipped: list[dict[str, t.Any]] = []
    if local_ip is not None and subnet is not None and mac is not None:
        try:
            peers, skipped = parse_peers(params.get("peers") or [], local_ip, subnet, mac)
        except VxlanError as exc:
            problems.append(str(exc))
    if problems:
        raise VxlanError("; ".join(problems))
    device = Device(name=name, vni=vni, port=port, local_ip=str(local_ip), underlay=str(underlay["ifname"]),
                    mac=t.cast(str, mac), mtu=t.cast(int, mtu), up=True,
                    addresses=(f"{t.cast(ipaddress.IPv4Network, subnet).network_address}/32",))
    return Overlay(device=device, peers=tuple(peers), ip_forward=bool(params.get("ip_forward", True))), skipped


def incompatible(current: Device, wanted: Device) -> list[str]:
    """Why an existing VXLAN device cannot be changed in place (``ip link set`` cannot change these)."""
    reasons = []
    for attribute in ("vni", "port", "local_ip", "underlay", "learning", "gbp"):
        have, want = getattr(current, attribute), getattr(wanted, attribute)
        if have != want:
            reasons.append(f"{attribute} {have} -> {want}")
    return reasons


def _sysctl_name(*parts: str) -> str:
    """A sysctl name for ``sysctl -w``: dots inside a component (an interface name) written as '/'."""
    return ".".join(part.replace(".", "/") for part in parts)


def accept_ra_key(device: str) -> str:
    """The sysctls key (and /proc/sys path below net/) of the device's accept_ra setting."""
    return f"ipv6/conf/{device}/accept_ra"


def plan(overlay: Overlay, current: NetState) -> tuple[list[Op], list[str]]:
    """The commands that turn ``current`` into ``overlay``, and why the device is recreated (if it is).

    ``current.sysctls`` holds ``ipv4/ip_forward``, ``ipv6/conf/<dev>/accept_ra`` and ``ipv6/conf/default/accept_ra``
    (None when the file does not exist). Order: the device first; stale routes, then neighbour and FDB entries;
    then per peer the neighbour entry, the FDB entry and the route last, as flanneld does (the kernel would
    otherwise try to resolve the gateway itself).
    """
    wanted = overlay.device
    dev = wanted.name
    ops: list[Op] = []
    recreate: list[str] = []
    have = current.device
    if have is not None and current.kind != "vxlan":
        recreate = [f"{dev} is a {current.kind or 'plain'} link, not vxlan"]
    elif have is not None:
        recreate = incompatible(have, wanted)
    fresh = have is None or bool(recreate)
    if recreate:
        ops.append(Op(("ip", "link", "del", "dev", dev), f"delete {dev} ({'; '.join(recreate)})"))
    if fresh:
        ops.append(Op(("ip", "link", "add", dev, "address", wanted.mac, "mtu", str(wanted.mtu), "type", "vxlan",
                       "id", str(wanted.vni), "local", str(wanted.local_ip), "dev", str(wanted.underlay),
                       "dstport", str(wanted.port), "nolearning"),
                      f"create {dev} (vxlan id {wanted.vni}, dstport {wanted.port}, local {wanted.local_ip})"))
        routes: list[Route] = []
        neighbours: list[Neighbour] = []
        fdb: list[FdbEntry] = []
        addresses: tuple[str, ...] = ()
        is_up = False
    else:
        have = t.cast(Device, have)
        if have.mac != wanted.mac:
            ops.append(Op(("ip", "link", "set", "dev", dev, "address", wanted.mac), f"set {dev} MAC {wanted.mac}"))
        if have.mtu != wanted.mtu:
            ops.append(Op(("ip", "link", "set", "dev", dev, "mtu", str(wanted.mtu)), f"set {dev} MTU {wanted.mtu}"))
        routes, neighbours, fdb = current.routes, current.neighbours, current.fdb
        addresses, is_up = have.addresses, have.up
    for address in addresses:
        if address not in wanted.addresses:
            ops.append(Op(("ip", "addr", "del", address, "dev", dev), f"remove address {address} from {dev}"))
    for address in wanted.addresses:
        if address not in addresses:
            ops.append(Op(("ip", "addr", "add", address, "dev", dev), f"add address {address} to {dev}"))
    if not is_up:
        ops.append(Op(("ip", "link", "set", "dev", dev, "up"), f"bring {dev} up"))
    accept_ra = current.sysctls.get(accept_ra_key("default" if fresh else dev))
    if accept_ra is not None and accept_ra.strip() != "0":
        ops.append(Op(("sysctl", "-w", f"{_sysctl_name('net', 'ipv6', 'conf', dev, 'accept_ra')}=0"),
                      f"stop accepting router advertisements on {dev}"))
    ops.extend(_entry_ops(overlay, routes, neighbours, fdb))
    if overlay.ip_forward and (current.sysctls.get("ipv4/ip_forward") or "").strip() != "1":
        ops.append(Op(("sysctl", "-w", "net.ipv4.ip_forward=1"), "enable IPv4 forwarding"))
    return ops, recreate


def _is_ipv4(text: str) -> bool:
    """Whether text is an IPv4 address."""
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def _entry_ops(overlay: Overlay, routes: Sequence[Route], neighbours: Sequence[Neighbour],
               fdb: Sequence[FdbEntry]) -> list[Op]:
    """Removals of stale entries, then the peers' neighbour, FDB and route entries where missing or different."""
    dev = overlay.device.name
    wanted_routes = {str(peer.subnet): peer for peer in overlay.peers}
    wanted_neigh = {str(peer.gateway): peer for peer in overlay.peers}
    wanted_fdb = {peer.vtep_mac: peer for peer in overlay.peers}
    removals: list[Op] = []
    for route in routes:
        if route.protocol != "kernel" and route.dst not in wanted_routes:
            removals.append(Op(("ip", "route", "del", route.dst, "dev", dev), f"remove route {route.dst}"))
    for neighbour in neighbours:
        if neighbour.permanent and _is_ipv4(neighbour.dst) and neighbour.dst not in wanted_neigh:
            removals.append(Op(("ip", "neigh", "del", neighbour.dst, "dev", dev),
                               f"remove neighbour {neighbour.dst}"))
    for entry in fdb:
        if not entry.self_entry:
            continue
        peer = wanted_fdb.get(entry.mac)
        if peer is not None and entry.dst == str(peer.public_ip):
            continue
        argv = ("bridge", "fdb", "del", entry.mac, "dev", dev, *(("dst", entry.dst) if entry.dst else ()), "self")
        removals.append(Op(argv, f"remove FDB entry {entry.mac}" + (f" -> {entry.dst}" if entry.dst else "")))
    additions: list[Op] = []
    for peer in overlay.peers:
        label = peer.name or str(peer.public_ip)
        gateway, mac, public_ip, subnet = str(peer.gateway), peer.vtep_mac, str(peer.public_ip), str(peer.subnet)
        if not any(n.dst == gateway and n.lladdr == mac and n.permanent for n in neighbours):
            additions.append(Op(("ip", "neigh", "replace", gateway, "lladdr", mac, "dev", dev, "nud", "permanent"),
                                f"{label}: neighbour {gateway} -> {mac}"))
        if not any(e.self_entry and e.mac == mac and e.dst == public_ip and e.permanent for e in fdb):
            additions.append(Op(("bridge", "fdb", "replace", mac, "dev", dev, "dst", public_ip, "self", "permanent"),
                                f"{label}: FDB {mac} -> {public_ip}"))
        if not any(r.dst == subnet and r.gateway == gateway and r.onlink for r in routes):
            additions.append(Op(("ip", "route", "replace", subnet, "via", gateway, "dev", dev, "onlink"),
                                f"{label}: route {subnet} via {gateway}"))
    return removals + additions


def summary(device: Device | None, routes: Sequence[Route], neighbours: Sequence[Neighbour],
            fdb: Sequence[FdbEntry], ip_forward: str | None, kind: str = "vxlan") -> str:
    """The managed state as text lines for --diff (routes, permanent neighbours, FDB entries of the device)."""
    lines = []
    if device is None:
        lines.append("device: absent")
    elif kind != "vxlan":
        lines.append(f"device {device.name}: {kind or 'plain'} link")
    else:
        lines.append(f"device {device.name}: vxlan id {device.vni} local {device.local_ip} dev {device.underlay} "
                     f"dstport {device.port}{'' if device.learning else ' nolearning'}{' gbp' if device.gbp else ''}"
                     f" address {device.mac} mtu {device.mtu} {'up' if device.up else 'down'} "
                     f"inet {' '.join(device.addresses) or '-'}")
        lines.extend(sorted(f"route {r.dst}" + (f" via {r.gateway}" if r.gateway else "")
                            + (" onlink" if r.onlink else "") for r in routes if r.protocol != "kernel"))
        lines.extend(sorted(f"neigh {n.dst} lladdr {n.lladdr} permanent" for n in neighbours
                            if n.permanent and _is_ipv4(n.dst)))
        lines.extend(sorted(f"fdb {e.mac}" + (f" dst {e.dst}" if e.dst else "") + f" {e.state}" for e in fdb
                            if e.self_entry))
    if ip_forward is not None:
        lines.append(f"net.ipv4.ip_forward = {ip_forward.strip()}")
    return "\n".join(lines) + "\n"


def desired_summary(overlay: Overlay, current_forward: str | None) -> str:
    """The summary of the state after a run (the declared device and exactly the declared peers)."""
    routes = [Route(str(p.subnet), str(p.gateway), True) for p in overlay.peers]
    neighbours = [Neighbour(str(p.gateway), p.vtep_mac, ("PERMANENT",)) for p in overlay.peers]
    fdb = [FdbEntry(p.vtep_mac, str(p.public_ip), True, "permanent") for p in overlay.peers]
    forward = "1" if overlay.ip_forward else current_forward
    return summary(overlay.device, routes, neighbours, fdb, forward)


def current_summary(current: NetState) -> str:
    """The summary of what the kernel has now."""
    return summary(current.device, current.routes, current.neighbours, current.fdb,
                   current.sysctls.get("ipv4/ip_forward"), current.kind or "")


def absent_plan(current: NetState, name: str) -> list[Op]:
    """Deleting the device removes its address, routes, neighbour and FDB entries with it (other kinds are kept)."""
    if current.device is None or current.kind != "vxlan":
        return []
    return [Op(("ip", "link", "del", "dev", name), f"delete {name}")]


class IpRoute2:
    """Runs ip, bridge and sysctl for the module (argv lists, C locale); raises CommandError on failure."""

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.binaries: dict[str, str] = {}

    def _binary(self, tool: str) -> str:
        """The path of a tool, looked up once."""
        if tool not in self.binaries:
            self.binaries[tool] = self.module.get_bin_path(tool, required=True)
        return self.binaries[tool]

    def run(self, argv: Sequence[str]) -> str:
        """Run a command given with its tool name first; returns stdout."""
        full = [self._binary(argv[0]), *argv[1:]]
        rc, out, err = self.module.run_command(full, environ_update=_ENVIRON)
        if rc != 0:
            raise CommandError(f"{' '.join(argv)} failed (rc {rc}): {(err or out).strip()}", full, rc, out, err)
        return out

    def links(self) -> list[dict[str, t.Any]]:
        """Every link with details and addresses."""
        return parse_links(self.run(("ip", "-j", "-d", "addr", "show")))

    def read(self, name: str, links: Sequence[Mapping[str, t.Any]], sysctls: dict[str, str | None]) -> NetState:
        """The device and, for a VXLAN device, its routes, neighbour and FDB entries."""
        link = find_link(links, name)
        if link is None:
            return NetState(sysctls=sysctls)
        state = NetState(device=device_from_link(link), kind=link_kind(link), sysctls=sysctls)
        if state.kind == "vxlan":
            state.routes = parse_routes(self.run(("ip", "-j", "route", "show", "dev", name)))
            state.neighbours = parse_neighbours(self.run(("ip", "-j", "neigh", "show", "dev", name)))
            state.fdb = parse_fdb(self.run(("bridge", "-j", "fdb", "show", "dev", name)))
        return state
