# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for the containerhost.platform.vxlan_overlay module, run through main() against a fake kernel that
answers ip/bridge in iproute2's JSON (the shapes captured on a testbed host) and applies the commands it gets."""

from __future__ import annotations

import copy
import json
import typing as t

from pathlib import Path

import pytest

from ansible_collections.containerhost.platform.plugins.modules import vxlan_overlay

FIXTURES = Path(__file__).parents[1] / "module_utils" / "fixtures" / "vxlan"
H1, H2, H3 = "172.29.219.11", "172.29.219.12", "172.29.219.13"
MAC1, MAC2, MAC3 = "0e:fc:ac:1d:db:0b", "0e:fc:ac:1d:db:0c", "0e:fc:ac:1d:db:0d"
PEERS = [{"name": "h1", "subnet": "10.5.1.0/24", "public_ip": H1},
         {"name": "h2", "subnet": "10.5.2.0/24", "public_ip": H2, "key": "/coreos.com/network/subnets/10.5.2.0-24"},
         {"name": "h3", "subnet": "10.5.3.0/24", "public_ip": H3, "backend": "vxlan", "reservation": True}]
PARAMS = {"vni": 1, "local_ip": H1, "subnet": "10.5.1.0/24", "peers": PEERS}


class FakeKernel:
    """One network namespace: h1's captured lo and eth0, and whatever the module creates."""

    def __init__(self) -> None:
        captured = json.loads((FIXTURES / "addr-two-peers.json").read_text())
        self.base = [link for link in captured if link["ifname"] != "flannel.1"]
        self.template = next(link for link in captured if link["ifname"] == "flannel.1")
        self.device: dict[str, t.Any] | None = None
        self.routes: list[dict[str, t.Any]] = []
        self.neigh: list[dict[str, t.Any]] = []
        self.fdb: list[dict[str, t.Any]] = []
        self.sysctl: dict[str, str] = {"ipv4/ip_forward": "0", "ipv6/conf/default/accept_ra": "1"}
        self.commands: list[str] = []
        self.fail_on: str | None = None

    def run_command(self, argv: t.Any, **kwargs: t.Any) -> tuple[int, str, str]:
        """Stand-in for AnsibleModule.run_command."""
        assert isinstance(argv, list) and argv[0].startswith("/usr/sbin/")
        assert kwargs["environ_update"]["LC_ALL"] == "C"
        tool, args = argv[0].rsplit("/", 1)[1], argv[1:]
        text = " ".join([tool, *args])
        if self.fail_on and text.startswith(self.fail_on):
            return 2, "", "RTNETLINK answers: Operation not permitted\n"
        if "-j" in args:
            return self.show(tool, args)
        self.commands.append(text)
        getattr(self, f"do_{tool}")(args)
        return 0, "", ""

    def show(self, tool: str, args: list[str]) -> tuple[int, str, str]:
        """The JSON reads."""
        if args[:4] == ["-j", "-d", "addr", "show"]:
            return 0, json.dumps(self.base + ([self.device] if self.device else [])), ""
        if self.device is None or args[-1] != self.device["ifname"]:
            return 1, "", f'Cannot find device "{args[-1]}"\n'
        table = {"route": self.routes, "neigh": self.neigh, "fdb": self.fdb}[args[1]]
        return 0, json.dumps(table), ""

    def do_ip(self, args: list[str]) -> None:
        """ip link/addr/neigh/route changes."""
        obj, verb, rest = args[0], args[1], args[2:]
        if obj == "link" and verb == "add":
            opts = dict(zip(rest[1::2], rest[2::2]))
            assert rest[-1] == "nolearning" and rest[rest.index("type") + 1] == "vxlan"
            device = copy.deepcopy(self.template)
            device.update(ifname=rest[0], address=opts["address"], mtu=int(opts["mtu"]), flags=["BROADCAST", "MULTICAST"],
                          addr_info=[])
            info = device["linkinfo"]["info_data"]
            info.update(id=int(rest[rest.index("id") + 1]), local=rest[rest.index("local") + 1],
                        link=rest[rest.index("dev") + 1], port=int(rest[rest.index("dstport") + 1]), learning=False)
            self.device = device
            self.sysctl[f"ipv6/conf/{rest[0]}/accept_ra"] = self.sysctl["ipv6/conf/default/accept_ra"]
        elif obj == "link" and verb == "del":
            self.sysctl.pop(f"ipv6/conf/{rest[1]}/accept_ra")
            self.device, self.routes, self.neigh, self.fdb = None, [], [], []
        elif obj == "link" and verb == "set":
            assert self.device and rest[1] == self.device["ifname"]
            if rest[2] == "up":
                self.device["flags"] = ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"]
            else:
                self.device[rest[2]] = int(rest[3]) if rest[2] == "mtu" else rest[3]
        elif obj == "addr":
            local, length = rest[0].split("/")
            entry = {"family": "inet", "local": local, "prefixlen": int(length), "scope": "global"}
            assert self.device
            if verb == "add":
                self.device["addr_info"].append(entry)
            else:
                self.device["addr_info"] = [a for a in self.device["addr_info"] if a["local"] != local]
        elif obj == "neigh":
            self.neigh = [n for n in self.neigh if n["dst"] != rest[0]]
            if verb == "replace":
                self.neigh.append({"dst": rest[0], "lladdr": rest[2], "state": ["PERMANENT"]})
        elif obj == "route":
            self.routes = [r for r in self.routes if r["dst"] != rest[0]]
            if verb == "replace":
                self.routes.append({"dst": rest[0], "gateway": rest[2], "flags": ["onlink"]})
        else:
            raise AssertionError(f"unexpected ip {args}")

    def do_bridge(self, args: list[str]) -> None:
        """bridge fdb replace/del."""
        verb, mac = args[1], args[2]
        dst = args[args.index("dst") + 1] if "dst" in args else None
        self.fdb = [e for e in self.fdb if not (e["mac"] == mac and (verb == "replace" or e.get("dst") == dst))]
        if verb == "replace":
            self.fdb.append({"mac": mac, "dst": dst, "flags": ["self"], "state": "permanent"})

    def do_sysctl(self, args: list[str]) -> None:
        """sysctl -w a.b.c=v (a '/' inside a component stands for '.')."""
        name, value = args[1].split("=")
        self.sysctl["/".join(part.replace("/", ".") for part in name.split(".")[1:])] = value


