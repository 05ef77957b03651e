# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Private to the collection: not a public API and may change without notice.

"""flannel's network configuration and subnet leases as flanneld keeps them in etcd (pure functions).

- The configuration model built from module parameters, its validation (subnet and MTU arithmetic, backend options)
  and its rendering as the JSON text stored at ``<prefix>/config``.
- ``decode_config`` reads any stored configuration text the way flanneld does (Go's JSON decoding: field names
  matched case-insensitively, unknown keys ignored) and applies flanneld's defaults and checks, so two texts can be
  compared by what they mean to flanneld.
- Subnet leases (``<prefix>/subnets/10.5.34.0-24``) for daemonless set-ups: keys, values in flanneld's lease format,
  and a deterministic allocation of subnets to nodes.
- The ``etcdctl`` v2 argument and output handling for flannel releases that read etcd through the v2 API (the v3
  runner in _etcdctl.py covers the rest).
"""

from __future__ import annotations

import ipaddress
import json
import posixpath
import re
import typing as t

from dataclasses import dataclass

from ansible_collections.containerhost.platform.plugins.module_utils._etcdctl import classify, error_detail, explain

if t.TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

    from ansible_collections.containerhost.platform.plugins.module_utils._etcdctl import Connection

DEFAULT_PREFIX = "/coreos.com/network"
BACKEND_TYPES = ("vxlan", "host-gw", "udp")
VNI_MAX = (1 << 24) - 1
# The Linux kernel's VXLAN port when none is given (flanneld passes 0 unless Port is set).
VXLAN_KERNEL_PORT = 8472
UDP_DEFAULT_PORT = 8285
DEFAULT_VNI = 1
# Bytes each backend adds to every packet on the host's link (IPv4 outer headers): the overlay MTU is the rest.
ENCAP_OVERHEAD = {"vxlan": 50, "udp": 28, "host-gw": 0}
IPV4_MIN_MTU = 68
# The backend options each type reads (mtu is checked against every type's overhead).
BACKEND_OPTIONS = {
    "vxlan": ("vni", "port", "gbp", "direct_routing", "mtu"),
    "udp": ("port", "mtu"),
    "host-gw": ("mtu",),
}
_BACKEND_KEYS = {"vni": "VNI", "port": "Port", "gbp": "GBP", "direct_routing": "DirectRouting"}

# flanneld's subnet key pattern (an optional IPv6 part follows '&' in dual-stack leases).
_SUBNET_KEY = re.compile(r"(\d+\.\d+\.\d+\.\d+)-(\d+)(?:&([a-f\d:]+)-(\d+))?$")
_MAC = re.compile(r"^[0-9a-fA-F]{2}([:-])(?:[0-9a-fA-F]{2}\1){4}[0-9a-fA-F]{2}$")


class FlannelError(ValueError):
    """A configuration or lease that flanneld would refuse, or input this module cannot use."""


class _Pairs(list):
    """A JSON object as its key/value pairs in order, duplicates kept (Go's decoder sees every pair)."""


@dataclass(frozen=True)
class Family:
    """The per-address-family constants flanneld's subnet arithmetic uses."""

    bits: int
    default_len: int
    default_len_max_prefix: int
    max_subnet_len: int
    max_prefix: int


IPV4 = Family(bits=32, default_len=24, default_len_max_prefix=22, max_subnet_len=30, max_prefix=28)
IPV6 = Family(bits=128, default_len=64, default_len_max_prefix=62, max_subnet_len=126, max_prefix=124)


@dataclass(frozen=True)
class Backend:
    """The overlay backend as declared; ``None`` leaves a setting to flanneld's default (``mtu`` is only checked)."""

    type: str = "vxlan"
    vni: int | None = None
    port: int | None = None
    gbp: bool | None = None
    direct_routing: bool | None = None
    mtu: int | None = None


@dataclass(frozen=True)
class NetworkConfig:
    """The overlay configuration as declared (strings as given, checked by ``validate``)."""

    network: str
    subnet_len: int | None = None
    subnet_min: str | None = None
    subnet_max: str | None = None
    backend: Backend = Backend()

    @classmethod
    def from_params(cls, params: Mapping[str, t.Any]) -> NetworkConfig:
        """The configuration in a module's parameters (``backend`` a dict of its suboptions)."""
        backend = dict(params.get("backend") or {})
        return cls(network=params["network"], subnet_len=params.get("subnet_len"),
                   subnet_min=params.get("subnet_min"), subnet_max=params.get("subnet_max"),
                   backend=Backend(type=backend.get("type") or "vxlan", vni=backend.get("vni"),
                                   port=backend.get("port"), gbp=backend.get("gbp"),
                                   direct_routing=backend.get("direct_routing"), mtu=backend.get("mtu")))


