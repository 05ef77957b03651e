# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Benchmark of the no-op re-run of playbooks/container_host.yml against a one-task ping play (`make bench`).

Six testbed container hosts are configured once by playbooks/container_host.yml (the first run, timed too). Then,
each round, on 1 host and on all 6: the playbook again with nothing to do (batches of 2, the playbook's default,
and for 6 hosts also one batch of 6), and a play of one ansible.builtin.ping task on the same hosts. Reports wall
times, the tasks' own time, and each no-op run as a ratio to the ping play on the same hosts: what a fleet pays for
the fitness gate, the role's checks, the health check and the run records when nothing is to change.

Timings are measured, never asserted. Prints a table and writes JSON to tests/output/bench/container_host.json (or
--output). The testbed is its own: 6 container hosts (instance chbenchch on 172.29.253.0/24, state in
tests/output/bench/container_host-testbed) unless CHTB_INSTANCE, CHTB_SUBNET, CHTB_VM_PORT_BASE and CHTB_STATE say
otherwise; it is torn down at the end.
"""

from __future__ import annotations

import json
import platform
import sys
import tempfile
import time
import typing as t

from pathlib import Path

from _harness import OUTPUT_DIR, REPO, Harness, bench_env, bench_parser, log, median

DEFAULT_OUTPUT = OUTPUT_DIR / "container_host.json"
HOSTS = 6
TESTBED_DEFAULTS = {
    "CHTB_INSTANCE": "chbenchch",
    "CHTB_SUBNET": "172.29.253.0/24",
    "CHTB_VM_PORT_BASE": "2990",
    "CHTB_STATE": str(OUTPUT_DIR / "container_host-testbed"),
}
PLAYBOOK = REPO / "playbooks" / "container_host.yml"
PING_PLAY = """---
- name: Bench | One ping task
  hosts: "{{ bench_hosts }}"
  gather_facts: false
  tasks:
    - name: Bench | Ping
      ansible.builtin.ping:
