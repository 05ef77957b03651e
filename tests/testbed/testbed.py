"""The project's testbed: real systemd hosts (podman containers and qemu VMs) reachable over SSH.

  testbed.py up [--hosts N] [--vms M] [--registry] [--selinux MODE]
                                        start hosts (and the registries), write .testbed/inventory.yml;
                                        --selinux permissive|enforcing (or $CHTB_VM_SELINUX) boots the VMs from
                                        a separately cached image with Debian's SELinux policy (MCS) and the
                                        reference policy's container module, labelled at build time; their
                                        inventory entries carry testbed_selinux: MODE
  testbed.py registry up|down|status    start or stop the image registries of a running testbed
  testbed.py image build [--image etcd] VARIANT...
                                        build test images localhost/chtest/busybox:VARIANT (cached), or with
                                        --image etcd localhost/chtest/etcd:VARIANT (etcd-server as a system
                                        container image; a VARIANT starting with "bad" fails to start)
  testbed.py image push [--image etcd] VARIANT REPO[:TAG] [--auth]
                                        push a test image to the testbed's registry; prints JSON
  testbed.py down                       remove every host, VM, volume, network and registry it made
  testbed.py status                     what is up, as JSON
  testbed.py check-clean                exit 1 when anything of the testbed is left

Registries (--registry or `registry up`; needs at least one container host): Debian's docker-registry on the
controller, on the gateway address of the testbed's bridge (reachable from the hosts and from the controller),
TLS with a CA made for this testbed: an open one on port $CHTB_REGISTRY_PORT (default 5000) and one with basic
authentication on the next port. The inventory's `testbed_registry` variable tells where they are: address,
tls_port, auth_port, tls_registry, auth_registry (host:port), ca_cert (PEM), ca_cert_path and cert_dir (on the
controller), username, password. Their files (certificates, htpasswd, storage, logs) are under
$CHTB_STATE/registry; `down` and `registry down` stop them and remove those files.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

# pylint: disable=wrong-import-position
import _containers  # noqa: E402
import _images  # noqa: E402
import _registry  # noqa: E402
import _vm  # noqa: E402
from _rootfs import CACHE_DIR, log, run  # noqa: E402
from _ssh import ssh, wait_ready  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
STATE_DIR = Path(os.environ.get("CHTB_STATE", REPO / ".testbed"))
STATE_FILE = STATE_DIR / "state.json"
INVENTORY = STATE_DIR / "inventory.yml"
KEY = CACHE_DIR / "ssh" / "id_ed25519"
GROUPS = {"container": "testbed_containers", "vm": "testbed_vms"}


def ensure_key() -> str:
    """The testbed's SSH key pair (kept with the image cache, since images carry its public half)."""
    if not KEY.exists():
        KEY.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "containerhost-testbed", "-f", str(KEY)])
    return KEY.with_suffix(".pub").read_text().strip()


def load_state() -> dict:
    """The recorded testbed, or an empty one."""
    if STATE_FILE.exists():
        return json.loads(STATE_FILE.read_text())
    return {"hosts": []}


def save_state(state: dict) -> None:
    """Write state and the inventory derived from it."""
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    state = {**state, "ssh_key": str(KEY)}
    STATE_FILE.write_text(json.dumps(state, indent=2) + "\n")
    write_inventory(state["hosts"])


