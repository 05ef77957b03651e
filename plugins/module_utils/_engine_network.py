# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Private to the collection: not a public API and may change without notice.

"""The container engine's bridge network on a host's overlay subnet: flannel's subnet.env, podman networks, docker's
daemon.json. Pure parsing, rendering and comparing; the module does the I/O."""

from __future__ import annotations

import ipaddress
import json
import re
import typing as t

from dataclasses import dataclass

if t.TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

# What flanneld writes (WriteSubnetFile): KEY=VALUE lines, no quotes.
ENV_NETWORK = "FLANNEL_NETWORK"
ENV_SUBNET = "FLANNEL_SUBNET"
ENV_MTU = "FLANNEL_MTU"
ENV_IPMASQ = "FLANNEL_IPMASQ"

# Linux refuses an IPv4 interface MTU below 68 (RFC 791's minimum); 65535 is the largest a bridge takes.
MTU_MIN = 68
MTU_MAX = 65535
# A bridge network needs room for the gateway and at least one container: /30 is the smallest.
PREFIX_MAX = 30
# Linux interface names: at most 15 bytes (IFNAMSIZ 16 with the NUL), no '/', ':' or whitespace.
IFNAME_MAX = 15
_IFNAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
# podman network names (libnetwork's NameRegex).
_NETWORK_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
# Keys of daemon.json this module owns.
DOCKER_KEYS = ("bip", "mtu", "ip-masq")
# daemon.json keys that docker refuses together with "bip" (a user-defined default bridge).
DOCKER_BIP_CONFLICTS = ("bridge",)
# The podman network backend whose files this module writes.
NETAVARK = "netavark"
# The label that marks a podman network as made by this module.
OWNER_LABEL = "io.containerhost.platform.managed-by"
OWNER_VALUE = "engine_network"

_TRUE = ("true", "1", "yes")
_FALSE = ("false", "0", "no", "")


class EngineNetworkError(ValueError):
    """Input the module cannot use; the message names the option (or the file's key) and what is accepted."""


@dataclass(frozen=True)
class Target:
    """The bridge network a host's engine should have: its subnet, the bridge's address, MTU, masquerading."""

    subnet: ipaddress.IPv4Network
    gateway: ipaddress.IPv4Address
    mtu: int
    # flanneld masquerades traffic leaving the overlay itself (FLANNEL_IPMASQ); None when not known.
    ip_masq: bool | None = None
    # The whole overlay network (FLANNEL_NETWORK); None when not known.
    overlay: ipaddress.IPv4Network | None = None

    @property
    def bip(self) -> str:
        """The gateway with the subnet's prefix, as docker's ``bip`` and flannel's FLANNEL_SUBNET write it."""
        return f"{self.gateway}/{self.subnet.prefixlen}"

    def as_dict(self) -> dict[str, t.Any]:
        """The target for the module's result."""
        return {"subnet": str(self.subnet), "gateway": str(self.gateway), "mtu": self.mtu, "ip_masq": self.ip_masq,
                "overlay_network": None if self.overlay is None else str(self.overlay)}


# ---------------------------------------------------------------------------------------------------------------------
# Input: flannel's subnet.env or explicit options

def parse_subnet_env(text: str) -> dict[str, str]:
    """The assignments of a subnet.env file (``KEY=VALUE`` lines; blank lines, comments and quotes tolerated)."""
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key):
            raise EngineNetworkError(f"line {number}: {raw.strip()!r} is not a KEY=VALUE assignment")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


def _bool(text: str, field: str) -> bool:
    """true/false as flanneld writes them (Go's %v of a bool)."""
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise EngineNetworkError(f"{field}: {text!r} is not a boolean; accepted: true or false")


def _mtu(value: t.Any, field: str) -> int:
    """An interface MTU in Linux's IPv4 range."""
    try:
        mtu = int(str(value).strip())
    except ValueError:
        raise EngineNetworkError(f"{field}: {value!r} is not a number; accepted: an MTU from {MTU_MIN} to "
                                 f"{MTU_MAX}") from None
    if not MTU_MIN <= mtu <= MTU_MAX:
        raise EngineNetworkError(f"{field}: {mtu} is out of range; accepted: an MTU from {MTU_MIN} to {MTU_MAX}")
    return mtu


