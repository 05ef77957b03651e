"""Testbed hosts of the second kind: full qemu VMs (software emulation) with their own kernel."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from _rootfs import CACHE_DIR, INSTANCE, cached_rootfs, log, recipe_digest, run
from _ssh import wait_ready

# Bump when the build steps change in a way the recipe below does not show.
BUILD_VERSION = 1
DISK_SIZE = 3 * 1024 ** 3
MEMORY_MB = 1536
CPUS = 2
BASE_PORT = int(os.environ.get("CHTB_VM_PORT_BASE", "2300"))
NAME_PREFIX = f"{INSTANCE}-"
DEFAULT_KEY = CACHE_DIR / "ssh" / "id_ed25519"

# debootstrap installs the kernel itself (its postinst hook writes the initrd), so no chroot apt run is needed.
PACKAGES = [
    "systemd", "systemd-sysv", "dbus", "udev", "python3", "iproute2", "procps", "openssh-server", "sudo", "kmod",
    "libnss-myhostname", "e2fsprogs", "linux-image-cloud-amd64", "initramfs-tools",
]

# Files laid over the debootstrapped tree (None removes the file); part of the recipe digest.
OVERLAY_FILES: dict[str, str | None] = {
    "etc/fstab": "/dev/vda / ext4 defaults 0 1\n",
    # The hostname comes per VM from the kernel command line (systemd.hostname=).
    "etc/hostname": None,
    "etc/hosts": "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
    # pam_env warns on every SSH login without it.
    "etc/default/locale": "LANG=C.UTF-8\n",
    # The guest network is restricted to the forwarded SSH port: there is no DNS to ask.
    "etc/resolv.conf": "# testbed VM: no DNS (restricted user-mode network)\n",
    "etc/systemd/network/10-testbed.network": "[Match]\nType=ether\n\n[Network]\nDHCP=ipv4\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n",
    "etc/ssh/sshd_config.d/10-testbed.conf":
        "PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUseDNS no\n",
    "etc/systemd/journald.conf.d/10-testbed.conf":
        "[Journal]\nStorage=volatile\nRuntimeMaxUse=32M\nForwardToConsole=no\nForwardToWall=no\n",
}
ENABLED = ["systemd-networkd.service", "systemd-networkd-wait-online.service"]
MASKED: list[str] = []

# Optional SELinux variant (testbed.py up --selinux MODE, or CHTB_VM_SELINUX=MODE): Debian's reference policy
# (MCS, type "default"), labelled at build time, booted with security=selinux in MODE.
SELINUX_MODES = ("permissive", "enforcing")
# Bump when the SELinux build steps change in a way the recipe does not show.
SELINUX_BUILD_VERSION = 1
SELINUX_PACKAGES = [
    "selinux-basics", "selinux-policy-default", "selinux-utils", "policycoreutils", "auditd", "python3-selinux",
    # Debian ships the reference policy's container module (container_t, container_file_t) only as source:
    # it is compiled into the image from selinux-policy-src with the headers of selinux-policy-dev.
    "selinux-policy-dev", "selinux-policy-src", "zstd",
    # Containers to run under the labels.
    "runc", "busybox-static",
]
SELINUX_MODULES = ["container"]
# Local policy for what Debian's container module lacks (seen as AVC denials on this testbed).
SELINUX_LOCAL_MODULES = {
    "testbed_container": (
        "policy_module(testbed_container, 1.0)\n"
        "gen_require(`\n\ttype container_engine_t, proc_kcore_t;\n')\n"
        "# runc masks /proc/kcore (maskedPaths) by bind-mounting /dev/null over it.\n"
        "allow container_engine_t proc_kcore_t:file { getattr mounton };\n"
    ),
}
SELINUX_FILES: dict[str, str | None] = {
    # The kernel command line (enforcing=0|1) decides the mode of each boot.
    "etc/selinux/config": "SELINUX=permissive\nSELINUXTYPE=default\n",
}
SELINUX_POLICY_SRC = "usr/src/selinux-policy-src.tar.zst"
FILE_CONTEXTS = "/etc/selinux/default/contexts/files/file_contexts"


def selinux_mode(value: str | None) -> str:
    """The SELinux mode asked for ("" for none): one of SELINUX_MODES, or empty/"0"/"off" for the plain image."""
    value = (value or "").strip().lower()
    if value in ("", "0", "off", "no", "none"):
        return ""
    if value in ("1", "yes", "on"):
        return "enforcing"
    if value not in SELINUX_MODES:
        raise SystemExit(f"testbed: SELinux mode must be one of {', '.join(SELINUX_MODES)} or off, not {value!r}")
    return value


def _recipe(rootfs_digest: str, pubkey: str, selinux: bool = False) -> dict:
    """Everything that goes into the disk image (the plain image's recipe has no "selinux" key)."""
    recipe = {"rootfs": rootfs_digest, "packages": sorted(PACKAGES), "files": OVERLAY_FILES, "enabled": ENABLED,
              "masked": MASKED, "pubkey": pubkey.strip(), "size": DISK_SIZE, "version": BUILD_VERSION}
    if selinux:
        recipe["selinux"] = {"packages": sorted(SELINUX_PACKAGES), "modules": SELINUX_MODULES,
                             "local_modules": SELINUX_LOCAL_MODULES, "files": SELINUX_FILES,
                             "version": SELINUX_BUILD_VERSION}
    return recipe


def kernel_append(name: str, selinux: str = "") -> str:
    """The kernel command line of a VM; with SELinux it is the active LSM, in the given mode."""
    append = f"root=/dev/vda rw console=ttyS0 systemd.hostname={name} systemd.unified_cgroup_hierarchy=1"
    if selinux:
        append += f" security=selinux selinux=1 enforcing={1 if selinux == 'enforcing' else 0}"
    return append


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock file, so that concurrent testbeds build an image only once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _mounts_under(root: Path) -> list[str]:
    """Mount points at or below ``root`` (from /proc/self/mountinfo)."""
    prefix = str(root.resolve())
    found = []
    with open("/proc/self/mountinfo", encoding="utf-8") as handle:
        for line in handle:
            point = line.split()[4].replace("\\040", " ")
            if point == prefix or point.startswith(prefix + "/"):
                found.append(point)
    return found


@contextlib.contextmanager
def _chroot_mounts(root: Path) -> Iterator[None]:
    """Mount /proc, /sys and /dev inside ``root`` for chroot steps; always unmount them again."""
    mounted: list[Path] = []
    try:
        for fstype, source, rel in (("proc", "proc", "proc"), ("sysfs", "sysfs", "sys"), ("bind", "/dev", "dev")):
            point = root / rel
            point.mkdir(exist_ok=True)
            argv = ["mount", "--bind", source, str(point)] if fstype == "bind" else ["mount", "-t", fstype, source, str(point)]
            run(argv, capture_output=True)
            mounted.append(point)
        yield
    finally:
        for point in reversed(mounted):
            if run(["umount", str(point)], check=False, capture_output=True).returncode != 0:
                run(["umount", "--lazy", str(point)], check=False, capture_output=True)
        left = _mounts_under(root)
        if left:
            raise SystemExit(f"testbed: still mounted after chroot step: {', '.join(left)}")


def _customise(root: Path, pubkey: str) -> None:
    """Lay the testbed's configuration over a copy of the VM root filesystem."""
    for rel, content in OVERLAY_FILES.items():
        path = root / rel
        if path.exists() or path.is_symlink():
            path.unlink()
        if content is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
    ssh_dir = root / "root/.ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    ssh_dir.chmod(0o700)
    keys = ssh_dir / "authorized_keys"
    keys.write_text(pubkey.strip() + "\n", encoding="utf-8")
    keys.chmod(0o600)
    # The image's own systemctl sets up the unit links (the build machine need not run systemd).
    with _chroot_mounts(root):
        if ENABLED:
            run(["chroot", str(root), "systemctl", "enable", *ENABLED], capture_output=True)
        if MASKED:
            run(["chroot", str(root), "systemctl", "mask", *MASKED], capture_output=True)


def _selinux_setup(root: Path) -> None:
    """Compile and install the policy modules Debian ships only as source, then label every file."""
    for rel, content in SELINUX_FILES.items():
        path = root / rel
        if path.exists() or path.is_symlink():
            path.unlink()
        if content is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
    build = "/root/selinux-modules"
    build_dir = root / build.lstrip("/")
    shutil.rmtree(build_dir, ignore_errors=True)
    build_dir.mkdir(parents=True)
    for module, text in SELINUX_LOCAL_MODULES.items():
        (build_dir / f"{module}.te").write_text(text, encoding="utf-8")
        for suffix in (".if", ".fc"):
            (build_dir / f"{module}{suffix}").write_text("", encoding="utf-8")
    modules = [*SELINUX_MODULES, *SELINUX_LOCAL_MODULES]
    script = (
        "set -e; mkdir {b}/src; tar -C {b}/src --zstd -xf /{src}; cd {b};"
        " for m in {mods}; do cp src/selinux-policy-src/policy/modules/*/$m.te"
        " src/selinux-policy-src/policy/modules/*/$m.fc .; done;"
        " make -f /usr/share/selinux/devel/Makefile NAME=default {pps};"
        " semodule -n -s default -i {pps}; cd /; rm -rf {b}"
    ).format(b=build, src=SELINUX_POLICY_SRC, mods=" ".join(SELINUX_MODULES),
             pps=" ".join(f"{m}.pp" for m in modules))
    with _chroot_mounts(root):
        run(["chroot", str(root), "sh", "-c", script], capture_output=True)
        # /proc, /sys and /dev are mounted here: their own labels come from the kernel at boot.
        run(["chroot", str(root), "setfiles", "-F", "-e", "/proc", "-e", "/sys", "-e", "/dev", FILE_CONTEXTS, "/"],
            capture_output=True)


def _single(root: Path, pattern: str) -> Path:
    """The one file in ``root`` matching ``pattern``."""
    found = sorted(root.glob(pattern))
    if len(found) != 1:
        raise SystemExit(f"testbed: expected one {pattern} in {root}, found {[p.name for p in found]}")
    return found[0]


def _assemble(rootfs: Path, pubkey: str, recipe: dict, final: Path, selinux: bool = False) -> None:
    """Build kernel, initrd and raw ext4 disk into ``final`` (written to a temporary name, then renamed)."""
    partial = final.with_name(final.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    staging = partial / "rootfs"
    try:
        run(["cp", "-a", f"{rootfs}/.", str(staging)], capture_output=True)
        _customise(staging, pubkey)
        if selinux:
            _selinux_setup(staging)
        shutil.copy2(_single(staging, "boot/vmlinuz-*"), partial / "vmlinuz")
        shutil.copy2(_single(staging, "boot/initrd.img-*"), partial / "initrd.img")
        if _mounts_under(staging):
            raise SystemExit(f"testbed: refusing to pack {staging}: something is mounted below it")
        disk = partial / "disk.img"
        with open(disk, "wb") as handle:
            handle.truncate(DISK_SIZE)
        run(["mkfs.ext4", "-q", "-F", "-L", "testbed-root", "-d", str(staging), str(disk)], capture_output=True)
        shutil.rmtree(staging)
        (partial / "recipe.json").write_text(json.dumps(recipe, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        if final.exists():
            shutil.rmtree(final)
        partial.rename(final)
    except BaseException:
        if not _mounts_under(partial):
            shutil.rmtree(partial, ignore_errors=True)
        raise


def image_prefix(selinux: bool) -> str:
    """Name prefix of cached VM images: each variant is cached (and pruned) on its own."""
    return "vmse-" if selinux else "vm-"


def _prune_images(keep: Path, prefix: str) -> None:
    """Remove older VM images of the same variant that no running VM uses as its backing disk."""
    in_use = {str(Path(p).parent) for vm in _our_qemus() for p in _open_files(vm["pid"])}
    for old in CACHE_DIR.glob(f"{prefix}*"):
        if old.is_dir() and old != keep and str(old) not in in_use and not old.name.endswith(".partial"):
            log(f"removing old VM image {old}")
            shutil.rmtree(old, ignore_errors=True)


def build_image(pubkey: str, selinux: str = "") -> dict:
    """Cached VM boot artefacts: {"kernel", "initrd", "disk", "digest", "selinux"} (selinux: the boot mode or "")."""
    with _lock(CACHE_DIR / "vm-build.lock"):
        if selinux:
            rootfs, rootfs_digest = cached_rootfs("vmroot-selinux", PACKAGES + SELINUX_PACKAGES)
        else:
            rootfs, rootfs_digest = cached_rootfs("vmroot", PACKAGES)
        recipe = _recipe(rootfs_digest, pubkey, bool(selinux))
        digest = recipe_digest(recipe)
        final = CACHE_DIR / f"{image_prefix(bool(selinux))}{digest}"
        image = {"kernel": str(final / "vmlinuz"), "initrd": str(final / "initrd.img"), "disk": str(final / "disk.img"),
                 "digest": digest, "selinux": selinux}
        if all(Path(image[key]).is_file() for key in ("kernel", "initrd", "disk")):
            return image
        log(f"building VM image {final}")
        started = time.monotonic()
        _assemble(rootfs, pubkey, recipe, final, bool(selinux))
        log(f"VM image built in {time.monotonic() - started:.0f}s")
        _prune_images(final, image_prefix(bool(selinux)))
    return image


def _paths(name: str, state_dir: Path) -> dict:
    """Per-VM file paths in the state directory."""
    state_dir = state_dir.resolve()
    return {"disk": str(state_dir / f"{name}.qcow2"), "pidfile": str(state_dir / f"{name}.pid"),
            "console_log": str(state_dir / f"{name}.console.log")}


def _cmdline(pid: int) -> list[str]:
    """A process's argv ([] when it is gone)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [arg.decode(errors="replace") for arg in raw.split(b"\0") if arg]


def _alive(pid: int) -> bool:
    """Whether the process exists and is not a zombie (PID 1 here may never reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _is_qemu(pid: int, pidfile: str | None = None) -> bool:
    """Whether ``pid`` is a live qemu system emulator (started with ``pidfile``, when given)."""
    if pid <= 1 or not _alive(pid):
        return False
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return False
    argv = _cmdline(pid)
    return os.path.basename(exe).startswith("qemu-system") and (pidfile is None or pidfile in argv)


def _read_pid(pidfile: str) -> int:
    """The pid in a qemu pidfile (0 when missing or unreadable)."""
    try:
        return int(Path(pidfile).read_text(encoding="utf-8").strip() or 0)
    except (OSError, ValueError):
        return 0


def _our_qemus() -> list[dict]:
    """Every running testbed qemu on this machine: {"pid", "name", "pidfile"}."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        argv = _cmdline(pid)
        if not argv or not os.path.basename(argv[0]).startswith("qemu-system") or "-name" not in argv:
            continue
        tag = argv[argv.index("-name") + 1].split(",")[0] if argv.index("-name") + 1 < len(argv) else ""
        if tag.startswith(NAME_PREFIX) and "-pidfile" in argv and _is_qemu(pid):
            found.append({"pid": pid, "name": tag[len(NAME_PREFIX):], "pidfile": argv[argv.index("-pidfile") + 1]})
    return found


def _open_files(pid: int) -> list[str]:
    """Paths a process has open (best effort)."""
    try:
        return [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
    except OSError:
        return []


def _port_free(port: int) -> bool:
    """Whether 127.0.0.1:port can be bound (as qemu's forwarding would)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def console_tail(record: dict, lines: int = 30) -> str:
    """The last lines of a VM's serial console, without terminal escapes."""
    try:
        text = Path(record["console_log"]).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no console log)"
    # Colour codes, hyperlinks and carriage returns of systemd's status output.
    text = re.sub(r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b\[[0-9;?]*[A-Za-z]|\r", "", text)
    return "\n".join([line for line in text.splitlines() if line.strip()][-lines:])


def wait_ssh(record: dict, key_path: Path, timeout: float) -> None:
    """Wait until the VM answers SSH with systemd ``running``; fail with the console's tail otherwise."""
    wait_ready(record, key_path, timeout, still_up=lambda: is_running(record),
               diagnostics=lambda: f"console:\n{console_tail(record)}")


def start(name: str, index: int, state_dir: Path, image: dict, *, key_path: Path | None = None, timeout: float = 180.0,
          wait: bool = True) -> dict:
    """Boot one VM detached; wait until SSH answers and systemd is up; return its host record."""
    port = BASE_PORT + index
    paths = _paths(name, state_dir)
    stop({"name": name, **paths})  # a VM of the same name left from an earlier run
    if not _port_free(port):
        raise SystemExit(f"testbed: port 127.0.0.1:{port} for VM {name} is in use; stop whatever holds it")
    Path(state_dir).mkdir(parents=True, exist_ok=True)
    # Copy-on-write disk: the cached image stays pristine and is shared by every VM.
    run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", image["disk"], "-F", "raw", paths["disk"]], capture_output=True)
    append = kernel_append(name, image.get("selinux", ""))
    argv = [
        "qemu-system-x86_64", "-name", f"{NAME_PREFIX}{name},process={NAME_PREFIX}{name}",
        "-accel", "tcg", "-m", str(MEMORY_MB), "-smp", str(CPUS), "-nodefaults", "-display", "none", "-monitor", "none",
        "-kernel", image["kernel"], "-initrd", image["initrd"], "-append", append,
        "-drive", f"file={paths['disk']},format=qcow2,if=virtio,cache=unsafe",
        # restrict=on: the guest reaches nothing outside; the forwarded SSH port still works.
        "-netdev", f"user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:{port}-:22", "-device", "virtio-net-pci,netdev=n0",
        "-device", "virtio-rng-pci",
        "-serial", f"file:{paths['console_log']}",
        "-daemonize", "-pidfile", paths["pidfile"],
    ]
    log(f"starting VM {name} on 127.0.0.1:{port}")
    started = time.monotonic()
    record = {"name": name, "kind": "vm", "ansible_host": "127.0.0.1", "ansible_port": port, "pid": 0, **paths}
    if image.get("selinux"):
        record["selinux"] = image["selinux"]
    try:
        run(argv, capture_output=True, timeout=60)
        record["pid"] = _read_pid(paths["pidfile"])
        if not _is_qemu(record["pid"], paths["pidfile"]):
            raise SystemExit(f"testbed: VM {name} did not stay up; console:\n{console_tail(record)}")
        if wait:
            wait_ssh(record, key_path or DEFAULT_KEY, timeout)
            log(f"VM {name} up in {time.monotonic() - started:.0f}s")
    except BaseException:
        stop(record)
        raise
    return record


def is_running(record: dict) -> bool:
    """Whether the VM of this record is still running."""
    return _is_qemu(_read_pid(record["pidfile"]) or int(record.get("pid", 0)), record["pidfile"])


def stop(record: dict) -> None:
    """Stop the VM of this record and remove its per-VM files. Safe to call twice / when already gone."""
    pid = _read_pid(record["pidfile"]) or int(record.get("pid", 0))
    # Only ever signal a qemu started with this record's pidfile (pids get reused).
    if _is_qemu(pid, record["pidfile"]):
        for sig, grace in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
            deadline = time.monotonic() + grace
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            if not _alive(pid):
                break
        if _alive(pid):
            raise SystemExit(f"testbed: VM {record.get('name')} (pid {pid}) does not stop")
    for key in ("disk", "pidfile", "console_log"):
        Path(record[key]).unlink(missing_ok=True)


def running_vms(state_dir: Path | None = None) -> list[str]:
    """Testbed VMs running on this machine (only those of ``state_dir``, when given)."""
    found = _our_qemus()
    if state_dir is not None:
        found = [vm for vm in found if Path(vm["pidfile"]).parent == state_dir.resolve()]
    return [f"{vm['name']} (pid {vm['pid']})" for vm in found]


def stop_all(state_dir: Path) -> None:
    """Stop every VM of ``state_dir``, recorded or not, and remove their files."""
    state_dir = state_dir.resolve()
    for vm in _our_qemus():
        if Path(vm["pidfile"]).parent == state_dir:
            stop({"name": vm["name"], "pid": vm["pid"], **_paths(vm["name"], state_dir)})
    if state_dir.is_dir():
        for pattern in ("*.qcow2", "*.pid", "*.console.log"):
            for path in state_dir.glob(pattern):
                path.unlink(missing_ok=True)