def write_inventory(hosts: list[dict]) -> None:
    """Write the inventory (owner-only: it carries the registry password when the registries are up)."""
    fd = os.open(INVENTORY, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(render_inventory(hosts, registry().info()))


def registry() -> _registry.Registry:
    """The image registries of this instance."""
    return _registry.Registry(STATE_DIR, _registry.gateway(_containers.NETWORK, _containers.SUBNET))


def render_inventory(hosts: list[dict], registry_info: dict | None = None) -> str:
    """An Ansible YAML inventory for the given host records and registries (JSON is valid YAML)."""
    groups: dict[str, dict] = {group: {"hosts": {}} for group in GROUPS.values()}
    for record in hosts:
        groups[GROUPS[record["kind"]]]["hosts"][record["name"]] = {
            "ansible_host": record["ansible_host"],
            "ansible_port": record["ansible_port"],
            "testbed_kind": record["kind"],
        }
        if record.get("selinux"):
            groups[GROUPS[record["kind"]]]["hosts"][record["name"]]["testbed_selinux"] = record["selinux"]
    inventory = {"all": {
        "vars": {
            "ansible_user": "root",
            "ansible_ssh_private_key_file": str(KEY),
            "ansible_python_interpreter": "/usr/bin/python3",
        },
        "children": {"testbed": {"children": groups}},
    }}
    if registry_info:
        inventory["all"]["vars"]["testbed_registry"] = _registry.inventory_vars(registry_info)
    return "# Written by tests/testbed/testbed.py; do not edit.\n" + json.dumps(inventory, indent=2) + "\n"


def alive(record: dict) -> bool:
    """Whether a recorded host is still up and answers SSH."""
    if record["kind"] == "container" and _containers.inspect_state(record["container"]) != "running":
        return False
    if record["kind"] == "vm" and not _vm.is_running(record):
        return False
    try:
        return ssh(record, KEY, "true", timeout=15).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def wanted_names(hosts: int, vms: int) -> list[tuple[str, str, int]]:
    """(kind, name, index) for the requested shape."""
    return [("container", f"h{i}", i) for i in range(1, hosts + 1)] + [("vm", f"vm{i}", i) for i in range(1, vms + 1)]


def cmd_up(args: argparse.Namespace) -> None:
    """Bring the testbed to the requested shape, reusing hosts that are already up and wanted."""
    pubkey = ensure_key()
    state = load_state()
    wanted = wanted_names(args.hosts, args.vms)
    current = {r["name"]: r for r in state["hosts"]}
    same_selinux = all(r.get("selinux", "") == args.selinux for r in current.values() if r["kind"] == "vm")
    if sorted(current) == sorted(name for _kind, name, _index in wanted) and same_selinux \
            and all(alive(r) for r in current.values()):
        log(f"already up: {', '.join(sorted(current))}")
        if args.registry:
            start_registry(state)
        save_state(state)
        return
    cmd_down(args)
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    records: list[dict] = []
    # The two image builds are independent: run them side by side.
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        host_image = pool.submit(_containers.build_image, pubkey) if args.hosts else None
        vm_image = pool.submit(_vm.build_image, pubkey, args.selinux) if args.vms else None
        host_ref = host_image.result() if host_image else None
        vm_artefacts = vm_image.result() if vm_image else None
    try:
        for kind, name, index in wanted:
            if kind == "container":
                records.append(_containers.start(name, index, host_ref))
            else:
                records.append(_vm.start(name, index, STATE_DIR, vm_artefacts, key_path=KEY, wait=False))
            # Record each host as soon as it exists, so that a failed start can still be torn down.
            save_state({"hosts": records})
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(records) or 1) as pool:
            waits = [pool.submit(_vm.wait_ssh, r, KEY, 300) if r["kind"] == "vm" else pool.submit(wait_ready, r, KEY, 120)
                     for r in records]
            for future in waits:
                future.result()
    except BaseException:
        log("start failed; tearing down what was started")
        cmd_down(args)
        raise
    if args.registry:
        try:
            start_registry({"hosts": records})
        except BaseException:
            log("registry start failed; tearing down what was started")
            cmd_down(args)
            raise
    save_state({"hosts": records})
    log(f"up in {time.monotonic() - started:.0f}s: {', '.join(r['name'] for r in records)}; inventory {INVENTORY}")


def start_registry(state: dict) -> dict:
    """Start the registries; the bridge's gateway address exists only once a container host runs."""
    if not any(record["kind"] == "container" for record in state["hosts"]):
        raise SystemExit("testbed: the registries listen on the container hosts' network: start at least one "
                         "container host (up --hosts 1 --registry)")
    return registry().up()


def cmd_registry(args: argparse.Namespace) -> None:
    """Start, stop or show the registries of the running testbed."""
    state = load_state()
    if args.action == "up":
        info = start_registry(state)
        save_state(state)
        print(json.dumps({key: value for key, value in _registry.inventory_vars(info).items() if key != "password"},
                         indent=2))
    elif args.action == "down":
        registry().down()
        if STATE_FILE.exists():
            save_state(state)
    else:
        current = registry()
        info = current.info()
        print(json.dumps({
            "registry": {key: value for key, value in _registry.inventory_vars(info).items() if key != "password"}
            if info else None,
            "processes": [pid for pid, _argv in current.processes()],
            "healthy": current.healthy(),
        }, indent=2))


def cmd_image(args: argparse.Namespace) -> None:
    """Build test images, or push one to the testbed's registry (prints the reference and digest as JSON)."""
    if args.action == "build":
        if not args.variants:
            raise SystemExit("testbed: image build needs at least one VARIANT")
        print(json.dumps([_images.build(variant, args.image) for variant in args.variants], indent=2))
        return
    if len(args.variants) != 2:
        raise SystemExit("testbed: image push needs VARIANT and REPOSITORY[:TAG]")
    info = registry().info()
    if not info:
        raise SystemExit("testbed: no registry is up (testbed.py registry up)")
    pushed = _images.push(args.variants[0], args.variants[1], _registry.inventory_vars(info), auth=args.auth,
                          work_dir=STATE_DIR / "push", kind=args.image)
    print(json.dumps(pushed, indent=2))


