# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for the containerhost.platform.engine_network module, run through main() against a fake podman."""

from __future__ import annotations

import json
import os
import stat
import typing as t

from pathlib import Path

import pytest

from ansible.module_utils import basic

from ansible_collections.containerhost.platform.plugins.modules import engine_network

FIXTURES = Path(__file__).parents[1] / "module_utils" / "fixtures" / "engine_network"
PODMAN = "/usr/bin/podman"


class FakePodman:
    """podman 4.3 with netavark: networks are the files in a directory plus the default one, as podman reads them."""

    def __init__(self, network_dir: Path) -> None:
        self.network_dir = network_dir
        self.default = json.loads((FIXTURES / "podman-network-ls-default.json").read_text())[0]
        self.attached: dict[str, list[str]] = {}
        self.backend = (FIXTURES / "podman-info-backend.txt").read_text()
        self.calls: list[list[str]] = []

    def networks(self) -> list[dict[str, t.Any]]:
        """What `podman network ls --format json` prints: the files, then the default network."""
        found = [json.loads(path.read_text()) for path in sorted(self.network_dir.glob("*.json"))]
        return [*found, self.default]

    def run_command(self, argv: t.Any, **kwargs: t.Any) -> tuple[int, str, str]:
        """Stand-in for AnsibleModule.run_command."""
        assert isinstance(argv, list) and argv[0] == PODMAN
        assert kwargs["environ_update"]["LC_ALL"] == "C"
        args = argv[1:]
        self.calls.append(args)
        if args == ["info", "--format", "{{.Host.NetworkBackend}}"]:
            return 0, self.backend, ""
        if args == ["network", "ls", "--format", "json"]:
            return 0, json.dumps(self.networks(), indent=2), ""
        if args[:2] == ["ps", "--all"]:
            name = args[args.index("--filter") + 1].split("=", 1)[1]
            return 0, "".join(f"{container}\n" for container in self.attached.get(name, [])), ""
        if args[:2] == ["network", "rm"]:
            name = args[-1]
            if self.attached.get(name) and "--force" not in args:
                return 2, "", (FIXTURES / "podman-network-rm-in-use.txt").read_text().split("\nrc=")[0]
            self.attached.pop(name, None)
            (self.network_dir / f"{name}.json").unlink()
            return 0, f"{name}\n", ""
        raise AssertionError(f"unexpected podman call {args}")

    def verbs(self) -> list[str]:
        """The podman subcommands called so far."""
        return [" ".join(args[:2]) for args in self.calls]


@pytest.fixture
def podman(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakePodman:
    """A fake podman with an empty network directory."""
    network_dir = tmp_path / "networks"
    network_dir.mkdir()
    fake = FakePodman(network_dir)
    monkeypatch.setattr(basic.AnsibleModule, "run_command", lambda self, argv, **kw: fake.run_command(argv, **kw))
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, *a, **kw: f"/usr/bin/{name}")
    return fake


@pytest.fixture
def subnet_env(tmp_path: Path) -> Path:
    """flanneld's lease file for 10.5.34.0/24."""
    path = tmp_path / "subnet.env"
    path.write_text((FIXTURES / "subnet.env").read_text())
    return path


def run(set_module_args, module_exits, args: dict[str, t.Any], check: bool = False,
        diff: bool = False) -> dict[str, t.Any]:
    """main() with these arguments; the result (exit or failure)."""
    set_module_args({**args, "_ansible_check_mode": check, "_ansible_diff": diff})
    try:
        engine_network.main()
    except (module_exits.exit, module_exits.fail) as exc:
        return exc.result
    raise AssertionError("the module neither exited nor failed")


def podman_args(podman: FakePodman, **extra: t.Any) -> dict[str, t.Any]:
    """Arguments pointing the module at the fake's network directory."""
    return {"network_dir": str(podman.network_dir), **extra}


