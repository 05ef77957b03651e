"""Shared by the cluster scenario's test directories: the inventory, etcdctl over TLS and the member list."""

from __future__ import annotations

import json
import os

from testinfra.utils.ansible_runner import AnsibleRunner

RUNNER = AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"])

PKI = "/etc/etcd/pki"
TLS = f"--cacert={PKI}/ca.crt --cert={PKI}/client.crt --key={PKI}/client.key"
FINGERPRINT = "# containerhost.platform:etcd"
# A write through the remaining members may fail only while a leader is elected: at most two election timeouts
# (2 s in this scenario) plus one command timeout of the writer (3 s). The README documents the same window.
WRITE_FAILURE_WINDOW_S = 2 * 2.0 + 3.0


def address(host) -> str:
    """The host's testbed address."""
    return host.ansible.get_variables()["ansible_host"]


def client_url(name: str) -> str:
    """The client URL of the inventory host ``name``."""
    return f"https://{RUNNER.get_variables(name)['ansible_host']}:2379"


def etcdctl(host, args: str, tls: str = TLS, endpoint: str | None = None):
    """Run etcdctl on ``host`` against its own client URL (or ``endpoint``)."""
    endpoint = endpoint or f"https://{address(host)}:2379"
    return host.run(f"ETCDCTL_API=3 etcdctl --dial-timeout=5s --command-timeout=10s {tls} --endpoints={endpoint} {args}")


def member_list(host) -> list[dict]:
    """The cluster's members as etcdctl lists them through ``host``."""
    result = etcdctl(host, "member list --write-out=json")
    assert result.rc == 0, result.stderr
    return json.loads(result.stdout)["members"]


def endpoint_statuses(host, names: list[str]) -> list[dict]:
    """``endpoint status`` of the members ``names``, asked through ``host``."""
    result = etcdctl(host, "endpoint status --write-out=json", endpoint=",".join(client_url(n) for n in names))
    assert result.rc == 0, result.stderr
    return json.loads(result.stdout)


def etcd_environment(host) -> dict[str, str]:
    """The environment of the running etcd process: what it loaded at its last start."""
    pid = host.check_output("systemctl show --property=MainPID --value etcd.service")
    assert pid not in ("", "0"), "etcd.service has no main process"
    raw = host.check_output(f"tr '\\0' '\\n' < /proc/{pid}/environ")
    return dict(line.split("=", 1) for line in raw.splitlines() if "=" in line)


def longest_failure_streak(log: str) -> tuple[float, int, int]:
    """From the writer's log ("<epoch> <rc>" per write): the longest time writes kept failing, and the counts."""
    entries = [(float(ts), int(rc)) for ts, rc in (line.split() for line in log.splitlines() if line.strip())]
    longest, streak_start = 0.0, None
    for stamp, rc in entries:
        if rc != 0 and streak_start is None:
            streak_start = stamp
        elif rc == 0 and streak_start is not None:
            longest, streak_start = max(longest, stamp - streak_start), None
    if streak_start is not None:
        longest = max(longest, entries[-1][0] - streak_start)
    failures = sum(1 for _stamp, rc in entries if rc != 0)
    return longest, len(entries) - failures, failures