@pytest.fixture
def kernel(fake_commands, monkeypatch: pytest.MonkeyPatch) -> FakeKernel:
    """A fake namespace with lo and eth0 only."""
    fake = fake_commands(FakeKernel(), "/usr/sbin")
    monkeypatch.setattr(vxlan_overlay, "read_sysctl", fake.sysctl.get)
    return fake


@pytest.fixture
def run(kernel, warnings, run_main) -> t.Callable[..., dict[str, t.Any]]:
    """Run the module; ``fail=True`` expects a failure. Returns the result."""

    def _run(check: bool = False, diff: bool = False, fail: bool = False, **params: t.Any) -> dict[str, t.Any]:
        return run_main(vxlan_overlay.main, params, check=check, diff=diff, fail=fail)

    return _run


def test_programs_what_flanneld_programs_then_runs_nothing(kernel, run):
    predicted = run(**PARAMS, check=True, diff=True)
    assert kernel.commands == [] and kernel.device is None
    result = run(**PARAMS, diff=True)
    assert result == predicted
    assert result["changed"] is True
    assert kernel.commands == [
        f"ip link add flannel.1 address {MAC1} mtu 1450 type vxlan id 1 local {H1} dev eth0 dstport 8472 nolearning",
        "ip addr add 10.5.1.0/32 dev flannel.1",
        "ip link set dev flannel.1 up",
        "sysctl -w net.ipv6.conf.flannel/1.accept_ra=0",
        f"ip neigh replace 10.5.2.0 lladdr {MAC2} dev flannel.1 nud permanent",
        f"bridge fdb replace {MAC2} dev flannel.1 dst {H2} self permanent",
        "ip route replace 10.5.2.0/24 via 10.5.2.0 dev flannel.1 onlink",
        f"ip neigh replace 10.5.3.0 lladdr {MAC3} dev flannel.1 nud permanent",
        f"bridge fdb replace {MAC3} dev flannel.1 dst {H3} self permanent",
        "ip route replace 10.5.3.0/24 via 10.5.3.0 dev flannel.1 onlink",
        "sysctl -w net.ipv4.ip_forward=1",
    ]
    assert [" ".join(op["argv"]) for op in result["ops"]] == kernel.commands
    assert result["device"] == {"name": "flannel.1", "vni": 1, "port": 8472, "local_ip": H1, "underlay_dev": "eth0",
                                "vtep_mac": MAC1, "mtu": 1450, "up": True, "addresses": ["10.5.1.0/32"],
                                "learning": False, "gbp": False}
    assert [peer["name"] for peer in result["peers"]] == ["h2", "h3"]
    assert result["ip_forward"] == {"before": False, "after": True} and result["recreated"] == []
    assert result["diff"]["before"] == "device: absent\nnet.ipv4.ip_forward = 0\n"
    assert kernel.sysctl["ipv6/conf/flannel.1/accept_ra"] == "0"
    kernel.commands.clear()
    again = run(**PARAMS, diff=True)
    assert again["changed"] is False and again["ops"] == [] and kernel.commands == []
    assert again["diff"]["before"] == again["diff"]["after"] == result["diff"]["after"]


