# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for the containerhost.platform.system_container module, run through main() against a fake host:
a registry behind a fake skopeo, a fake systemd that "runs" the current deployment, and real files in tmp_path."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
import typing as t

from pathlib import Path

import pytest

from ansible_collections.containerhost.platform.plugins.module_utils import _resource_control as rc
from ansible_collections.containerhost.platform.plugins.modules import system_container as module

REGISTRY = "registry.example:5000"
REPO = f"{REGISTRY}/infra/etcd"
VM = rc.HostLimits(systemd_version=252, cgroup_mode="v2", controllers=("cpu", "io", "memory", "pids"),
                   online_cpus=(0, 1), numa_nodes=(0,), memory_bytes=1547194368, tasks_max_system=11620)
TEMPLATE = {"process": {"args": ["/usr/bin/etcd"], "env": ["ETCD_NAME=$ETCD_NAME", "ETCD_DATA_DIR=/var/lib/etcd"]}}
BAD_TEMPLATE = {"process": {"args": ["/bin/false"]}}


def layer(files: dict[str, bytes]) -> bytes:
    """A gzip tar layer with these files (and their directories)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(data), 0o755, 1000
            archive.addfile(info, io.BytesIO(data))
    return gzip.compress(buffer.getvalue(), mtime=0)


class Image:
    """One image in the fake registry: blobs by digest and the manifest's exact bytes."""

    def __init__(self, variant: str, template: dict[str, t.Any] | None) -> None:
        files = {"usr/bin/etcd": f"etcd {variant}".encode(), "etc/passwd": b"root:x:0:0::/root:/bin/sh\n"}
        if template is not None:
            files["exports/config.json.template"] = json.dumps(template).encode()
            files["exports/manifest.json"] = json.dumps({"defaultValues": {"ETCD_NAME": "default"}}).encode()
        self.blobs: dict[str, bytes] = {}
        layer_digest = self.add(layer(files))
        config = {"architecture": "amd64", "os": "linux",
                  "config": {"Entrypoint": ["/usr/bin/etcd"], "Env": ["PATH=/usr/bin:/bin", f"VARIANT={variant}"],
                             "Labels": {"variant": variant}}}
        config_bytes = json.dumps(config).encode()
        config_digest = self.add(config_bytes)
        manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest,
                               "size": len(config_bytes)},
                    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest,
                                "size": len(self.blobs[layer_digest])}]}
        self.manifest = json.dumps(manifest)
        self.digest = self.add(self.manifest.encode())

    def add(self, data: bytes) -> str:
        digest = f"sha256:{hashlib.sha256(data).hexdigest()}"
        self.blobs[digest] = data
        return digest

    def write_layout(self, directory: Path) -> None:
        """What skopeo copy writes into an oci: destination."""
        blobs = directory / "blobs" / "sha256"
        blobs.mkdir(parents=True)
        for digest, data in self.blobs.items():
            (blobs / digest.split(":")[1]).write_bytes(data)
        (directory / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": self.digest}]}))


IMAGES = {"v1": Image("v1", TEMPLATE), "v2": Image("v2", TEMPLATE), "bad": Image("bad", BAD_TEMPLATE),
          "plain": Image("plain", None)}


class FakeHost:
    """skopeo, podman, systemctl and the health command of one host."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.root_dir = tmp_path / "sc"
        self.unit_dir = tmp_path / "system"
        self.unit_dir.mkdir()
        self.tags = dict(IMAGES)
        self.calls: list[list[str]] = []
        self.active: dict[str, dict[str, str]] = {}
        self.enabled: set[str] = set()
        self.loaded: dict[str, str] = {}
        self.invocations = 0
        self.podman_images: set[str] = set()

    # ---- dispatch
    def run_command(self, argv: t.Any, **kwargs: t.Any) -> tuple[int, str, str]:
        assert isinstance(argv, list), argv
        self.calls.append(list(argv))
        tool = os.path.basename(argv[0])
        return getattr(self, tool.replace("-", "_"))(argv[1:])

    def mutating(self) -> list[list[str]]:
        """Calls that change something (not show, not inspect, not the health command)."""
        readers = (["systemctl", "show"], ["skopeo", "inspect"], ["podman", "image"], ["systemctl", "--version"])
        return [call for call in self.calls if [os.path.basename(call[0]), call[1]] not in readers
                and os.path.basename(call[0]) != "etcdctl"]

    # ---- chcon (SELinux labelling; recorded in calls)
    def chcon(self, args: list[str]) -> tuple[int, str, str]:
        assert args[:2] == ["-R", "-h"], args
        return 0, "", ""

    # ---- skopeo
    def image_for(self, reference: str) -> Image | None:
        reference = reference.removeprefix("docker://")
        if "@" in reference:
            digest = reference.split("@", 1)[1]
            return next((image for image in IMAGES.values() if image.digest == digest), None)
        return self.tags.get(reference.rsplit(":", 1)[1]) if reference.startswith(REPO + ":") else None

    def skopeo(self, args: list[str]) -> tuple[int, str, str]:
        if args[0] == "inspect":
            image = self.image_for(args[-1])
            if image is None:
                return 1, "", 'time="x" level=fatal msg="Error: reading manifest: manifest unknown"\n'
            return 0, image.manifest, ""
        if args[0] == "copy":
            image = self.image_for(args[-2])
            assert image is not None and "@" in args[-2], args
            destination = args[-1]
            assert destination.startswith("oci:") and destination.endswith(":image")
            image.write_layout(Path(destination[len("oci:"):-len(":image")]))
            Path(args[args.index("--digestfile") + 1]).write_text(image.digest)
            return 0, "", ""
        raise AssertionError(args)

    # ---- podman
    def podman(self, args: list[str]) -> tuple[int, str, str]:
        if args[:2] == ["image", "inspect"]:
            names = args[3:]
            found = [{"Id": "f" * 64, "Digest": name.split("@")[1], "RepoDigests": [name]} for name in names
                     if name in self.podman_images]
            missing = [name for name in names if name not in self.podman_images]
            err = "".join(f"Error: inspecting object: {name}: image not known\n" for name in missing)
            return (125 if missing else 0), json.dumps(found), err
        if args[0] == "pull":
            self.podman_images.add(args[-1])
            return 0, "f" * 64 + "\n", ""
        raise AssertionError(args)

    # ---- systemd
    def unit_text(self, unit: str) -> str | None:
        path = self.unit_dir / unit
        return path.read_text() if path.exists() else None

    def crashes(self, unit: str) -> bool:
        """Whether the loaded unit runs a deployment that exits at once."""
        text = self.loaded.get(unit, "")
        if "podman" in text:
            return IMAGES["bad"].digest in text
        config = json.loads((self.root_dir / unit.removesuffix(".service") / "current" / "config.json").read_text())
        return config["process"]["args"][0] == "/bin/false"

    def show(self, unit: str) -> dict[str, str]:
        loaded = unit in self.loaded
        state = self.active.get(unit, {"ActiveState": "inactive", "SubState": "dead"})
        return {"Id": unit, "LoadState": "loaded" if loaded else "not-found", "UnitFileState":
                ("enabled" if unit in self.enabled else "disabled") if loaded else "",
                "NeedDaemonReload": "yes" if loaded and self.loaded[unit] != self.unit_text(unit) else "no",
                "MainPID": "0", "InvocationID": "", "NRestarts": "0", "Result": "success", "ExecMainStatus": "0",
                **state}

    def systemctl(self, args: list[str]) -> tuple[int, str, str]:
        verb = args[0]
        units = args[args.index("--") + 1:] if "--" in args else []
        if verb == "--version":
            return 0, "systemd 252 (252.19-1~deb12u1)\n+PAM\n", ""
        if verb == "show":
            wanted = args[1][len("--property="):].split(",")
            return 0, "\n\n".join("\n".join(f"{key}={self.show(unit).get(key, '')}" for key in wanted)
                                  for unit in units) + "\n", ""
        if verb == "daemon-reload":
            self.loaded = {path.name: path.read_text() for path in self.unit_dir.glob("*.service")}
        elif verb == "enable":
            self.enabled.update(units)
        elif verb == "disable":
            self.enabled.difference_update(units)
        elif verb in ("start", "restart"):
            for unit in units:
                self.invocations += 1
                if self.crashes(unit):
                    self.active[unit] = {"ActiveState": "activating", "SubState": "auto-restart",
                                         "Result": "exit-code", "ExecMainStatus": "1", "NRestarts": "0"}
                else:
                    self.active[unit] = {"ActiveState": "active", "SubState": "running",
                                         "InvocationID": f"inv{self.invocations}",
                                         "MainPID": str(100 + self.invocations)}
        elif verb == "stop":
            for unit in units:
                self.active.pop(unit, None)
        elif verb == "reset-failed":
            pass
        else:
            raise AssertionError(args)
        return 0, "", ""

    def etcdctl(self, args: list[str]) -> tuple[int, str, str]:
        up = any(state.get("ActiveState") == "active" for state in self.active.values())
        return (0, "127.0.0.1:2379 is healthy: successfully committed proposal\n", "") if up else \
            (1, "", "127.0.0.1:2379 is unhealthy: failed to commit proposal: context deadline exceeded\n")

    def verbs(self) -> list[str]:
        return [" ".join([os.path.basename(call[0]), call[1]]) for call in self.mutating()]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def host(tmp_path: Path, fake_commands, monkeypatch: pytest.MonkeyPatch) -> FakeHost:
    fake = fake_commands(FakeHost(tmp_path))
    proc = tmp_path / "proc"
    (proc / "1").mkdir(parents=True)
    (proc / "1" / "cgroup").write_text("0::/init.scope\n")
    (proc / "self").mkdir()
    (proc / "self" / "mountinfo").write_text("30 21 0:25 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n")
    clock = Clock()
    monkeypatch.setattr(module, "host_limits", lambda mod, root="/", systemctl=None: VM)
    monkeypatch.setattr(module, "selinux_state", lambda: "disabled")
    monkeypatch.setattr(module, "_PROC", str(proc))
    monkeypatch.setattr(module, "_clock", clock)
    monkeypatch.setattr(module, "_sleep", clock.sleep)
    return fake


@pytest.fixture
def run(host, run_main) -> t.Callable[..., dict[str, t.Any]]:
    """Run the module; ``fail=True`` expects a failure. Returns the result."""

    def _run(check: bool = False, diff: bool = False, fail: bool = False, **args: t.Any) -> dict[str, t.Any]:
        params = {"name": "etcd", "root_dir": str(host.root_dir), "unit_dir": str(host.unit_dir),
                  "mcs_state_path": str(host.tmp / "mcs" / "allocations.json"), **args}
        return run_main(module.main, params, check=check, diff=diff, fail=fail)

    return _run


ETCD = {"image": f"{REPO}:v1", "slice": "infra.slice", "memory_max": "256M", "tasks_max": 128,
        "values": {"ETCD_NAME": "h1"}, "health_command": ["etcdctl", "endpoint", "health"]}


def snapshot(directory: Path) -> dict[str, str]:
    """Every path below a directory (links as their targets, files by content digest)."""
    found = {}
    for path in sorted(directory.rglob("*")) if directory.exists() else []:
        if path.is_symlink():
            found[str(path.relative_to(directory))] = f"-> {os.readlink(path)}"
        elif path.is_file():
            found[str(path.relative_to(directory))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def deployments(host: FakeHost) -> list[str]:
    return sorted(os.listdir(host.root_dir / "etcd" / "deployments"))


def test_install_check_mode_predicts_and_changes_nothing(host, run):
    result = run(check=True, diff=True, **ETCD)
    assert result["changed"] is True and result["action"] == "new" and result["restarted"] is True
    v1 = IMAGES["v1"].digest
    assert result["deployment"] == f"{v1[7:19]}-1" and result["digest"] == v1
    assert result["previous_deployment"] is None
    assert result["label"].startswith("s0:c")
    assert not host.root_dir.exists() and not (host.tmp / "mcs").exists()
    assert host.unit_text("etcd.service") is None
    assert host.verbs() == []
    unit_diff = result["diff"][0]
    assert unit_diff["before"] == "" and "Slice=infra.slice\n" in unit_diff["after"]
    assert result["diff"][-1]["after"].startswith(f"current: {v1[7:19]}-1 ({v1}, new)\n")


def test_install_unpacks_renders_starts_and_a_second_run_changes_nothing(host, run):
    predicted = run(check=True, **ETCD)
    result = run(**ETCD)
    assert result["changed"] is True and result["rolled_back"] is False
    for key in ("deployment", "digest", "label", "action", "restarted"):
        assert result[key] == predicted[key]
    assert result["start"] == "active and healthy (127.0.0.1:2379 is healthy: successfully committed proposal)"
    assert result["active_state"] == "active"
    base = host.root_dir / "etcd"
    current = base / "current"
    assert os.readlink(current) == f"deployments/{result['deployment']}"
    assert (current / "rootfs/usr/bin/etcd").read_bytes() == b"etcd v1"
    config = json.loads((current / "config.json").read_text())
    assert config["root"] == {"path": "rootfs", "readonly": True}
    assert config["process"]["args"] == ["/usr/bin/etcd"]
    # The template's values: ETCD_NAME from values (the image's default was "default").
    assert "ETCD_NAME=h1" in config["process"]["env"] and "VARIANT=v1" in config["process"]["env"]
    assert config["linux"]["cgroupsPath"] == "/infra.slice/etcd.service/container"
    assert config["annotations"]["io.containerhost.system-container.mcs-label"] == result["label"]
    assert config["annotations"]["io.containerhost.system-container.digest"] == IMAGES["v1"].digest
    info = json.loads((current / "info.json").read_text())
    assert info["digest"] == IMAGES["v1"].digest and info["image"] == f"{REPO}:v1"
    assert info["unit"] == host.unit_text("etcd.service")
    assert oct(os.stat(base).st_mode & 0o777) == "0o700"
    text = host.unit_text("etcd.service")
    assert text.startswith("# Ansible managed: containerhost.platform.system_container\n")
    assert f"ExecStart=/usr/bin/runc run --bundle {current} etcd\n" in text
    assert "\nSlice=infra.slice\nDelegate=yes\n" in text
    assert "MemoryMax=268435456\nTasksMax=128\n" in text
    assert host.verbs() == ["skopeo copy", "systemctl daemon-reload", "systemctl enable", "systemctl start"]
    allocations = json.loads((host.tmp / "mcs/allocations.json").read_text())["allocations"]
    assert allocations == {"etcd": result["label"]}
    host.calls.clear()
    again = run(diff=True, **ETCD)
    assert again["changed"] is False and again["action"] == "none" and again["diff"] == []
    assert again["deployment"] == result["deployment"] and again["label"] == result["label"]
    assert host.verbs() == []


def test_update_makes_a_new_deployment_and_rollback_returns_to_it_once(host, run):
    first = run(**ETCD)
    update = {**ETCD, "image": f"{REPO}:v2"}
    predicted = run(check=True, **update)
    assert predicted["changed"] and predicted["action"] == "new" and predicted["restarted"]
    host.calls.clear()
    second = run(**update)
    assert (second["deployment"], second["previous_deployment"]) == (predicted["deployment"], first["deployment"])
    assert second["digest"] == IMAGES["v2"].digest and second["previous_digest"] == IMAGES["v1"].digest
    assert host.verbs() == ["skopeo copy", "systemctl restart"]
    assert deployments(host) == sorted([first["deployment"], second["deployment"]])
    assert run(**update)["changed"] is False

    rollback = {"state": "rollback", "health_command": ["etcdctl", "endpoint", "health"]}
    before = snapshot(host.root_dir)
    predicted = run(check=True, **rollback)
    assert predicted["changed"] and predicted["action"] == "rollback" and predicted["restarted"]
    assert snapshot(host.root_dir) == before
    back = run(**rollback)
    assert (back["deployment"], back["previous_deployment"]) == (first["deployment"], second["deployment"])
    assert back["digest"] == IMAGES["v1"].digest and back["rolled_back"] is False
    assert (host.root_dir / "etcd/current/rootfs/usr/bin/etcd").read_bytes() == b"etcd v1"
    host.calls.clear()
    again = run(**rollback)
    assert again["changed"] is False and again["action"] == "none" and host.verbs() == []
    # Declaring v2 again moves forward to the deployment that holds it, without copying it again.
    forward = run(**update)
    assert forward["action"] == "switch_previous" and forward["deployment"] == second["deployment"]
    assert "skopeo copy" not in host.verbs()


def test_a_failed_start_switches_back_and_fails_the_task(host, run):
    first = run(**ETCD)
    host.calls.clear()
    result = run(fail=True, **{**ETCD, "image": f"{REPO}:bad"})
    assert result["rolled_back"] is True and result["changed"] is True
    bad_id = f"{IMAGES['bad'].digest[7:19]}-2"
    assert result["failed_deployment"] == bad_id
    assert result["deployment"] == first["deployment"] and result["digest"] == IMAGES["v1"].digest
    assert result["msg"] == (
        f"etcd: deployment {bad_id} did not start (the container exited and systemd is restarting it "
        "(ActiveState=activating, SubState=auto-restart, Result=exit-code, exit status 1)); switched back to "
        f"{first['deployment']}: {first['deployment']} is running again (active and healthy (127.0.0.1:2379 is "
        "healthy: successfully committed proposal))")
    assert os.readlink(host.root_dir / "etcd/current") == f"deployments/{first['deployment']}"
    assert deployments(host) == [first["deployment"]]
    assert host.active["etcd.service"]["ActiveState"] == "active"
    assert host.verbs() == ["skopeo copy", "systemctl restart", "systemctl restart"]


def test_a_failed_first_start_cannot_roll_back(host, run):
    result = run(fail=True, **{**ETCD, "image": f"{REPO}:bad"})
    assert result["rolled_back"] is False
    assert result["msg"].startswith("etcd: etcd.service did not start: the container exited")
    # The deployment stays, so that its logs and files can be looked at; the next run starts it again.
    assert deployments(host) == [f"{IMAGES['bad'].digest[7:19]}-1"]
    again = run(fail=True, **{**ETCD, "image": f"{REPO}:bad"})
    assert again["action"] == "none" and again["restarted"] is True


def test_only_limits_changed_rewrites_the_unit_without_a_restart(host, run):
    run(**ETCD)
    host.calls.clear()
    result = run(diff=True, **{**ETCD, "memory_max": "512M"})
    assert result["changed"] is True and result["action"] == "none" and result["restarted"] is False
    assert host.verbs() == ["systemctl daemon-reload"]
    assert "MemoryMax=536870912\n" in host.unit_text("etcd.service")
    assert result["diff"][0]["before"].count("MemoryMax=268435456") == 1
    info = json.loads((host.root_dir / "etcd/current/info.json").read_text())
    assert info["unit"] == host.unit_text("etcd.service")


def test_a_new_value_makes_a_new_deployment_from_the_same_files(host, run):
    first = run(**ETCD)
    predicted = run(check=True, diff=True, **{**ETCD, "values": {"ETCD_NAME": "h2"}})
    config_diff = next(d for d in predicted["diff"] if d["after_header"].endswith("config.json"))
    assert '"ETCD_NAME=h1"' in config_diff["before"] and '"ETCD_NAME=h2"' in config_diff["after"]
    host.calls.clear()
    result = run(**{**ETCD, "values": {"ETCD_NAME": "h2"}})
    assert result["action"] == "new" and result["reason"] == "new configuration of the same image"
    assert "skopeo copy" not in host.verbs()
    old = host.root_dir / "etcd/deployments" / first["deployment"] / "rootfs/usr/bin/etcd"
    new = host.root_dir / "etcd/current/rootfs/usr/bin/etcd"
    assert new.stat().st_ino == old.stat().st_ino


def test_stop_and_start_with_name_only_keep_the_unit(host, run):
    run(**ETCD)
    unit = host.unit_text("etcd.service")
    assert run(check=True, state="stopped")["changed"] is True
    stopped = run(state="stopped")
    assert stopped["changed"] is True and stopped["active_state"] == "inactive"
    assert run(state="stopped")["changed"] is False
    started = run(state="started", stable_seconds=2)
    assert started["restarted"] is True and started["start"] == "active for 2s"
    assert host.unit_text("etcd.service") == unit and "etcd.service" in host.enabled


def test_absent_removes_everything_and_releases_the_label(host, run):
    run(**ETCD)
    predicted = run(check=True, diff=True, state="absent")
    assert predicted["changed"] is True and predicted["mcs_released"] is True
    assert predicted["removed"] == [str(host.unit_dir / "etcd.service"), str(host.root_dir / "etcd")]
    assert (host.root_dir / "etcd").exists()
    result = run(state="absent")
    assert result["changed"] is True and result["active_state"] == "inactive"
    assert not (host.root_dir / "etcd").exists() and host.unit_text("etcd.service") is None
    assert json.loads((host.tmp / "mcs/allocations.json").read_text())["allocations"] == {}
    assert "etcd.service" not in host.enabled
    again = run(state="absent")
    assert again["changed"] is False and again["action"] == "none"


def test_explicit_mcs_label_and_selinux_enabled(host, run, monkeypatch):
    monkeypatch.setattr(module, "selinux_state", lambda: "permissive")
    result = run(mcs_label="s0:c12,c345", **ETCD)
    assert result["label"] == "s0:c12,c345"
    config = json.loads((host.root_dir / "etcd/current/config.json").read_text())
    assert config["process"]["selinuxLabel"] == "system_u:system_r:container_t:s0:c12,c345"
    assert config["linux"]["mountLabel"] == "system_u:object_r:container_file_t:s0:c12,c345"


def test_an_image_without_template_runs_its_entrypoint_with_options(host, run):
    result = run(image=f"{REPO}:plain", command=["/usr/bin/etcd", "--name", "$NAME"], env={"A": "${NAME}-x"},
                 rw_binds={str(host.tmp / "data/$NAME"): "/var/lib/etcd"}, stable_seconds=1)
    assert result["changed"] is True
    config = json.loads((host.root_dir / "etcd/current/config.json").read_text())
    assert config["process"]["args"] == ["/usr/bin/etcd", "--name", "etcd"]
    assert "A=etcd-x" in config["process"]["env"]
    assert (host.tmp / "data/etcd").is_dir()
    assert oct((host.tmp / "data/etcd").stat().st_mode & 0o777) == "0o700"


def test_podman_backend_runs_the_image_by_digest_and_is_idempotent(host, run):
    args = {**ETCD, "backend": "podman", "rw_binds": {str(host.tmp / "etcd-data"): "/var/lib/etcd"}}
    result = run(**args)
    digest = IMAGES["v1"].digest
    text = host.unit_text("etcd.service")
    assert (f"ExecStart=/usr/bin/podman run --cidfile=%t/%n.ctr-id --cgroups=split --rm --sdnotify=conmon --detach "
            f"--replace --name etcd --read-only --network host --security-opt label=level:{result['label']} "
            f"--volume {host.tmp}/etcd-data:/var/lib/etcd:rw {REPO}@{digest}\n") in text
    assert "Type=notify\n" in text and "ExecStartPre=/usr/bin/rm -f %t/%n.ctr-id\n" in text
    assert f"{REPO}@{digest}" in host.podman_images
    assert not (host.root_dir / "etcd/current/rootfs").exists()
    host.calls.clear()
    assert run(**args)["changed"] is False and host.verbs() == []
    failed = run(fail=True, **{**args, "image": f"{REPO}:bad"})
    assert failed["rolled_back"] is True
    assert f"{REPO}@{digest}" in host.unit_text("etcd.service")


@pytest.mark.parametrize("args, message", [
    ({"name": "bad name"}, "name: 'bad name' is not valid"),
    ({"slice": "-.slice"}, "root slice"),
    ({"after": ["foo.bogus"]}, "unknown unit suffix .bogus"),
    ({"rw_binds": {"relative": "/x"}}, "rw_binds: 'relative': '/x': the host path 'relative' is not valid"),
    ({"ro_binds": {"/nonexistent/path": "/x"}}, "ro_binds: /nonexistent/path does not exist on the host"),
    ({"memory_max": "lots"}, "etcd.service: memory_max: 'lots' is not valid"),
    ({"image": "etcd:v1"}, "image: image reference 'etcd:v1': it is a short name"),
    ({"mcs_label": "s0:c5"}, "mcs_label: 's0:c5' is not an MCS label with two categories"),
    ({"values": {"ETCD_NAME": "h1"}, "env": {"X": "$MISSING"}}, r"env.X: '$MISSING' uses $MISSING"),
    ({"keep_deployments": 0}, "keep_deployments: 0 is too small"),
    ({"health_command": []}, "health_command: empty"),
    ({"health_command": ["/nonexistent/etcdctl", "endpoint", "health"]},
     "health_command: /nonexistent/etcdctl is not an executable file on the host"),
    ({"image": f"{REPO}:nope"}, f"image: {REPO}:nope was not found"),
])
def test_bad_input_fails_before_any_change(host, run, args, message):
    result = run(fail=True, **{**ETCD, **args})
    assert message in result["msg"]
    assert not host.root_dir.exists() and host.unit_text("etcd.service") is None
    assert host.verbs() == []


def test_rollback_and_start_need_an_installation(host, run):
    assert "nothing is installed under this name" in run(fail=True, state="rollback")["msg"]
    assert "image: required with state=started" in run(fail=True)["msg"]
    run(**ETCD)
    assert "has no previous deployment" in run(fail=True, state="rollback")["msg"]


def test_a_unit_file_of_someone_else_is_left_alone(host, run):
    (host.unit_dir / "etcd.service").write_text("[Service]\nExecStart=/usr/bin/etcd\n")
    result = run(fail=True, **ETCD)
    assert "was not written by containerhost.platform.system_container" in result["msg"]
    assert not host.root_dir.exists()


def test_keep_deployments_prunes_the_oldest(host, run):
    run(**ETCD)
    run(**{**ETCD, "image": f"{REPO}:v2"})
    third = run(**{**ETCD, "values": {"ETCD_NAME": "h3"}})
    assert len(deployments(host)) == 2 and third["deployment"] in deployments(host)
    single = run(keep_deployments=1, **{**ETCD, "values": {"ETCD_NAME": "h4"}})
    assert deployments(host) == [single["deployment"]] and single["previous_deployment"] is None
    assert not os.path.lexists(host.root_dir / "etcd/previous")


def test_missing_read_only_bind_only_warns_in_check_mode(host, run):
    """An earlier task of the play may create the bind's source: check mode warns, a real run fails."""
    args = {**ETCD, "ro_binds": {"/nonexistent/pki": "/etc/pki"}}
    predicted = run(check=True, **args)
    assert predicted["changed"] is True
    assert "does not exist on the host" in run(fail=True, **args)["msg"]


def test_files_are_labelled_for_the_container_when_selinux_is_on(host, run, monkeypatch):
    """With SELinux on, the container's tree and its read-write bind sources get container_file_t at its level."""
    monkeypatch.setattr(module, "selinux_state", lambda: "enforcing")
    result = run(**{**ETCD, "rw_binds": {str(host.tmp / "data"): "/var/lib/etcd"}})
    assert result["changed"] is True
    chcon = [call for call in host.calls if os.path.basename(call[0]) == "chcon"]
    assert chcon == [[chcon[0][0], "-R", "-h", f"system_u:object_r:container_file_t:{result['label']}", "--",
                      str(host.root_dir / "etcd"), str(host.tmp / "data")]]


def test_nothing_is_labelled_without_selinux(host, run):
    run(**ETCD)
    assert not [call for call in host.calls if os.path.basename(call[0]) == "chcon"]