@dataclass(frozen=True)
class Layout:
    """Where flanneld takes subnets from: ``subnet_len``-sized blocks from ``subnet_min`` to ``subnet_max``."""

    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    subnet_len: int
    subnet_min: ipaddress.IPv4Address | ipaddress.IPv6Address
    subnet_max: ipaddress.IPv4Address | ipaddress.IPv6Address

    @property
    def size(self) -> int:
        """Addresses in one subnet."""
        return 1 << (self.network.max_prefixlen - self.subnet_len)

    @property
    def count(self) -> int:
        """How many subnets flanneld can hand out."""
        low, high = int(self.subnet_min), int(self.subnet_max)
        return (high - low) // self.size + 1 if high >= low else 0

    def subnets(self) -> Iterator[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        """Every subnet flanneld can hand out, lowest first."""
        for address in range(int(self.subnet_min), int(self.subnet_max) + 1, self.size):
            yield type(self.network)((address, self.subnet_len))

    def holds(self, subnet: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
        """Whether flanneld would accept a lease on this subnet (its length, between SubnetMin and SubnetMax)."""
        return (subnet.version == self.network.version and subnet.prefixlen == self.subnet_len
                and self.subnet_min <= subnet.network_address <= self.subnet_max)


def _names(prefix: str = "") -> dict[str, str]:
    """Field names for messages: module options, or flannel's keys with an ``IPv6`` prefix when asked."""
    if prefix == "module":
        return {"network": "network", "subnet_len": "subnet_len", "subnet_min": "subnet_min",
                "subnet_max": "subnet_max"}
    network = "IPv6Network" if prefix else "Network"
    return {"network": network, "subnet_len": f"{prefix}SubnetLen", "subnet_min": f"{prefix}SubnetMin",
            "subnet_max": f"{prefix}SubnetMax"}


def plan_subnets(network: ipaddress.IPv4Network | ipaddress.IPv6Network, subnet_len: int | None,
                 subnet_min: ipaddress.IPv4Address | ipaddress.IPv6Address | None,
                 subnet_max: ipaddress.IPv4Address | ipaddress.IPv6Address | None,
                 names: Mapping[str, str] | None = None) -> tuple[Layout | None, list[str]]:
    """flanneld's subnet layout for a network (its CheckNetworkConfig rules and defaults), or what is wrong.

    Defaults: SubnetLen 24 (IPv6: 64) when the network is a /22 (/62) or larger, else the network's prefix + 2;
    SubnetMin the second subnet (the first is never handed out), SubnetMax the last one.
    """
    names = names or _names()
    family = IPV4 if network.version == 4 else IPV6
    prefix = network.prefixlen
    errors: list[str] = []
    if prefix > family.max_prefix:
        return None, [f"{names['network']}: {network} is too small: flannel needs four subnets of at least "
                      f"/{family.max_subnet_len}; accepted: a network of /{family.max_prefix} or larger"]
    if not subnet_len:
        length = family.default_len if prefix <= family.default_len_max_prefix else prefix + 2
    else:
        length = subnet_len
        if length > family.max_subnet_len:
            errors.append(f"{names['subnet_len']}: /{length} leaves no room for the tunnel and bridge addresses of "
                          f"a host; accepted: {prefix + 2} to {family.max_subnet_len}")
        elif length < prefix + 2:
            errors.append(f"{names['subnet_len']}: /{length} splits {network} into fewer than four subnets (flannel "
                          f"never hands out the first); accepted: {prefix + 2} to {family.max_subnet_len}")
        if errors:
            return None, errors
    size = 1 << (family.bits - length)
    address = type(network.network_address)
    first = int(network.network_address)
    last = first + network.num_addresses - size
    bounds = {}
    for which, given, default in (("subnet_min", subnet_min, first + size), ("subnet_max", subnet_max, last)):
        if given is None:
            bounds[which] = default
        elif given not in network:
            errors.append(f"{names[which]}: {given} is outside {network}; accepted: a /{length} subnet address "
                          f"from {address(first + size)} to {address(last)}")
        elif int(given) % size:
            errors.append(f"{names[which]}: {given} is not on a /{length} boundary; accepted: a /{length} subnet "
                          f"address such as {address(int(given) - int(given) % size)}")
        else:
            bounds[which] = int(given)
    if errors:
        return None, errors
    if bounds["subnet_min"] > bounds["subnet_max"]:
        return None, [f"{names['subnet_min']}: {address(bounds['subnet_min'])} is above {names['subnet_max']} "
                      f"{address(bounds['subnet_max'])}; accepted: {names['subnet_min']} <= {names['subnet_max']}"]
    return Layout(network, length, address(bounds["subnet_min"]), address(bounds["subnet_max"])), []


def _ipv4_network(text: t.Any, name: str) -> tuple[ipaddress.IPv4Network | None, str | None]:
    """A declared IPv4 network with its host bits clear, or the problem with it."""
    accepted = "accepted: an IPv4 network in CIDR form such as 10.5.0.0/16"
    if not isinstance(text, str) or "/" not in text:
        return None, f"{name}: {text!r} is not an IPv4 network in CIDR form; {accepted}"
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None, f"{name}: {text!r} is not an IPv4 network; {accepted}"
    if network.version != 4:
        return None, f"{name}: {text!r} is an IPv6 network; {accepted}"
    if str(network.network_address) != text.split("/", 1)[0]:
        return None, f"{name}: {text!r} has host bits set; accepted: its network address, {network}"
    return network, None


def _ipv4_address(text: t.Any, name: str, accepted: str = "a subnet address such as 10.5.1.0",
                  ) -> tuple[ipaddress.IPv4Address | None, str | None]:
    """A declared IPv4 address, or the problem with it."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        address = None
    if not isinstance(address, ipaddress.IPv4Address):
        return None, f"{name}: {text!r} is not an IPv4 address; accepted: {accepted}"
    return address, None


def overlay_mtu(backend_type: str, link_mtu: int) -> int:
    """The MTU flanneld gives the overlay on a link of ``link_mtu`` (the link's less the backend's overhead)."""
    return link_mtu - ENCAP_OVERHEAD.get(backend_type, 0)


def _backend_errors(backend: Backend, link_mtu: int) -> list[str]:
    """Problems with the backend options, each naming the option and what it accepts."""
    errors: list[str] = []
    kind = backend.type
    if kind not in BACKEND_TYPES:
        return [f"backend.type: {kind!r} is not supported; accepted: {', '.join(BACKEND_TYPES)}"]
    for option in ("vni", "port", "gbp", "direct_routing", "mtu"):
        if getattr(backend, option) is not None and option not in BACKEND_OPTIONS[kind]:
            users = [name for name in BACKEND_TYPES if option in BACKEND_OPTIONS[name]]
            errors.append(f"backend.{option}: not used by backend.type {kind}; accepted with: {', '.join(users)} "
                          f"(remove it for {kind})")
    if backend.vni is not None and not 0 <= backend.vni <= VNI_MAX:
        errors.append(f"backend.vni: {backend.vni} is out of range; accepted: 0 to {VNI_MAX} (24 bits)")
    if backend.port is not None and not 1 <= backend.port <= 65535:
        errors.append(f"backend.port: {backend.port} is out of range; accepted: 1 to 65535")
    overhead = ENCAP_OVERHEAD[kind]
    room = overlay_mtu(kind, link_mtu)
    if room < IPV4_MIN_MTU:
        errors.append(f"link_mtu: {link_mtu} minus the {kind} overhead of {overhead} bytes leaves {room}, below "
                      f"IPv4's minimum of {IPV4_MIN_MTU}; accepted: {IPV4_MIN_MTU + overhead} or more")
    elif backend.mtu is not None and not IPV4_MIN_MTU <= backend.mtu <= room:
        errors.append(f"backend.mtu: {backend.mtu} does not fit: link_mtu {link_mtu} minus the {kind} overhead of "
                      f"{overhead} bytes leaves {room}; accepted: {IPV4_MIN_MTU} to {room}")
    return errors


def capacity_error(layout: Layout, node_count: int | None, name: str = "expected_nodes") -> str | None:
    """The problem when the layout has fewer subnets than nodes."""
    if node_count is None or node_count <= layout.count:
        return None
    return (f"{name}: {node_count} nodes do not fit: {layout.network} in /{layout.subnet_len} subnets from "
            f"{layout.subnet_min} to {layout.subnet_max} gives {layout.count}; accepted: at most {layout.count} "
            f"nodes, or a larger network, a longer subnet_len or a wider subnet_min..subnet_max")


def validate(config: NetworkConfig, node_count: int | None = None, link_mtu: int = 1500) -> list[str]:
    """Every problem with a declared configuration (empty when flanneld would accept it and the nodes fit)."""
    errors: list[str] = []
    network, problem = _ipv4_network(config.network, "network")
    if problem:
        errors.append(problem)
    bounds: dict[str, ipaddress.IPv4Address | None] = {}
    for which in ("subnet_min", "subnet_max"):
        given = getattr(config, which)
        bounds[which], problem = (None, None) if given is None else _ipv4_address(given, which)
        if problem:
            errors.append(problem)
    if node_count is not None and node_count < 0:
        errors.append(f"expected_nodes: {node_count} is negative; accepted: 0 or more")
    if network is not None and not errors:
        layout, problems = plan_subnets(network, config.subnet_len, bounds["subnet_min"], bounds["subnet_max"],
                                        _names("module"))
        errors.extend(problems)
        if layout is not None:
            problem = capacity_error(layout, node_count)
            if problem:
                errors.append(problem)
    errors.extend(_backend_errors(config.backend, link_mtu))
    return errors


def layout(config: NetworkConfig) -> Layout:
    """The subnet layout of a configuration; raises FlannelError naming every problem when it has none."""
    network, problem = _ipv4_network(config.network, "network")
    bounds = {which: None if getattr(config, which) is None else _ipv4_address(getattr(config, which), which)[0]
              for which in ("subnet_min", "subnet_max")}
    if network is None:
        raise FlannelError(problem)
    result, problems = plan_subnets(network, config.subnet_len, bounds["subnet_min"], bounds["subnet_max"],
                                    _names("module"))
    if result is None:
        raise FlannelError("; ".join(problems))
    return result


def subnets(config: NetworkConfig) -> Iterator[ipaddress.IPv4Network]:
    """Every subnet flanneld can hand out under this configuration, lowest first."""
    return t.cast("Iterator[ipaddress.IPv4Network]", layout(config).subnets())


def config_data(config: NetworkConfig) -> dict[str, t.Any]:
    """The configuration as flannel's JSON object: its key names and order, only the keys that were declared."""
    data: dict[str, t.Any] = {"Network": str(ipaddress.ip_network(config.network, strict=False))}
    if config.subnet_len is not None:
        data["SubnetLen"] = config.subnet_len
    if config.subnet_min is not None:
        data["SubnetMin"] = str(ipaddress.ip_address(config.subnet_min))
    if config.subnet_max is not None:
        data["SubnetMax"] = str(ipaddress.ip_address(config.subnet_max))
    backend: dict[str, t.Any] = {"Type": config.backend.type}
    for option, key in _BACKEND_KEYS.items():
        value = getattr(config.backend, option)
        if value is not None:
            backend[key] = value
    data["Backend"] = backend
    return data


def render_config(config: NetworkConfig) -> str:
    """The text stored at ``<prefix>/config``: compact JSON, flannel's key names and order, no trailing newline."""
    return json.dumps(config_data(config), separators=(",", ":"), ensure_ascii=False)


def _load_pairs(text: str, what: str) -> t.Any:
    """JSON text with every object as _Pairs, or a FlannelError saying it is not JSON."""
    try:
        return json.loads(text, object_pairs_hook=_Pairs)
    except ValueError as exc:
        raise FlannelError(f"{what} is not JSON: {exc}") from exc


def _plain(value: t.Any) -> t.Any:
    """_Pairs turned back into dicts (the last duplicate wins, as in Go)."""
    if isinstance(value, _Pairs):
        return {key: _plain(item) for key, item in value}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def go_fields(pairs: t.Any, fields: Sequence[str], what: str) -> tuple[dict[str, t.Any], list[str]]:
    """A JSON object's values by Go struct field, matched as encoding/json does, and the keys no field takes.

    A key takes the field of the same name, else one whose name matches ignoring case; a later key for the same
    field replaces an earlier one. Keys no field takes are ignored by Go (returned here so callers can tell).
    """
    if not isinstance(pairs, _Pairs):
        raise FlannelError(f"{what}: {type(_plain(pairs)).__name__} is not a JSON object")
    exact = set(fields)
    folded = {field.casefold(): field for field in fields}
    found: dict[str, t.Any] = {}
    unknown: list[str] = []
    for key, value in pairs:
        field = key if key in exact else folded.get(key.casefold())
        if field is None:
            unknown.append(key)
        else:
            found[field] = value
    return found, unknown


def _go_value(value: t.Any, kind: str, name: str) -> t.Any:
    """A decoded JSON value checked the way Go decodes it into a field of ``kind`` (None: JSON null, no effect)."""
    if value is None:
        return None
    ok = {"bool": isinstance(value, bool),
          "int": isinstance(value, int) and not isinstance(value, bool),
          "uint": isinstance(value, int) and not isinstance(value, bool) and value >= 0,
          "str": isinstance(value, str)}[kind]
    if not ok:
        go_kind = {"bool": "bool", "int": "int", "uint": "uint", "str": "string"}[kind]
        raise FlannelError(f"{name}: {json.dumps(_plain(value))} cannot be decoded as a Go {go_kind}")
    return value


def _go_net(value: t.Any, name: str, version: int) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """A network field as flanneld parses it (net.ParseCIDR: host bits are dropped)."""
    if not isinstance(value, str):
        raise FlannelError(f"{name}: {json.dumps(_plain(value))} is not a network in CIDR form")
    try:
        network = ipaddress.ip_network(value, strict=False) if "/" in value else None
    except ValueError:
        network = None
    if network is None or network.version != version:
        raise FlannelError(f"{name}: {value!r} is not an IPv{version} network in CIDR form")
    return network


def _go_ip(value: t.Any, name: str, version: int) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address field as flanneld parses it; the all-zero address means unset, as in flanneld."""
    try:
        address = ipaddress.ip_address(value) if isinstance(value, str) else None
    except ValueError:
        address = None
    if version == 4 and isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if address is None or address.version != version:
        raise FlannelError(f"{name}: {json.dumps(_plain(value))} is not an IPv{version} address")
    return None if int(address) == 0 else address


_CONFIG_FIELDS = {
    "EnableIPv4": "bool", "EnableIPv6": "bool", "Network": "net", "IPv6Network": "net6",
    "SubnetMin": "ip", "SubnetMax": "ip", "IPv6SubnetMin": "ip6", "IPv6SubnetMax": "ip6",
    "SubnetLen": "uint", "IPv6SubnetLen": "uint", "Backend": "raw",
}
# The backends' own structs: field -> (Go kind, flanneld's default).
_BACKEND_FIELDS: dict[str, dict[str, tuple[str, t.Any]]] = {
    "vxlan": {"VNI": ("int", DEFAULT_VNI), "Port": ("int", 0), "GBP": ("bool", False),
              "Learning": ("bool", False), "DirectRouting": ("bool", False)},
    "udp": {"Port": ("int", UDP_DEFAULT_PORT)},
    "host-gw": {},
}


def _decode_backend(raw: t.Any, present: bool) -> dict[str, t.Any]:
    """The Backend object as flanneld's backend reads it, defaults filled in (absent Backend: udp)."""
    if not present:
        return {"Type": "udp", "Port": UDP_DEFAULT_PORT}
    if raw is None:
        # flanneld reads the type of a null Backend as "" and then finds no such backend.
        raise FlannelError("Backend: null names no backend type; accepted: an object with a Type")
    found, dummy = go_fields(raw, ["Type"], "Backend")
    kind = _go_value(found.get("Type"), "str", "Backend.Type") or ""
    if kind not in _BACKEND_FIELDS:
        # A backend this module does not model: compared as the data it holds.
        return {"Type": kind, **{key: value for key, value in _plain(raw).items() if key.casefold() != "type"}}
    fields = _BACKEND_FIELDS[kind]
    values, dummy = go_fields(raw, list(fields), f"Backend ({kind})")
    backend: dict[str, t.Any] = {"Type": kind}
    for field, (kind_of, default) in fields.items():
        value = _go_value(values.get(field), kind_of, f"Backend.{field}")
        backend[field] = default if value is None else value
    if kind == "vxlan" and not backend["Port"]:
        backend["Port"] = VXLAN_KERNEL_PORT
    return backend


def unknown_keys(text: str) -> list[str]:
    """Top-level and Backend keys of a configuration text that flanneld ignores."""
    pairs = _load_pairs(text, "the flannel configuration")
    found, unknown = go_fields(pairs, list(_CONFIG_FIELDS), "the flannel configuration")
    backend = found.get("Backend")
    if isinstance(backend, _Pairs):
        kind = go_fields(backend, ["Type"], "Backend")[0].get("Type")
        if isinstance(kind, str) and kind in _BACKEND_FIELDS:
            fields = ["Type", *_BACKEND_FIELDS[kind]]
            unknown.extend(f"Backend.{key}" for key in go_fields(backend, fields, "Backend")[1])
    return unknown


def decode_config(text: str) -> dict[str, t.Any]:
    """A stored configuration as flanneld understands it, its defaults applied; FlannelError when flanneld refuses it.

    The result has flannel's key names: EnableIPv4, EnableIPv6, Network, SubnetLen, SubnetMin, SubnetMax (and the
    IPv6 ones when EnableIPv6), Backend (Type and that backend's settings, defaults filled in).
    """
    pairs = _load_pairs(text, "the flannel configuration")
    found, dummy = go_fields(pairs, list(_CONFIG_FIELDS), "the flannel configuration")
    enable4 = _go_value(found.get("EnableIPv4"), "bool", "EnableIPv4")
    enable6 = _go_value(found.get("EnableIPv6"), "bool", "EnableIPv6")
    result: dict[str, t.Any] = {"EnableIPv4": True if enable4 is None else enable4, "EnableIPv6": bool(enable6)}
    for family_prefix, version, enabled in (("", 4, result["EnableIPv4"]), ("IPv6", 6, result["EnableIPv6"])):
        names = _names(family_prefix)
        # Go decodes every field present, whether or not its family is enabled.
        network = _go_net(found[names["network"]], names["network"], version) if names["network"] in found else None
        length = _go_value(found.get(names["subnet_len"]), "uint", names["subnet_len"])
        low = high = None
        if names["subnet_min"] in found:
            low = _go_ip(found[names["subnet_min"]], names["subnet_min"], version)
        if names["subnet_max"] in found:
            high = _go_ip(found[names["subnet_max"]], names["subnet_max"], version)
        if not enabled:
            continue
        if network is None:
            raise FlannelError(f"{names['network']}: missing; flanneld needs the overlay network, e.g. "
                               f"{'10.5.0.0/16' if version == 4 else 'fd00:42::/56'}")
        plan, problems = plan_subnets(network, length, low, high, names)
        if plan is None:
            raise FlannelError("; ".join(problems))
        result.update({names["network"]: str(plan.network), names["subnet_len"]: plan.subnet_len,
                       names["subnet_min"]: str(plan.subnet_min), names["subnet_max"]: str(plan.subnet_max)})
    result["Backend"] = _decode_backend(found.get("Backend"), "Backend" in found)
    return result


def same_meaning(stored: str | None, wanted: str) -> bool:
    """Whether flanneld reads both texts as the same configuration (a stored text it refuses never matches)."""
    if stored is None:
        return False
    try:
        return decode_config(stored) == decode_config(wanted)
    except FlannelError:
        return False


def describe(config: NetworkConfig, link_mtu: int = 1500) -> dict[str, t.Any]:
    """What flanneld will use for a valid configuration: subnet layout and backend with its defaults, overlay MTU."""
    plan = layout(config)
    backend = _decode_backend(_load_pairs(json.dumps(config_data(config)["Backend"]), "Backend"), True)
    return {
        "network": str(plan.network), "subnet_len": plan.subnet_len, "subnet_min": str(plan.subnet_min),
        "subnet_max": str(plan.subnet_max), "subnet_count": plan.count,
        "backend": {_snake(key): value for key, value in backend.items()},
        "overlay_mtu": overlay_mtu(config.backend.type, link_mtu),
    }


def _snake(name: str) -> str:
    """flannel's Go field names as the module's option names (DirectRouting -> direct_routing, VNI -> vni)."""
    return {"VNI": "vni", "GBP": "gbp"}.get(name) or re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def go_path_join(*parts: str) -> str:
    """Go's path.Join, which flanneld uses for its keys: non-empty parts joined by '/', then cleaned."""
    joined = "/".join(part for part in parts if part)
    if not joined:
        return ""
    cleaned = posixpath.normpath(joined)
    # POSIX keeps a leading '//'; Go's path.Clean does not.
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


def config_key(prefix: str = DEFAULT_PREFIX) -> str:
    """The key flanneld reads its configuration from (``--etcd-prefix`` + ``/config``)."""
    return go_path_join(prefix, "config")


def _subnet(subnet: t.Any) -> ipaddress.IPv4Network:
    """An IPv4 subnet from a network object or its text."""
    network = subnet if isinstance(subnet, ipaddress.IPv4Network) else ipaddress.ip_network(subnet)
    if not isinstance(network, ipaddress.IPv4Network):
        raise FlannelError(f"subnet: {subnet} is not an IPv4 subnet")
    return network


def lease_key(prefix: str, subnet: t.Any) -> str:
    """The key of a subnet's lease: ``<prefix>/subnets/10.5.34.0-24``."""
    network = _subnet(subnet)
    return go_path_join(prefix, "subnets", f"{network.network_address}-{network.prefixlen}")


def parse_subnet_key(key: str) -> ipaddress.IPv4Network | None:
    """The IPv4 subnet a lease key names (None for keys flanneld would not read as a lease)."""
    match = _SUBNET_KEY.search(key)
    if not match:
        return None
    try:
        return ipaddress.IPv4Network((match.group(1), int(match.group(2))))
    except ValueError:
        return None


def _mac(text: str) -> str:
    """A MAC address as Go's net.HardwareAddr prints it (lower case, colons)."""
    if not isinstance(text, str) or not _MAC.match(text):
        raise FlannelError(f"vtep_mac: {text!r} is not a MAC address; accepted: six hex pairs such as "
                           "0e:2a:5f:10:aa:01")
    return text.lower().replace("-", ":")


def render_lease(public_ip: str, backend_type: str, vtep_mac: str | None = None, vni: int = DEFAULT_VNI) -> str:
    """A lease value exactly as flanneld (0.18 and later) writes it for an IPv4-only node.

    vxlan carries the node's VTEP MAC and VNI (flanneld stores the VNI as a 16-bit number); host-gw only its type;
    flanneld's udp backend does not set a BackendType at all. Older flanneld releases read this too (Go's decoder
    ignores PublicIPv6 and VNI where their structs lack them).
    """
    address, problem = _ipv4_address(public_ip, "public_ip", "the node's public IPv4 address")
    if address is None:
        raise FlannelError(problem)
    if backend_type not in BACKEND_TYPES:
        raise FlannelError(f"backend_type: {backend_type!r} is not supported; accepted: {', '.join(BACKEND_TYPES)}")
    lease: dict[str, t.Any] = {"PublicIP": str(address), "PublicIPv6": None}
    if backend_type != "udp":
        lease["BackendType"] = backend_type
    if backend_type == "vxlan":
        if vtep_mac is None:
            raise FlannelError("vtep_mac: required for a vxlan lease (the MAC of the node's flannel.<VNI> device)")
        lease["BackendData"] = {"VNI": vni & 0xFFFF, "VtepMAC": _mac(vtep_mac)}
    elif vtep_mac is not None:
        raise FlannelError(f"vtep_mac: only for vxlan leases; {backend_type} leases carry no backend data")
    return json.dumps(lease, separators=(",", ":"))


def parse_lease(text: str) -> dict[str, t.Any]:
    """A lease value as flanneld reads it: public_ip, public_ipv6, backend_type, backend_data, vtep_mac, vni."""
    pairs = _load_pairs(text, "the lease")
    found, dummy = go_fields(pairs, ["PublicIP", "PublicIPv6", "BackendType", "BackendData", "BackendV6Data"],
                             "the lease")
    public_ip = _go_ip(found["PublicIP"], "PublicIP", 4) if "PublicIP" in found else None
    public_ipv6 = found.get("PublicIPv6")
    if public_ipv6 is not None:
        public_ipv6 = _go_ip(public_ipv6, "PublicIPv6", 6)
    backend_type = _go_value(found.get("BackendType"), "str", "BackendType") or ""
    data = _plain(found.get("BackendData"))
    vtep_mac = vni = None
    if isinstance(data, dict):
        fields, dummy = go_fields(found["BackendData"], ["VNI", "VtepMAC"], "BackendData")
        vni = _go_value(fields.get("VNI"), "int", "BackendData.VNI")
        if fields.get("VtepMAC") is not None:
            vtep_mac = _mac(fields["VtepMAC"])
    return {"public_ip": None if public_ip is None else str(public_ip),
            "public_ipv6": None if public_ipv6 is None else str(public_ipv6),
            "backend_type": backend_type, "backend_data": data, "vtep_mac": vtep_mac, "vni": vni}


def allocate_subnets(config: NetworkConfig, nodes: Mapping[str, str], existing_leases: Mapping[str, t.Any],
                     prefix: str = DEFAULT_PREFIX) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """Which lease each node keeps, which new leases to write and which to delete: ``(keep, add, remove)``.

    ``nodes`` maps node names to public IPs; ``existing_leases`` maps lease keys to their values (text or parsed).
    A node keeps an existing lease for its public IP when flanneld would still accept its subnet (the lowest one if
    there are several); every other lease key is removed; nodes without a lease get the lowest free subnets, in
    node-name order. Subnets released in the same call are handed out again only when no other subnet is free, so
    peers never see a subnet move between nodes in one change. Keys that are not lease keys are left alone.
    """
    plan = layout(config)
    owner_by_ip: dict[ipaddress.IPv4Address, str] = {}
    for node in sorted(nodes):
        address, problem = _ipv4_address(nodes[node], f"nodes[{node}]", "the node's public IPv4 address")
        if address is None:
            raise FlannelError(problem)
        if address in owner_by_ip:
            raise FlannelError(f"nodes: {owner_by_ip[address]} and {node} share the public IP {address}; flanneld "
                               "finds a node's lease by its public IP, so each node needs its own")
        owner_by_ip[address] = node
    leases = sorted((subnet, key) for subnet, key in ((parse_subnet_key(key), key) for key in existing_leases)
                    if subnet is not None)
    keep: dict[str, str] = {}
    held: set[ipaddress.IPv4Network] = set()
    released: set[ipaddress.IPv4Network] = set()
    remove: list[str] = []
    for subnet, key in leases:
        value = existing_leases[key]
        try:
            lease = parse_lease(value) if isinstance(value, str) else dict(value)
        except FlannelError:
            lease = {}
        public_ip = lease.get("public_ip")
        node = owner_by_ip.get(ipaddress.IPv4Address(public_ip)) if public_ip else None
        if node is not None and node not in keep and plan.holds(subnet) and subnet not in held:
            keep[node] = key
            held.add(subnet)
        else:
            remove.append(key)
            released.add(subnet)
    missing = [node for node in sorted(nodes) if node not in keep]
    fresh = (subnet for subnet in plan.subnets() if subnet not in held and subnet not in released)
    reused = (subnet for subnet in plan.subnets() if subnet not in held and subnet in released)
    add: dict[str, str] = {}
    for node in missing:
        subnet = next(fresh, None) or next(reused, None)
        if subnet is None:
            raise FlannelError(capacity_error(plan, len(nodes), "nodes") or "nodes: no free subnet left")
        add[node] = lease_key(prefix, subnet)
        held.add(t.cast(ipaddress.IPv4Network, subnet))
    return keep, add, remove


# etcdctl with ETCDCTL_API=2 (etcd 3.4 and 3.5 ship it): flags, output and errors.
V2_ENVIRON = {"ETCDCTL_API": "2", "LANG": "C", "LC_ALL": "C", "LC_MESSAGES": "C"}


def v2_argv(binary: str, connection: Connection, args: Sequence[str]) -> list[str]:
    """``etcdctl`` v2 argv: only the given endpoints (``--no-sync``), TLS files, timeouts, JSON output, ``args``."""
    argv = [binary, f"--endpoints={','.join(connection.endpoints)}", "--no-sync",
            f"--timeout={connection.dial_timeout}s", f"--total-timeout={connection.command_timeout}s"]
    for flag, value in (("--ca-file", connection.ca_cert), ("--cert-file", connection.client_cert),
                        ("--key-file", connection.client_key)):
        if value:
            argv.append(f"{flag}={value}")
    argv.append("--output=json")
    argv.extend(args)
    return argv


def parse_v2_node(text: str) -> dict[str, t.Any]:
    """The node of ``etcdctl -o json get/set/rm`` (key, value, createdIndex, modifiedIndex) and the action."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise FlannelError(f"could not read the JSON etcdctl (v2) printed: {exc}: {text[:200]!r}") from exc
    node = data.get("node") if isinstance(data, dict) else None
    if not isinstance(node, dict):
        raise FlannelError(f"etcdctl (v2) printed no node: {text[:200]!r}")
    return {"action": data.get("action", ""), "key": node.get("key", ""), "value": node.get("value", ""),
            "dir": bool(node.get("dir", False)), "created_index": node.get("createdIndex", 0),
            "modified_index": node.get("modifiedIndex", 0)}


def v2_key_missing(stderr: str) -> bool:
    """Whether etcdctl (v2) failed because the key does not exist (etcd error code 100)."""
    if "100: Key not found" in stderr:
        return True
    for line in stderr.splitlines():
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if isinstance(data, dict) and data.get("errorCode") == 100:
            return True
    return False


def v2_failure(stderr: str, stdout: str, endpoints: Sequence[str]) -> tuple[str, str]:
    """The kind of an etcdctl (v2) failure and a message naming the endpoints and the likely fix."""
    where = ", ".join(endpoints)
    detail = error_detail(stderr, stdout)
    if "response is invalid json" in stderr or "404 page not found" in stderr:
        return "v2_disabled", (f"etcd at {where} does not serve the v2 API ({detail}): start etcd 3.4 or 3.5 with "
                               "--enable-v2=true, or use etcd_api=v3 with flannel 0.18.0 or later (etcd 3.6 has no "
                               "v2 API)")
    if "is a directory" in stderr:
        return "is_directory", f"etcd at {where}: {detail}; the v2 keyspace has a directory where the key should be"
    return explain(classify(stderr, stdout), detail, list(endpoints))