def test_podman_network_created_from_the_lease_check_mode_first(podman, subnet_env, set_module_args, module_exits):
    args = podman_args(podman, subnet_env=str(subnet_env))
    predicted = run(set_module_args, module_exits, args, check=True, diff=True)
    assert predicted["changed"] is True and not predicted.get("failed")
    assert list(podman.network_dir.iterdir()) == []
    assert "network rm" not in podman.verbs()
    assert predicted["diff"]["before"] == {}
    assert predicted["diff"]["after"]["subnets"] == [{"subnet": "10.5.34.0/24", "gateway": "10.5.34.1"}]

    created = run(set_module_args, module_exits, args, diff=True)
    assert created["changed"] is True
    assert created["network"] == predicted["network"] == predicted["diff"]["after"]
    assert created["network"] == {"name": "flannel", "driver": "bridge", "interface_name": "flannelbr0",
                                  "subnets": [{"subnet": "10.5.34.0/24", "gateway": "10.5.34.1"}], "mtu": 1450,
                                  "dns_enabled": True, "internal": False, "ipv6_enabled": False}
    assert created["interface_name"] == "flannelbr0" and created["recreated"] is False
    assert created["target"] == {"subnet": "10.5.34.0/24", "gateway": "10.5.34.1", "mtu": 1450, "ip_masq": True,
                                 "overlay_network": "10.5.0.0/16"}
    path = podman.network_dir / "flannel.json"
    assert created["network_file"] == str(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    data = json.loads(path.read_text())
    assert len(data["id"]) == 64 and data["options"] == {"mtu": "1450"}
    assert data["labels"] == {"io.containerhost.platform.managed-by": "engine_network"}

    again = run(set_module_args, module_exits, args, check=True)
    assert again["changed"] is False and again["differences"] == []
    again = run(set_module_args, module_exits, args)
    assert again["changed"] is False and json.loads(path.read_text()) == data


def test_podman_network_recreated_when_the_mtu_changes(podman, set_module_args, module_exits):
    args = podman_args(podman, subnet="10.5.34.0/24", mtu=1450)
    run(set_module_args, module_exits, args)
    podman.calls.clear()
    changed = run(set_module_args, module_exits, {**args, "mtu": 1400}, diff=True)
    assert changed["changed"] is True and changed["recreated"] is True and changed["differences"] == ["mtu"]
    assert changed["diff"]["before"]["mtu"] == 1450 and changed["diff"]["after"]["mtu"] == 1400
    assert ["network", "rm", "flannel"] in podman.calls
    assert json.loads((podman.network_dir / "flannel.json").read_text())["options"] == {"mtu": "1400"}


def test_attached_containers_refuse_a_recreation_unless_forced(podman, set_module_args, module_exits):
    args = podman_args(podman, subnet="10.5.34.0/24", mtu=1450)
    run(set_module_args, module_exits, args)
    podman.attached["flannel"] = (FIXTURES / "podman-ps-names.txt").read_text().split()
    before = (podman.network_dir / "flannel.json").read_text()

    refused = run(set_module_args, module_exits, {**args, "subnet": "10.5.35.0/24"})
    assert refused["failed"] is True
    assert refused["msg"] == ("name: the podman network flannel differs in subnets and must be created again, but "
                              "containers are attached: idle1, web1; stop and remove them first, or set force: true "
                              "to let podman remove them with the network")
    assert refused["containers"] == ["idle1", "web1"]
    assert (podman.network_dir / "flannel.json").read_text() == before
    assert "network rm" not in podman.verbs()

    predicted = run(set_module_args, module_exits, {**args, "subnet": "10.5.35.0/24", "force": True}, check=True)
    assert predicted["changed"] is True and predicted["removed_containers"] == ["idle1", "web1"]
    assert (podman.network_dir / "flannel.json").read_text() == before

    forced = run(set_module_args, module_exits, {**args, "subnet": "10.5.35.0/24", "force": True})
    assert forced["changed"] is True and forced["recreated"] is True
    assert forced["removed_containers"] == ["idle1", "web1"]
    assert ["network", "rm", "--force", "flannel"] in podman.calls
    assert forced["network"]["subnets"] == [{"subnet": "10.5.35.0/24", "gateway": "10.5.35.1"}]


def test_podman_network_removed(podman, set_module_args, module_exits):
    run(set_module_args, module_exits, podman_args(podman, subnet="10.5.34.0/24", mtu=1450))
    predicted = run(set_module_args, module_exits, podman_args(podman, state="absent"), check=True)
    assert predicted["changed"] is True and predicted["network"] is None
    assert (podman.network_dir / "flannel.json").exists()
    removed = run(set_module_args, module_exits, podman_args(podman, state="absent"))
    assert removed["changed"] is True and not (podman.network_dir / "flannel.json").exists()
    assert run(set_module_args, module_exits, podman_args(podman, state="absent"))["changed"] is False


def test_other_networks_and_backend_refused_before_any_change(podman, set_module_args, module_exits):
    overlapping = run(set_module_args, module_exits, podman_args(podman, subnet="10.88.4.0/24", mtu=1450))
    assert overlapping["failed"] is True
    assert overlapping["msg"].startswith("subnet: 10.88.4.0/24 overlaps the subnet 10.88.0.0/16 of the podman network "
                                         "podman")
    same_bridge = run(set_module_args, module_exits,
                      podman_args(podman, subnet="10.5.34.0/24", mtu=1450, interface_name="podman0"))
    assert same_bridge["msg"].startswith("interface_name: podman0 is already the bridge of the podman network podman")
    podman.backend = "cni\n"
    cni = run(set_module_args, module_exits, podman_args(podman, subnet="10.5.34.0/24", mtu=1450))
    assert cni["msg"].startswith("engine: podman's network backend is cni; this module writes netavark network files")
    assert list(podman.network_dir.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({}, "subnet_env or subnet: one is required with state=present"),
        ({"subnet": "10.5.34.0/24"}, "missing parameter(s) required by 'subnet': mtu"),
        ({"subnet": "10.5.34.0/24", "mtu": 1450, "ip_masq": False}, "ip_masq: only for engine=docker"),
        ({"subnet": "10.5.34.0/24", "mtu": 1450, "engine": "docker", "force": True}, "force: only for engine=podman"),
        ({"subnet": "10.5.34.0/24", "mtu": 1450, "name": "-x"}, "name: '-x' is not a podman network name"),
        ({"subnet": "10.5.34.0/24", "mtu": 1450, "interface_name": "flannel-bridge-0"},
         "interface_name: 'flannel-bridge-0' is not a usable interface name"),
        ({"subnet": "10.5.34.0/24", "mtu": 40}, "mtu: 40 is out of range; accepted: an MTU from 68 to 65535"),
        ({"subnet": "10.5.34.0/24", "mtu": 1450, "overlay_network": "10.6.0.0/16"},
         "subnet: 10.5.34.0/24 is not inside the overlay network 10.6.0.0/16 (overlay_network)"),
        ({"subnet_env": "/nonexistent/subnet.env"},
         "subnet_env: /nonexistent/subnet.env does not exist; flanneld writes it once it holds a lease"),
    ],
)
def test_bad_input_refused_naming_the_field(podman, set_module_args, module_exits, args, message):
    result = run(set_module_args, module_exits, podman_args(podman, **args))
    assert result["failed"] is True
    assert result["msg"].startswith(message)
    assert podman.calls == [] and list(podman.network_dir.iterdir()) == []


