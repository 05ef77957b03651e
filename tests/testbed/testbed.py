"""The project's testbed: real systemd hosts (podman containers and qemu VMs) reachable over SSH.

  testbed.py up [--hosts N] [--vms M]   start hosts, write .testbed/inventory.yml
  testbed.py down                       remove every host, VM, volume and network it made
  testbed.py status                     what is up, as JSON
  testbed.py check-clean                exit 1 when anything of the testbed is left
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
    INVENTORY.write_text(render_inventory(state["hosts"]))


def render_inventory(hosts: list[dict]) -> str:
    """An Ansible YAML inventory for the given host records (JSON is valid YAML)."""
    groups: dict[str, dict] = {group: {"hosts": {}} for group in GROUPS.values()}
    for record in hosts:
        groups[GROUPS[record["kind"]]]["hosts"][record["name"]] = {
            "ansible_host": record["ansible_host"],
            "ansible_port": record["ansible_port"],
            "testbed_kind": record["kind"],
        }
    inventory = {"all": {
        "vars": {
            "ansible_user": "root",
            "ansible_ssh_private_key_file": str(KEY),
            "ansible_python_interpreter": "/usr/bin/python3",
        },
        "children": {"testbed": {"children": groups}},
    }}
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
    if sorted(current) == sorted(name for _kind, name, _index in wanted) and all(alive(r) for r in current.values()):
        log(f"already up: {', '.join(sorted(current))}")
        save_state(state)
        return
    cmd_down(args)
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    records: list[dict] = []
    # The two image builds are independent: run them side by side.
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        host_image = pool.submit(_containers.build_image, pubkey) if args.hosts else None
        vm_image = pool.submit(_vm.build_image, pubkey) if args.vms else None
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
    save_state({"hosts": records})
    log(f"up in {time.monotonic() - started:.0f}s: {', '.join(r['name'] for r in records)}; inventory {INVENTORY}")


def cmd_down(_args: argparse.Namespace) -> None:
    """Remove everything the testbed made, whether recorded or not."""
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
    up.set_defaults(func=cmd_up)
    sub.add_parser("down", help="remove everything").set_defaults(func=cmd_down)
    sub.add_parser("status", help="show state").set_defaults(func=cmd_status)
    sub.add_parser("check-clean", help="fail if anything is left").set_defaults(func=cmd_check_clean)
    args = parser.parse_args()
    if getattr(args, "hosts", 0) < 0 or getattr(args, "vms", 0) < 0 or getattr(args, "hosts", 0) > 200:
        parser.error("--hosts must be 0..200 and --vms at least 0")
    if os.geteuid() != 0:
        raise SystemExit("testbed: must run as root (privileged containers, networks, qemu)")
    args.func(args)


if __name__ == "__main__":
    main()