def _network(text: t.Any, field: str, strict: bool = True) -> ipaddress.IPv4Network:
    """An IPv4 network in CIDR form (host bits clear unless ``strict`` is off)."""
    if not isinstance(text, str) or "/" not in text:
        raise EngineNetworkError(f"{field}: {text!r} is not an IPv4 network in CIDR form; accepted: e.g. 10.5.34.0/24")
    try:
        network = ipaddress.ip_network(text.strip(), strict=strict)
    except ValueError as exc:
        raise EngineNetworkError(f"{field}: {text!r} is not an IPv4 network in CIDR form ({exc}); accepted: e.g. "
                                 "10.5.34.0/24 with the host bits clear") from None
    if network.version != 4:
        raise EngineNetworkError(f"{field}: {text!r} is IPv6; only IPv4 subnets are supported")
    return t.cast(ipaddress.IPv4Network, network)


def _address(text: t.Any, field: str) -> ipaddress.IPv4Address:
    """An IPv4 address."""
    try:
        address = ipaddress.ip_address(str(text).strip())
    except ValueError:
        raise EngineNetworkError(f"{field}: {text!r} is not an IPv4 address; accepted: e.g. 10.5.34.1") from None
    if address.version != 4:
        raise EngineNetworkError(f"{field}: {text!r} is IPv6; only IPv4 is supported")
    return t.cast(ipaddress.IPv4Address, address)


def check_target(subnet: ipaddress.IPv4Network, gateway: ipaddress.IPv4Address, mtu: int,
                 overlay: ipaddress.IPv4Network | None, fields: Mapping[str, str]) -> None:
    """The arithmetic a bridge network needs: room for containers, a usable gateway inside, inside the overlay.

    ``fields`` names each value's origin (an option or a subnet.env key) for the messages.
    """
    if subnet.prefixlen > PREFIX_MAX:
        raise EngineNetworkError(f"{fields['subnet']}: {subnet} leaves no address for a container besides the "
                                 f"gateway; accepted: a prefix of /{PREFIX_MAX} or shorter")
    if gateway not in subnet:
        raise EngineNetworkError(f"{fields['gateway']}: {gateway} is not in the subnet {subnet}; accepted: an "
                                 f"address from {subnet.network_address + 1} to {subnet.broadcast_address - 1}")
    if gateway in (subnet.network_address, subnet.broadcast_address):
        which = "network" if gateway == subnet.network_address else "broadcast"
        raise EngineNetworkError(f"{fields['gateway']}: {gateway} is the {which} address of {subnet}; accepted: an "
                                 f"address from {subnet.network_address + 1} to {subnet.broadcast_address - 1}")
    if overlay is not None and not subnet.subnet_of(overlay):
        raise EngineNetworkError(f"{fields['subnet']}: {subnet} is not inside the overlay network {overlay} "
                                 f"({fields['overlay']}); the host's subnet must be one of the overlay's subnets")
    _mtu(mtu, fields["mtu"])


def target_from_env(values: Mapping[str, str], path: str) -> Target:
    """The target flanneld's subnet.env describes: FLANNEL_SUBNET (the bridge's address/prefix), FLANNEL_MTU,
    FLANNEL_NETWORK and FLANNEL_IPMASQ (both optional)."""
    fields = {"subnet": f"subnet_env ({path}): {ENV_SUBNET}", "gateway": f"subnet_env ({path}): {ENV_SUBNET}",
              "mtu": f"subnet_env ({path}): {ENV_MTU}", "overlay": f"subnet_env ({path}): {ENV_NETWORK}"}
    for key in (ENV_SUBNET, ENV_MTU):
        if not values.get(key):
            raise EngineNetworkError(f"subnet_env ({path}): {key} is missing; flanneld writes {ENV_NETWORK}, "
                                     f"{ENV_SUBNET}, {ENV_MTU} and {ENV_IPMASQ} once it holds a lease")
    interface = values[ENV_SUBNET]
    try:
        parsed = ipaddress.ip_interface(interface.strip())
    except ValueError:
        raise EngineNetworkError(f"{fields['subnet']}: {interface!r} is not an address with a prefix; accepted: e.g. "
                                 "10.5.34.1/24 (the bridge's address in the host's subnet)") from None
    if parsed.version != 4:
        raise EngineNetworkError(f"{fields['subnet']}: {interface!r} is IPv6; only IPv4 is supported")
    subnet = t.cast(ipaddress.IPv4Network, parsed.network)
    gateway = t.cast(ipaddress.IPv4Address, parsed.ip)
    if gateway == subnet.network_address and subnet.prefixlen <= PREFIX_MAX:
        # Early flanneld releases wrote the subnet itself (10.1.17.0/24); the bridge takes its first address.
        gateway = subnet.network_address + 1
    mtu = _mtu(values[ENV_MTU], fields["mtu"])
    overlay = _network(values[ENV_NETWORK], fields["overlay"]) if values.get(ENV_NETWORK) else None
    ip_masq = _bool(values[ENV_IPMASQ], f"subnet_env ({path}): {ENV_IPMASQ}") if ENV_IPMASQ in values else None
    check_target(subnet, gateway, mtu, overlay, fields)
    return Target(subnet, gateway, mtu, ip_masq, overlay)


