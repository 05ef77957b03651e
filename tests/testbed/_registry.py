"""The testbed's image registries: Debian's docker-registry on the controller, reachable from the testbed hosts.

Two registry processes per testbed instance, both TLS with a CA and a server certificate made for this testbed:
``open`` (no authentication) and ``auth`` (htpasswd basic authentication, bcrypt). They listen on the gateway
address of the instance's podman bridge, which the hosts reach and which is an address of the controller too, so
tests on the controller use the same address. Configuration, certificates, password file, storage, logs and
pidfiles live under $CHTB_STATE/registry and go with ``testbed.py down``.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path

from _rootfs import INSTANCE, log, run

REGISTRY_BIN = "/usr/bin/docker-registry"
USERNAME = "chtest"
# Both ports are on the instance's own gateway address, so instances side by side can use the same numbers.
BASE_PORT = int(os.environ.get("CHTB_REGISTRY_PORT", "5000"))
KINDS = ("open", "auth")
INFO_FILE = "registry.json"
CERT_DAYS = 30


def ports(base: int = BASE_PORT) -> dict[str, int]:
    """The port of each registry kind."""
    return {kind: base + offset for offset, kind in enumerate(KINDS)}


def gateway_from_inspect(inspect: list | dict, subnet: ipaddress.IPv4Network | ipaddress.IPv6Network) -> str:
    """The gateway of ``subnet`` in ``podman network inspect`` output; the subnet's first address when not shown."""
    networks = inspect if isinstance(inspect, list) else [inspect]
    for network in networks:
        for entry in network.get("subnets") or []:
            if entry.get("subnet") == str(subnet) and entry.get("gateway"):
                return str(entry["gateway"])
    return str(subnet.network_address + 1)


def san_extension(addresses: Iterable[str]) -> str:
    """The subjectAltName value of the server certificate: one IP (or DNS) entry per address, no duplicates."""
    entries: list[str] = []
    for address in addresses:
        try:
            entry = f"IP:{ipaddress.ip_address(address)}"
        except ValueError:
            entry = f"DNS:{address}"
        if entry not in entries:
            entries.append(entry)
    return ",".join(entries)


def render_config(kind: str, address: str, port: int, root: Path) -> str:
    """docker-registry's configuration for one registry kind (JSON, which its YAML reader accepts)."""
    config: dict = {
        "version": "0.1",
        "log": {"level": "info", "fields": {"service": f"testbed-registry-{kind}"}},
        "storage": {
            "filesystem": {"rootdirectory": str(root / kind / "data")},
            # Tests remove images from the registry too; uploads are purged by the registry's own schedule only.
            "delete": {"enabled": True},
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": {
            "addr": f"{address}:{port}",
            "tls": {"certificate": str(root / "server.crt"), "key": str(root / "server.key")},
            "headers": {"X-Content-Type-Options": ["nosniff"]},
        },
    }
    if kind == "auth":
        config["auth"] = {"htpasswd": {"realm": "containerhost-testbed", "path": str(root / "htpasswd")}}
    return json.dumps(config, indent=2) + "\n"


def inventory_vars(info: dict) -> dict:
    """The ``testbed_registry`` inventory variable: where the registries are and how to reach them."""
    return {
        "address": info["address"],
        "tls_port": info["ports"]["open"],
        "auth_port": info["ports"]["auth"],
        # host:port as image names carry them.
        "tls_registry": f"{info['address']}:{info['ports']['open']}",
        "auth_registry": f"{info['address']}:{info['ports']['auth']}",
        "ca_cert": info["ca_cert"],
        "ca_cert_path": info["ca_cert_path"],
        "cert_dir": info["cert_dir"],
        "username": info["username"],
        "password": info["password"],
    }


def matching_processes(processes: Iterable[tuple[int, list[str]]], root: Path) -> list[tuple[int, list[str]]]:
    """The docker-registry processes among ``(pid, argv)`` whose arguments lie under ``root``."""
    prefix = f"{root}/"
    return [(pid, argv) for pid, argv in processes
            if argv and os.path.basename(argv[0]) == os.path.basename(REGISTRY_BIN)
            and any(arg.startswith(prefix) for arg in argv[1:])]