def test_bad_subnet_env_refused_naming_the_key(podman, tmp_path, set_module_args, module_exits):
    path = tmp_path / "subnet.env"
    path.write_text("FLANNEL_NETWORK=10.5.0.0/16\nFLANNEL_SUBNET=10.6.1.1/24\nFLANNEL_MTU=1450\n")
    result = run(set_module_args, module_exits, podman_args(podman, subnet_env=str(path)))
    assert result["msg"] == (f"subnet_env ({path}): FLANNEL_SUBNET: 10.6.1.0/24 is not inside the overlay network "
                             f"10.5.0.0/16 (subnet_env ({path}): FLANNEL_NETWORK); the host's subnet must be one of "
                             "the overlay's subnets")
    path.write_text("FLANNEL_SUBNET 10.5.1.1/24\n")
    result = run(set_module_args, module_exits, podman_args(podman, subnet_env=str(path)))
    assert result["msg"] == f"subnet_env ({path}): line 1: 'FLANNEL_SUBNET 10.5.1.1/24' is not a KEY=VALUE assignment"
    assert podman.calls == []


def test_docker_daemon_json_merged(subnet_env, tmp_path, set_module_args, module_exits, warnings):
    daemon_json = tmp_path / "docker" / "daemon.json"
    daemon_json.parent.mkdir()
    daemon_json.write_text('{"log-driver": "journald", "mtu": 1500}\n')
    daemon_json.chmod(0o600)
    args = {"engine": "docker", "subnet_env": str(subnet_env), "daemon_json": str(daemon_json)}

    predicted = run(set_module_args, module_exits, args, check=True, diff=True)
    assert predicted["changed"] is True and predicted["restart_required"] is True
    assert predicted["changed_keys"] == ["bip", "mtu", "ip-masq"]
    assert daemon_json.read_text() == '{"log-driver": "journald", "mtu": 1500}\n'
    assert json.loads(predicted["diff"]["after"]) == {"log-driver": "journald", "mtu": 1450, "bip": "10.5.34.1/24",
                                                      "ip-masq": False}

    written = run(set_module_args, module_exits, args)
    assert written["changed"] is True and written["restart_required"] is True
    assert json.loads(daemon_json.read_text()) == json.loads(predicted["diff"]["after"])
    assert stat.S_IMODE(os.stat(daemon_json).st_mode) == 0o644
    assert any("docker uses it after a restart" in text for text in warnings)

    again = run(set_module_args, module_exits, args)
    assert again["changed"] is False and again["restart_required"] is False and again["changed_keys"] == []

    removed = run(set_module_args, module_exits, {"engine": "docker", "state": "absent",
                                                  "daemon_json": str(daemon_json)})
    assert removed["changed_keys"] == ["bip", "mtu", "ip-masq"]
    assert json.loads(daemon_json.read_text()) == {"log-driver": "journald"}


def test_docker_absent_file_and_bad_json(tmp_path, set_module_args, module_exits):
    daemon_json = tmp_path / "daemon.json"
    absent = run(set_module_args, module_exits, {"engine": "docker", "state": "absent",
                                                 "daemon_json": str(daemon_json)})
    assert absent["changed"] is False and not daemon_json.exists()
    created = run(set_module_args, module_exits, {"engine": "docker", "subnet": "10.5.9.0/24", "mtu": 1450,
                                                  "ip_masq": False, "daemon_json": str(daemon_json)})
    assert json.loads(daemon_json.read_text()) == {"bip": "10.5.9.1/24", "mtu": 1450, "ip-masq": False}
    assert created["changed"] is True
    daemon_json.write_text("{not json")
    broken = run(set_module_args, module_exits, {"engine": "docker", "subnet": "10.5.9.0/24", "mtu": 1450,
                                                 "daemon_json": str(daemon_json)})
    assert broken["msg"].startswith(f"daemon_json: {daemon_json} is not valid JSON")
    assert daemon_json.read_text() == "{not json"