def cmd_down(_args: argparse.Namespace) -> None:
    """Remove everything the testbed made, whether recorded or not."""
    registry().down()
    for record in load_state()["hosts"]:
        if record["kind"] == "vm":
            _vm.stop(record)
        else:
            _containers.stop(record)
    _vm.stop_all(STATE_DIR)
    _containers.remove_all()
    if STATE_DIR.exists():
        shutil.rmtree(STATE_DIR)


def mounts_under(mountinfo: str, roots: list[Path]) -> list[str]:
    """Mount points (from /proc/self/mountinfo text) that lie under any of ``roots``."""
    points = [line.split()[4] for line in mountinfo.splitlines() if len(line.split()) > 4]
    return [p for p in points if any(p == str(r) or p.startswith(f"{r}/") for r in roots)]


def leftovers() -> dict:
    """Containers, volumes, networks, VMs, mounts and state of the testbed that still exist."""
    found = _containers.leftovers()
    found["vms"] = _vm.running_vms()
    found["mounts"] = mounts_under(Path("/proc/self/mountinfo").read_text(), [CACHE_DIR, STATE_DIR])
    found["state"] = [str(STATE_DIR)] if STATE_DIR.exists() else []
    found["registry"] = [f"{pid} {' '.join(argv)}" for pid, argv in registry().processes()]
    return found


def cmd_status(_args: argparse.Namespace) -> None:
    """Print the recorded hosts and what exists, as JSON."""
    print(json.dumps({"hosts": load_state()["hosts"], "exists": leftovers()}, indent=2))


def cmd_check_clean(_args: argparse.Namespace) -> None:
    """Fail when anything of the testbed is left behind."""
    found = {kind: names for kind, names in leftovers().items() if names}
    if found:
        print(json.dumps(found, indent=2))
        raise SystemExit(1)
    print("testbed: nothing left")


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start hosts and write the inventory")
    up.add_argument("--hosts", type=int, default=int(os.environ.get("HOSTS", "2")), help="container hosts (default 2)")
    up.add_argument("--vms", type=int, default=int(os.environ.get("VMS", "0")), help="qemu VM hosts (default 0)")
    up.add_argument("--registry", action="store_true",
                    help="also start the image registries (see above); needs at least one container host")
    up.add_argument("--selinux", type=_vm.selinux_mode, default=os.environ.get("CHTB_VM_SELINUX", ""),
                    metavar="MODE", help="boot the VMs with SELinux, permissive or enforcing (default off)")
    up.set_defaults(func=cmd_up)
    reg = sub.add_parser("registry", help="start, stop or show the image registries")
    reg.add_argument("action", choices=["up", "down", "status"])
    reg.set_defaults(func=cmd_registry)
    image = sub.add_parser("image", help="build test images or push one to the registry")
    image.add_argument("action", choices=["build", "push"])
    image.add_argument("variants", nargs="*", metavar="ARG", help="build: VARIANT...; push: VARIANT REPOSITORY[:TAG]")
    image.add_argument("--auth", action="store_true", help="push to the registry with basic authentication")
    image.add_argument("--image", choices=sorted(_images.REPOS), default="busybox",
                       help="which test image (default busybox)")
    image.set_defaults(func=cmd_image)
    sub.add_parser("down", help="remove everything").set_defaults(func=cmd_down)
    sub.add_parser("status", help="show state").set_defaults(func=cmd_status)
    sub.add_parser("check-clean", help="fail if anything is left").set_defaults(func=cmd_check_clean)
    # argparse leaves positionals that follow an option (image build --image etcd v1) unparsed: they are variants.
    args, rest = parser.parse_known_args()
    if rest and (args.command != "image" or any(arg.startswith("-") for arg in rest)):
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if rest:
        args.variants = [*args.variants, *rest]
    if getattr(args, "hosts", 0) < 0 or getattr(args, "vms", 0) < 0 or getattr(args, "hosts", 0) > 200:
        parser.error("--hosts must be 0..200 and --vms at least 0")
    if os.geteuid() != 0:
        raise SystemExit("testbed: must run as root (privileged containers, networks, qemu)")
    args.func(args)


if __name__ == "__main__":
    main()