def process_table() -> list[tuple[int, list[str]]]:
    """Every process of this machine as ``(pid, argv)``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        argv = [part.decode(errors="replace") for part in raw.split(b"\0") if part]
        if argv:
            found.append((int(entry.name), argv))
    return found


class Registry:
    """The registries of one testbed instance, with their files under ``state_dir``/registry."""

    def __init__(self, state_dir: Path, address: str) -> None:
        self.root = (state_dir / "registry").resolve()
        self.address = address
        self.ports = ports()
        self.info_path = self.root / INFO_FILE

    # ---- what exists
    def info(self) -> dict | None:
        """The recorded registry description, or None."""
        if self.info_path.exists():
            return json.loads(self.info_path.read_text())
        return None

    def processes(self) -> list[tuple[int, list[str]]]:
        """docker-registry processes serving files of this instance."""
        return matching_processes(process_table(), self.root)

    def healthy(self) -> bool:
        """Whether both registries answer over TLS with the recorded CA."""
        info = self.info()
        if not info:
            return False
        return all(self._answers(kind, info["ca_cert_path"]) for kind in KINDS)

    def _answers(self, kind: str, ca_path: str) -> bool:
        """Whether one registry answers /v2/ (200 without authentication, 401 with)."""
        context = ssl.create_default_context(cafile=ca_path)
        url = f"https://{self.address}:{self.ports[kind]}/v2/"
        try:
            with urllib.request.urlopen(url, context=context, timeout=5) as response:
                return kind == "open" and response.status == 200
        except urllib.error.HTTPError as exc:
            return kind == "auth" and exc.code == 401
        except (urllib.error.URLError, OSError, ssl.SSLError):
            return False

    # ---- start
    def up(self) -> dict:
        """Start both registries (reusing running, healthy ones) and return their description."""
        if self.healthy() and len(self.processes()) == len(KINDS):
            log(f"registries already up on {self.address}")
            return self.info() or {}
        self.down()
        if not Path(REGISTRY_BIN).exists():
            raise SystemExit(f"testbed: {REGISTRY_BIN} is missing (Debian package docker-registry; make setup)")
        self._check_address()
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.root.chmod(0o700)
        self._certificates()
        password = secrets.token_urlsafe(18)
        self._htpasswd(password)
        cert_dir = self.root / "certs.d"
        for kind in KINDS:
            (self.root / kind / "data").mkdir(parents=True, exist_ok=True)
            config = self.root / kind / "config.yml"
            config.write_text(render_config(kind, self.address, self.ports[kind], self.root))
            # skopeo/podman --cert-dir style directories, one per registry address.
            per_registry = cert_dir / f"{self.address}:{self.ports[kind]}"
            per_registry.mkdir(parents=True, exist_ok=True)
            (per_registry / "ca.crt").write_text((self.root / "ca.crt").read_text())
        (self.root / "certs").mkdir(exist_ok=True)
        (self.root / "certs" / "ca.crt").write_text((self.root / "ca.crt").read_text())
        info = {
            "address": self.address,
            "ports": self.ports,
            "ca_cert": (self.root / "ca.crt").read_text(),
            "ca_cert_path": str(self.root / "ca.crt"),
            # One directory with ca.crt, for skopeo --dest-cert-dir / --src-cert-dir and podman --cert-dir.
            "cert_dir": str(self.root / "certs"),
            "username": USERNAME,
            "password": password,
            "pids": {},
        }
        self._write_info(info)
        try:
            for kind in KINDS:
                info["pids"][kind] = self._start(kind)
                self._write_info(info)
            self._wait(info)
        except BaseException:
            log("registry start failed; stopping what was started")
            self.down()
            raise
        log(f"registries up: open https://{self.address}:{self.ports['open']}, "
            f"basic auth https://{self.address}:{self.ports['auth']}")
        return info

    def _write_info(self, info: dict) -> None:
        """Record the description (it holds the password: owner-only)."""
        fd = os.open(self.info_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(json.dumps(info, indent=2) + "\n")

    def _check_address(self) -> None:
        """The gateway address must be on this machine (podman sets it when the first host starts)."""
        with socket.socket(socket.AF_INET6 if ":" in self.address else socket.AF_INET) as probe:
            try:
                probe.bind((self.address, 0))
            except OSError as exc:
                raise SystemExit(f"testbed: the gateway address {self.address} is not on this machine ({exc}); "
                                 "start at least one container host first (testbed.py up --hosts 1)") from None

    def _certificates(self) -> None:
        """A CA and a server certificate for the gateway address and loopback, made for this testbed."""
        root = self.root
        subject = f"/O=containerhost testbed/OU={INSTANCE}/CN=registry CA {secrets.token_hex(4)}"
        run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", str(root / "ca.key"), "-out", str(root / "ca.crt"), "-days", str(CERT_DAYS), "-subj", subject,
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
            capture_output=True)
        run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", str(root / "server.key"), "-out", str(root / "server.csr"),
             "-subj", f"/CN={self.address}"], capture_output=True)
        extensions = root / "server.ext"
        extensions.write_text(
            f"subjectAltName={san_extension([self.address, '127.0.0.1'])}\n"
            "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
        run(["openssl", "x509", "-req", "-in", str(root / "server.csr"), "-CA", str(root / "ca.crt"),
             "-CAkey", str(root / "ca.key"), "-CAcreateserial", "-out", str(root / "server.crt"),
             "-days", str(CERT_DAYS), "-extfile", str(extensions)], capture_output=True)
        for key in ("ca.key", "server.key"):
            (root / key).chmod(0o600)

    def _htpasswd(self, password: str) -> None:
        """The password file of the auth registry (bcrypt; the password goes on stdin, never on argv)."""
        result = run(["htpasswd", "-niB", USERNAME], input=password + "\n", capture_output=True)
        line = result.stdout.strip().splitlines()[0]
        fd = os.open(self.root / "htpasswd", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(line + "\n")

    def _start(self, kind: str) -> int:
        """Start one registry in the background, detached from this process; returns its pid."""
        directory = self.root / kind
        # The registry reads REGISTRY_* variables as configuration overrides: keep only the basics.
        env = {key: value for key, value in os.environ.items() if key in ("PATH", "LANG", "TZ")}
        with open(directory / "registry.log", "ab") as log_file:
            process = subprocess.Popen(  # pylint: disable=consider-using-with
                [REGISTRY_BIN, "serve", str(directory / "config.yml")], stdin=subprocess.DEVNULL, stdout=log_file,
                stderr=subprocess.STDOUT, cwd="/", env=env, start_new_session=True)
        (directory / "registry.pid").write_text(f"{process.pid}\n")
        return process.pid

    def _wait(self, info: dict, timeout: float = 30) -> None:
        """Wait until both registries answer; fail with the log of one that exited or never answered."""
        deadline = time.monotonic() + timeout
        pending = list(KINDS)
        while pending and time.monotonic() < deadline:
            for kind in list(pending):
                if _gone(info["pids"][kind]):
                    raise SystemExit(f"testbed: registry {kind} exited:\n{self._log_tail(kind)}")
                if self._answers(kind, info["ca_cert_path"]):
                    pending.remove(kind)
            if pending:
                time.sleep(0.3)
        if pending:
            raise SystemExit(f"testbed: registry {pending[0]} did not answer in {timeout:.0f}s:\n"
                             f"{self._log_tail(pending[0])}")

    def _log_tail(self, kind: str) -> str:
        """The end of one registry's log."""
        path = self.root / kind / "registry.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else "(no log)"

    # ---- stop
    def down(self) -> None:
        """Stop this instance's registry processes (found by their files, not only the pidfiles); remove the files."""
        found = self.processes()
        for pid, _argv in found:
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not all(_gone(pid) for pid, _argv in found):
            time.sleep(0.2)
        for pid, _argv in found:
            if not _gone(pid):
                _signal(pid, signal.SIGKILL)
        if self.root.exists():
            run(["rm", "-rf", "--one-file-system", str(self.root)])


def _signal(pid: int, signum: int) -> None:
    """Send a signal to one process; gone already is fine."""
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _gone(pid: int) -> bool:
    """Whether a process has ended (reaping it when it is a child of this process)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return True
    return fields[0] in ("Z", "X")


def gateway(network: str, subnet: ipaddress.IPv4Network | ipaddress.IPv6Network) -> str:
    """The gateway address of the instance's podman network (the subnet's first address when it does not exist)."""
    out = run(["podman", "network", "inspect", network], check=False, capture_output=True).stdout
    try:
        data = json.loads(out or "[]")
    except ValueError:
        data = []
    return gateway_from_inspect(data, subnet)
