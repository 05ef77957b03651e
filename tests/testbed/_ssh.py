"""Reaching testbed hosts over SSH, the way Ansible reaches them."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

SSH_OPTS = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
            "-o", "BatchMode=yes", "-o", "ConnectTimeout=15"]


def ssh(record: dict, key_path: Path, *command: str, timeout: float = 30) -> subprocess.CompletedProcess:
    """Run a command on a host as root over SSH."""
    argv = ["ssh", *SSH_OPTS, "-i", str(key_path), "-p", str(record["ansible_port"]), f"root@{record['ansible_host']}", *command]
    return subprocess.run(argv, check=False, text=True, capture_output=True, timeout=timeout)


def wait_ready(record: dict, key_path: Path, timeout: float, still_up: Callable[[], bool] = lambda: True,
               diagnostics: Callable[[], str] = lambda: "") -> None:
    """Wait until SSH answers and systemd reports ``running``; fail with the failed units or ``diagnostics()``."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if not still_up():
            raise SystemExit(f"testbed: {record['name']} exited while booting\n{diagnostics()}")
        try:
            result = ssh(record, key_path, "systemctl", "is-system-running", "--wait", timeout=max(5.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            last = "ssh timed out"
            break
        state = result.stdout.strip()
        last = (result.stdout + result.stderr).strip() or f"ssh exit {result.returncode}"
        if state == "running":
            return
        if state == "degraded":
            failed = ssh(record, key_path, "systemctl", "--failed", "--no-legend", "--plain").stdout.strip()
            raise SystemExit(f"testbed: {record['name']} booted degraded, failed units:\n{failed}")
        time.sleep(2)
    raise SystemExit(f"testbed: {record['name']} not ready after {timeout:.0f}s (last: {last})\n{diagnostics()}")