"""
# What every host is configured with: each part of the role has something to keep (in a container the
# kernel-level parts are checked and reported as skipped, as on a real container host).
HOST_VARS: dict[str, t.Any] = {
    "container_host_fitness_requirements": {"kernel_min": "5.10", "cpus_min": 1, "memory_min_mb": 256,
                                            "engines": ["podman>=4.0"],
                                            "disk_free": [{"path": "/var/lib/containers", "min_gb": 0.5}]},
    "container_host_sysctls": {"net.core.somaxconn": 4096, "net.ipv4.ip_forward": 1, "vm.max_map_count": 262144},
    "container_host_kernel_modules": [{"name": "overlay"}, {"name": "br_netfilter"}],
    "container_host_hugepages": [{"size": "2M", "count": 16}],
    "container_host_cpu_isolation": {"reserved_cpus": "1", "housekeeping_cpus": "0"},
    "resource_slices_slices": [{"name": "tenant.slice", "cpu_weight": 200, "memory_max": "512M"}],
    "container_host_mcs": {"names": ["registry-cache", "metrics"]},
    "container_runtime_trust_manage": False,
}
# (label, hosts pattern, extra arguments of the no-op run)
CASES = (
    ("1 host", "h1", ()),
    ("6 hosts, batches of 2", "all", ()),
    ("6 hosts, one batch", "all", ("-e", "container_host_batch_size=6")),
)


def table(summary: dict[str, t.Any], repeat: int) -> str:
    """The results as a small text table."""
    lines = [f"playbooks/container_host.yml on testbed container hosts (median of {repeat} run(s); seconds)",
             f"{'':32}{'playbook':>10}{'tasks':>10}{'ping':>10}{'ratio':>10}",
             f"{'first run, 6 hosts':32}{summary['first']['wall_seconds']:>10.2f}"
             f"{summary['first']['task_seconds']:>10.2f}{'':>10}{'':>10}"]
    for label, dummy_pattern, dummy_args in CASES:
        case = summary["noop"][label]
        lines.append(f"{'no-op, ' + label:32}{case['wall_seconds']:>10.2f}{case['task_seconds']:>10.2f}"
                     f"{case['ping_wall_seconds']:>10.2f}{case['ratio']:>10.1f}")
    lines.append("ratio = no-op playbook wall time / ping play wall time on the same hosts")
    return "\n".join(lines)


def main() -> int:
    """Bring up the hosts, configure them once, measure no-op runs against ping plays, write the results, tear down."""
    parser = bench_parser(__doc__, DEFAULT_OUTPUT, 3, "rounds of the no-op and ping runs (the median is reported)")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    env = bench_env(TESTBED_DEFAULTS)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    runs: dict[str, t.Any] = {"first": [], "noop": {label: [] for label, *dummy in CASES},
                              "ping": {label: [] for label, *dummy in CASES}}

    with tempfile.TemporaryDirectory(prefix="bench-container-host-") as workdir:
        bench = Harness(env, Path(workdir))
        vars_file = Path(workdir) / "vars.json"
        vars_file.write_text(json.dumps({**HOST_VARS, "container_host_report_dir": str(Path(workdir) / "runs")}),
                             encoding="utf-8")
        ping = Path(workdir) / "ping.yml"
        ping.write_text(PING_PLAY, encoding="utf-8")
        with bench.testbed_up(args.keep_testbed, "--hosts", str(HOSTS), "--vms", "0"):
            log("first run: configure every host")
            first = bench.run_playbook(PLAYBOOK, vars_file)
            if not first["changed"]:
                raise RuntimeError("the first run changed nothing: the hosts were not bare")
            runs["first"].append(first)
            for round_index in range(args.repeat):
                for label, pattern, extra in CASES:
                    log(f"round {round_index + 1}/{args.repeat}: {label}: no-op run, then ping")
                    noop = bench.run_playbook(PLAYBOOK, vars_file,
                                              extra_args=("-e", f"container_host_rollout_hosts={pattern}", *extra))
                    if noop["changed"]:
                        changed = sorted({task["task"] for task in noop["tasks"] if task["changed"]})
                        raise RuntimeError(f"the no-op run changed something: {changed}")
                    runs["noop"][label].append(noop)
                    runs["ping"][label].append(bench.run_playbook(ping, vars_file, extra_args=("-e", f"bench_hosts={pattern}")))

    summary: dict[str, t.Any] = {
        "first": {kind: median([run[kind] for run in runs["first"]]) for kind in ("wall_seconds", "task_seconds")},
        "noop": {},
    }
    for label, dummy_pattern, dummy_args in CASES:
        noop_wall = median([run["wall_seconds"] for run in runs["noop"][label]])
        ping_wall = median([run["wall_seconds"] for run in runs["ping"][label]])
        summary["noop"][label] = {
            "wall_seconds": noop_wall,
            "task_seconds": median([run["task_seconds"] for run in runs["noop"][label]]),
            "ping_wall_seconds": ping_wall,
            "ratio": round(noop_wall / ping_wall, 2),
            "tasks_per_host": max(len([task for task in run["tasks"] if task["host"] == "h1"]) for run in runs["noop"][label]),
        }
    results = {
        "benchmark": "playbooks/container_host.yml no-op vs ansible.builtin.ping",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "controller": {"python": platform.python_version(), "machine": platform.machine()},
        "hosts": {"count": HOSTS, "kind": "testbed container (podman, systemd as PID 1, cgroup hybrid)"},
        "repeat": args.repeat,
        "host_vars": HOST_VARS,
        "runs": runs,
        "median": summary,
        "notes": [
            "first run = the playbook configuring six bare hosts in batches of 2 (measured once)",
            "no-op = the same playbook with nothing to change: start and validate plays, per batch the fitness gate, "
            "the role (tuning checks, engine, slices, MCS labels, report), the health check and the run records, "
            "then the summary",
            "ping = one play of one ansible.builtin.ping task on the same hosts (no fact gathering)",
            "playbook = wall time of ansible-playbook; tasks = the tasks' own time (bench_timer callback), per task "
            "the slowest host, summed over tasks; ratio = no-op wall time / ping wall time",
            "in batches a task runs once per batch under one name, and the tasks column keeps its slowest run only: "
            "compare batched runs by wall time",
        ],
    }
    args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(table(summary, args.repeat))
    print(f"\nresults: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