def target_from_params(subnet: str, gateway: str | None, mtu: int, overlay_network: str | None = None,
                       ip_masq: bool | None = None) -> Target:
    """The target the module's explicit options give; the gateway defaults to the subnet's first address."""
    network = _network(subnet, "subnet")
    address = _address(gateway, "gateway") if gateway else network.network_address + 1
    overlay = _network(overlay_network, "overlay_network") if overlay_network else None
    check_target(network, address, mtu, overlay, {"subnet": "subnet", "gateway": "gateway", "mtu": "mtu",
                                                  "overlay": "overlay_network"})
    return Target(network, address, mtu, ip_masq, overlay)


def check_interface_name(name: t.Any) -> str:
    """A Linux interface name for the bridge, or EngineNetworkError naming interface_name."""
    if not isinstance(name, str) or not _IFNAME.match(name) or name in (".", ".."):
        raise EngineNetworkError(f"interface_name: {name!r} is not a usable interface name; accepted: 1 to "
                                 f"{IFNAME_MAX} letters, digits, '_', '.' or '-'")
    return name


def check_network_name(name: t.Any) -> str:
    """A podman network name, or EngineNetworkError naming name."""
    if not isinstance(name, str) or not _NETWORK_NAME.match(name):
        raise EngineNetworkError(f"name: {name!r} is not a podman network name; accepted: letters, digits, '_', '.' "
                                 "and '-', starting with a letter or digit")
    return name


# ---------------------------------------------------------------------------------------------------------------------
# podman

def network_state(network: Mapping[str, t.Any] | None) -> dict[str, t.Any] | None:
    """The parts of an inspected network this module manages, normalised for comparison and the diff."""
    if network is None:
        return None
    subnets = network.get("subnets") or []
    options = network.get("options") or {}
    mtu = options.get("mtu")
    return {
        "name": network.get("name"),
        "driver": network.get("driver"),
        "interface_name": network.get("network_interface"),
        "subnets": [{"subnet": item.get("subnet"), "gateway": item.get("gateway")} for item in subnets
                    if isinstance(item, dict)],
        "mtu": int(mtu) if mtu not in (None, "") and str(mtu).isdigit() else None,
        "dns_enabled": bool(network.get("dns_enabled")),
        "internal": bool(network.get("internal")),
        "ipv6_enabled": bool(network.get("ipv6_enabled")),
    }


def desired_network_state(name: str, target: Target, dns: bool, interface_name: str) -> dict[str, t.Any]:
    """What ``network_state`` should read after the module: one IPv4 subnet with its gateway, the MTU, DNS."""
    return {
        "name": name,
        "driver": "bridge",
        "interface_name": interface_name,
        "subnets": [{"subnet": str(target.subnet), "gateway": str(target.gateway)}],
        "mtu": target.mtu,
        "dns_enabled": dns,
        "internal": False,
        "ipv6_enabled": False,
    }


def network_differences(current: Mapping[str, t.Any] | None, desired: Mapping[str, t.Any]) -> list[str]:
    """The fields in which an existing network differs from the desired one (every field when there is none)."""
    if current is None:
        return list(desired)
    return [key for key, value in desired.items() if current.get(key) != value]


def parse_network_list(text: str) -> list[dict[str, t.Any]]:
    """Every network ``podman network ls --format json`` printed (the same objects as ``network inspect``)."""
    data = json.loads(text or "[]")
    if data is None:
        return []
    if not isinstance(data, list):
        raise ValueError("podman network ls did not print a JSON array")
    return [item for item in data if isinstance(item, dict)]