def test_removed_peer_is_removed_and_a_new_one_added(kernel, run):
    run(**PARAMS)
    kernel.commands.clear()
    peers = [PEERS[0], PEERS[2], {"subnet": "10.5.4.0/24", "public_ip": "172.29.219.14"}]
    predicted = run(**{**PARAMS, "peers": peers}, check=True)
    assert kernel.commands == []
    result = run(**{**PARAMS, "peers": peers})
    assert result == predicted
    assert kernel.commands == [
        "ip route del 10.5.2.0/24 dev flannel.1", "ip neigh del 10.5.2.0 dev flannel.1",
        f"bridge fdb del {MAC2} dev flannel.1 dst {H2} self",
        "ip neigh replace 10.5.4.0 lladdr 0e:fc:ac:1d:db:0e dev flannel.1 nud permanent",
        "bridge fdb replace 0e:fc:ac:1d:db:0e dev flannel.1 dst 172.29.219.14 self permanent",
        "ip route replace 10.5.4.0/24 via 10.5.4.0 dev flannel.1 onlink",
    ]
    assert sorted(r["dst"] for r in kernel.routes) == ["10.5.3.0/24", "10.5.4.0/24"]
    assert run(**{**PARAMS, "peers": peers})["changed"] is False


def test_vni_change_recreates_the_device(kernel, run):
    run(**PARAMS)
    kernel.commands.clear()
    result = run(**{**PARAMS, "vni": 2, "device": "flannel.1"})
    assert result["recreated"] == ["vni 1 -> 2"]
    assert kernel.commands[:2] == ["ip link del dev flannel.1", f"ip link add flannel.1 address {MAC1} mtu 1450 type "
                                   f"vxlan id 2 local {H1} dev eth0 dstport 8472 nolearning"]
    assert kernel.device is not None and kernel.device["linkinfo"]["info_data"]["id"] == 2 and len(kernel.routes) == 2
    assert run(**{**PARAMS, "vni": 2, "device": "flannel.1"})["changed"] is False


def test_other_backends_are_skipped_with_a_warning(kernel, run, warnings):
    peers = [*PEERS, {"name": "gw1", "subnet": "10.5.9.0/24", "public_ip": "172.29.219.19", "backend": "host-gw"}]
    result = run(**{**PARAMS, "peers": peers})
    assert result["skipped_peers"] == [{"name": "gw1", "subnet": "10.5.9.0/24", "backend": "host-gw"}]
    assert warnings == ["peers: gw1 has backend host-gw; the vxlan overlay ignores it, as flanneld does"]
    assert "10.5.9.0/24" not in [r["dst"] for r in kernel.routes]


def test_bad_input_fails_before_any_change(kernel, run):
    result = run(**{**PARAMS, "mtu": 9000, "peers": [{"subnet": "10.5.2.0/24", "public_ip": H2, "vtep_mac": MAC1}]},
                 fail=True)
    assert result["msg"] == ("mtu: 9000 does not fit: eth0 has MTU 1500, less 50 bytes of VXLAN headers leaves 1450; "
                             "accepted: 68 to 1450; peers: 172.29.219.12's vtep_mac 0e:fc:ac:1d:db:0b is this node's "
                             "own vtep_mac")
    assert kernel.commands == [] and kernel.device is None


def test_a_failing_command_reports_what_ran(kernel, run):
    kernel.fail_on = "bridge fdb replace"
    result = run(**PARAMS, fail=True)
    assert result["msg"].startswith(f"bridge fdb replace {MAC2} dev flannel.1 dst {H2} self permanent failed (rc 2): "
                                    "RTNETLINK answers: Operation not permitted")
    assert result["cmd"][0] == "/usr/sbin/bridge" and result["rc"] == 2
    assert result["applied"][-1] == ["ip", "neigh", "replace", "10.5.2.0", "lladdr", MAC2, "dev", "flannel.1", "nud",
                                     "permanent"]


def test_absent_deletes_the_device_once(kernel, run):
    run(**PARAMS)
    kernel.commands.clear()
    predicted = run(vni=1, state="absent", check=True, diff=True)
    assert kernel.device is not None
    result = run(vni=1, state="absent", diff=True)
    assert result == predicted and result["changed"] is True and result["device"] is None
    assert kernel.commands == ["ip link del dev flannel.1"] and kernel.device is None
    assert result["diff"]["after"] == "device: absent\nnet.ipv4.ip_forward = 1\n"
    assert run(vni=1, state="absent")["changed"] is False


def test_absent_needs_a_name(kernel, run):
    assert run(state="absent", fail=True)["msg"].startswith("device or vni: give one")


def test_ip_forward_false_is_left_alone(kernel, run):
    result = run(**PARAMS, ip_forward=False)
    assert result["ip_forward"] == {"before": False, "after": False}
    assert kernel.sysctl["ipv4/ip_forward"] == "0"
