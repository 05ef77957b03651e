"""Testbed hosts of the first kind: privileged podman containers booting systemd as PID 1."""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess

from _rootfs import CACHE_DIR, INSTANCE, cached_rootfs, log, recipe_digest, run

IMAGE_REPO = "localhost/containerhost-testbed-host"
LABEL = f"io.containerhost.testbed={INSTANCE}"
NETWORK = f"{INSTANCE}0"
SUBNET = ipaddress.ip_network(os.environ.get("CHTB_SUBNET", "172.29.213.0/24"))
FIRST_HOST_OFFSET = 11

# What every test host carries: systemd, SSH and Python for Ansible, and the container stack the
# collection manages (nested podman runs with crun and the cgroupfs manager, see TESTBED.md).
PACKAGES = [
    "systemd", "systemd-sysv", "dbus", "python3", "iproute2", "procps", "openssh-server", "sudo", "kmod",
    "ca-certificates", "podman", "netavark", "aardvark-dns", "crun", "runc", "conmon", "skopeo", "iptables", "gnupg",
    "etcd-server", "etcd-client", "python3-apt",
]

# Files laid over the debootstrapped tree; part of the recipe digest.
OVERLAY_FILES = {
    "etc/ssh/sshd_config.d/10-testbed.conf": "PermitRootLogin prohibit-password\nPasswordAuthentication no\nUseDNS no\n",
    # Nested containers inside a host: cgroupfs manager and crun (runc and the systemd manager fail there).
    "etc/containers/containers.conf.d/10-testbed.conf":
        '[engine]\ncgroup_manager = "cgroupfs"\nruntime = "crun"\n[containers]\n'
        'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n',
    # etcd-server enables etcd.service on install; an empty entry removes the links so the image boots without a
    # single-node etcd (the etcd role starts it). Not masked: the role must be able to start it.
    "etc/systemd/system/multi-user.target.wants/etcd.service": "",
    "etc/systemd/system/etcd2.service": "",
}
# Units that have nothing to do in a container and would only report failures.
MASKED = ["systemd-remount-fs.service", "getty@tty1.service", "console-getty.service"]


def image_ref(pubkey: str) -> str:
    """The image reference for this recipe and SSH key."""
    digest = recipe_digest({"packages": sorted(PACKAGES), "files": OVERLAY_FILES, "masked": MASKED, "pubkey": pubkey})
    return f"{IMAGE_REPO}:{digest}"


def build_image(pubkey: str) -> str:
    """Build (or reuse) the host image for this recipe; older testbed host images are removed."""
    ref = image_ref(pubkey)
    if run(["podman", "image", "exists", ref], check=False).returncode == 0:
        return ref
    rootfs = cached_rootfs("host", PACKAGES)[0]
    staging = CACHE_DIR / f"staging-{ref.rsplit(':', 1)[1]}"
    if staging.exists():
        shutil.rmtree(staging)
    log(f"building image {ref}")
    run(["cp", "-a", f"{rootfs}/.", str(staging)])
    try:
        for rel, content in OVERLAY_FILES.items():
            path = staging / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.exists() or path.is_symlink():
                path.unlink()
            if content:
                path.write_text(content)
        for unit in MASKED:
            target = staging / "etc/systemd/system" / unit
            if target.exists():
                target.unlink()
            target.symlink_to("/dev/null")
        ssh_dir = staging / "root/.ssh"
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        (ssh_dir / "authorized_keys").write_text(pubkey.strip() + "\n")
        (ssh_dir / "authorized_keys").chmod(0o600)
        tar = subprocess.Popen(["tar", "-C", str(staging), "--numeric-owner", "-c", "."], stdout=subprocess.PIPE)
        run(["podman", "import", "--quiet", "--change", "CMD=/sbin/init", "-", ref], stdin=tar.stdout, capture_output=True)
        tar.stdout.close()
        if tar.wait() != 0:
            raise SystemExit("testbed: tar of the host root filesystem failed")
    finally:
        shutil.rmtree(staging)
    for old in run(["podman", "images", "--format", "{{.Repository}}:{{.Tag}}", IMAGE_REPO], capture_output=True).stdout.split():
        if old != ref:
            run(["podman", "rmi", "--force", old], check=False, capture_output=True)
    return ref


def ensure_network() -> None:
    """Create the testbed's bridge network once."""
    if run(["podman", "network", "exists", NETWORK], check=False).returncode != 0:
        run(["podman", "network", "create", "--label", LABEL, "--subnet", str(SUBNET), NETWORK], capture_output=True)


def address(index: int) -> str:
    """The fixed address of host number ``index`` (1-based)."""
    return str(SUBNET.network_address + FIRST_HOST_OFFSET + index - 1)


def start(name: str, index: int, image: str) -> dict:
    """Start one host container detached and return its host record."""
    ensure_network()
    container = f"{INSTANCE}-{name}"
    run(["podman", "rm", "--force", "--volumes", container], check=False, capture_output=True)
    volume = f"{container}-containers"
    run(["podman", "volume", "rm", "--force", volume], check=False, capture_output=True)
    run(["podman", "volume", "create", "--label", LABEL, volume], capture_output=True)
    ip = address(index)
    run([
        "podman", "run", "--detach", "--name", container, "--hostname", name, "--label", LABEL,
        "--network", NETWORK, "--ip", ip, "--privileged", "--runtime", "runc", "--systemd", "always",
        # Without these podman lowers its own NPROC hard limit and the runtime cannot raise it back (EPERM).
        "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768",
        "--volume", f"{volume}:/var/lib/containers",
        image, "/sbin/init",
    ], capture_output=True)
    return {"name": name, "kind": "container", "container": container, "volume": volume,
            "ansible_host": ip, "ansible_port": 22}


def stop(record: dict) -> None:
    """Remove one host container and its volume; safe when already gone."""
    run(["podman", "rm", "--force", "--time", "5", record["container"]], check=False, capture_output=True)
    run(["podman", "volume", "rm", "--force", record["volume"]], check=False, capture_output=True)


def leftovers() -> dict:
    """Everything labelled as the testbed's that still exists in podman."""
    def names(*argv: str) -> list[str]:
        out = run(["podman", *argv], check=False, capture_output=True).stdout
        return [line for line in out.split() if line]
    return {
        "containers": names("ps", "--all", "--filter", f"label={LABEL}", "--format", "{{.Names}}"),
        "volumes": names("volume", "ls", "--filter", f"label={LABEL}", "--format", "{{.Name}}"),
        "networks": [n for n in names("network", "ls", "--format", "{{.Name}}") if n == NETWORK],
    }


def remove_all() -> None:
    """Remove every testbed container, volume and the network, including ones from lost state."""
    found = leftovers()
    if found["containers"]:
        run(["podman", "rm", "--force", "--time", "5", *found["containers"]], check=False, capture_output=True)
    if found["volumes"]:
        run(["podman", "volume", "rm", "--force", *found["volumes"]], check=False, capture_output=True)
    if found["networks"]:
        run(["podman", "network", "rm", "--force", NETWORK], check=False, capture_output=True)


def inspect_state(container: str) -> str:
    """The container's state as podman reports it ('' when it does not exist)."""
    out = run(["podman", "inspect", "--format", "json", container], check=False, capture_output=True).stdout
    try:
        return json.loads(out)[0]["State"]["Status"]
    except (ValueError, IndexError, KeyError):
        return ""