def network_conflicts(networks: Sequence[Mapping[str, t.Any]], name: str, target: Target,
                      interface_name: str) -> list[str]:
    """Other podman networks whose subnet overlaps the target's or whose bridge has the same name."""
    problems = []
    for network in networks:
        other = network.get("name")
        if other == name:
            continue
        if network.get("network_interface") == interface_name:
            problems.append(f"interface_name: {interface_name} is already the bridge of the podman network {other}; "
                            "choose another name")
        for item in network.get("subnets") or []:
            try:
                subnet = ipaddress.ip_network(str(item.get("subnet")), strict=False)
            except ValueError:
                continue
            if subnet.version == 4 and subnet.overlaps(target.subnet):
                problems.append(f"subnet: {target.subnet} overlaps the subnet {subnet} of the podman network {other}; "
                                "remove that network or move it out of the overlay")
    return problems


def render_network_file(name: str, network_id: str, created: str, target: Target, dns: bool,
                        interface_name: str) -> str:
    """A netavark network file as ``podman network create`` writes it (podman 4: five-space indentation)."""
    data = {
        "name": name,
        "id": network_id,
        "driver": "bridge",
        "network_interface": interface_name,
        "created": created,
        "subnets": [{"subnet": str(target.subnet), "gateway": str(target.gateway)}],
        "ipv6_enabled": False,
        "internal": False,
        "dns_enabled": dns,
        "labels": {OWNER_LABEL: OWNER_VALUE},
        "options": {"mtu": str(target.mtu)},
        "ipam_options": {"driver": "host-local"},
    }
    return json.dumps(data, indent=5) + "\n"


def parse_container_names(text: str) -> list[str]:
    """Container names, one per line (``podman ps --format {{.Names}}``), sorted."""
    return sorted({line.strip() for line in (text or "").splitlines() if line.strip()})


# ---------------------------------------------------------------------------------------------------------------------
# docker

def parse_daemon_json(text: str | None, path: str) -> dict[str, t.Any]:
    """docker's daemon.json as data; an absent or empty file is an empty object."""
    if text is None or not text.strip():
        return {}
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise EngineNetworkError(f"daemon_json: {path} is not valid JSON ({exc}); fix or remove it first") from None
    if not isinstance(data, dict):
        raise EngineNetworkError(f"daemon_json: {path} holds a JSON {type(data).__name__}, not an object")
    return data


def desired_daemon_config(current: Mapping[str, t.Any], target: Target | None, ip_masq: bool | None,
                          path: str) -> dict[str, t.Any]:
    """``current`` with this module's keys set from the target (or removed when ``target`` is None).

    docker's masquerading (``ip-masq``) is off when flanneld masquerades traffic leaving the overlay itself, as
    flannel's mk-docker-opts.sh does (``--ip-masq=false`` when FLANNEL_IPMASQ is true); ``ip_masq`` is docker's own
    value, None to leave the key alone.
    """
    merged = {key: value for key, value in current.items() if target is not None or key not in DOCKER_KEYS}
    if target is None:
        return merged
    conflicts = [key for key in DOCKER_BIP_CONFLICTS if current.get(key) not in (None, "")]
    if conflicts:
        raise EngineNetworkError(f"daemon_json: {path} sets {', '.join(conflicts)}, which docker refuses together with "
                                 "bip; remove it so that docker's default bridge takes the overlay subnet")
    merged["bip"] = target.bip
    merged["mtu"] = target.mtu
    if ip_masq is not None:
        merged["ip-masq"] = ip_masq
    return merged


def render_daemon_json(data: Mapping[str, t.Any]) -> str:
    """daemon.json text: two-space indentation, keys in their order, a final newline."""
    return json.dumps(data, indent=2) + "\n"


def docker_ip_masq(target: Target, override: bool | None) -> bool | None:
    """docker's own ``ip-masq``: the option when given, else off when flanneld masquerades (FLANNEL_IPMASQ=true)."""
    if override is not None:
        return override
    if target.ip_masq is None:
        return None
    return not target.ip_masq


def changed_keys(before: Mapping[str, t.Any], after: Mapping[str, t.Any], keys: Sequence[str] = DOCKER_KEYS) -> list[str]:
    """The managed keys whose value differs."""
    return [key for key in keys if before.get(key) != after.get(key) or (key in before) != (key in after)]
