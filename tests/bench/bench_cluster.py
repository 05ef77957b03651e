# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Benchmark of playbooks/cluster.yml on three bare testbed container hosts (`make bench`).

Each round: playbooks/reset.yml takes the cluster down (the hosts are bare again: etcd installed, stopped,
disabled, no data), then cluster.yml brings up three etcd members over TLS and the engine phase (first run), then
runs again with nothing to do (no-op re-run). Reports the wall time of each and the tasks' own time.

Timings are measured, never asserted. Prints a table and writes JSON to tests/output/bench/cluster.json (or
--output). The testbed is its own: 3 container hosts (instance chbenchcl on 172.29.252.0/24, state in
tests/output/bench/cluster-testbed) unless CHTB_INSTANCE, CHTB_SUBNET, CHTB_VM_PORT_BASE and CHTB_STATE say
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

DEFAULT_OUTPUT = OUTPUT_DIR / "cluster.json"
HOSTS = 3
TESTBED_DEFAULTS = {
    "CHTB_INSTANCE": "chbenchcl",
    "CHTB_SUBNET": "172.29.252.0/24",
    "CHTB_VM_PORT_BASE": "2980",
    "CHTB_STATE": str(OUTPUT_DIR / "cluster-testbed"),
}
CLUSTER = REPO / "playbooks" / "cluster.yml"
RESET = REPO / "playbooks" / "reset.yml"


def cluster_inventory(hosts: list[str]) -> dict[str, t.Any]:
    """The groups cluster.yml needs, added to the testbed's inventory: every host is an etcd member and a node."""
    members = {name: None for name in hosts}
    return {"all": {"children": {"etcd": {"hosts": members}, "nodes": {"hosts": members}}}}


def table(summary: dict[str, dict[str, float]], hosts: int, repeat: int) -> str:
    """The results as a small text table."""
    lines = [f"playbooks/cluster.yml on {hosts} bare hosts (median of {repeat} run(s); seconds)",
             f"{'':22}{'playbook':>10}{'tasks':>10}"]
    for phase, label in (("first", "first run"), ("noop", "no-op re-run")):
        lines.append(f"{label:22}{summary[phase]['wall_seconds']:>10.2f}{summary[phase]['task_seconds']:>10.2f}")
    return "\n".join(lines)


def main() -> int:
    """Bring up the hosts, measure rounds of reset / first run / no-op re-run, write the results, tear down."""
    parser = bench_parser(__doc__, DEFAULT_OUTPUT, 1, "rounds (the median is reported)")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    env = bench_env(TESTBED_DEFAULTS)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    runs: dict[str, list[dict[str, t.Any]]] = {"first": [], "noop": []}

    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as workdir:
        bench = Harness(env, Path(workdir))
        groups_file = Path(workdir) / "cluster-groups.json"
        vars_file = Path(workdir) / "cluster-vars.json"
        groups_file.write_text(json.dumps(cluster_inventory([f"h{i}" for i in range(1, HOSTS + 1)])), encoding="utf-8")
        vars_file.write_text(json.dumps({"etcd_pki_dir": str(Path(workdir) / "etcd-pki"), "cluster_reset_confirm": "yes",
                                         "container_runtime_trust_manage": False}), encoding="utf-8")
        extra = ("-i", str(groups_file))
        with bench.testbed_up(args.keep_testbed, "--hosts", str(HOSTS), "--vms", "0"):
            for round_index in range(args.repeat):
                bench.run_playbook(RESET, vars_file, extra_args=extra)
                log(f"round {round_index + 1}/{args.repeat}: first run")
                first = bench.run_playbook(CLUSTER, vars_file, extra_args=extra)
                log(f"round {round_index + 1}/{args.repeat}: no-op re-run")
                noop = bench.run_playbook(CLUSTER, vars_file, extra_args=extra)
                if not first["changed"] or noop["changed"]:
                    raise RuntimeError("expected a change on the first run only "
                                       f"(first changed={first['changed']}, re-run changed={noop['changed']})")
                runs["first"].append(first)
                runs["noop"].append(noop)

    summary = {phase: {kind: median([run[kind] for run in results]) for kind in ("wall_seconds", "task_seconds")}
               for phase, results in runs.items()}
    results = {
        "benchmark": "playbooks/cluster.yml",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "controller": {"python": platform.python_version(), "machine": platform.machine()},
        "hosts": {"count": HOSTS, "kind": "testbed container (podman, systemd as PID 1)"},
        "repeat": args.repeat,
        "runs": runs,
        "median": summary,
        "notes": [
            "first run = three new etcd members over TLS (CA made on the controller) and the engine phase on bare "
            "hosts; no-op re-run = the same playbook with nothing to do",
            "playbook = wall time of ansible-playbook; tasks = the tasks' own time (bench_timer callback), per task "
            "the slowest host, summed over tasks",
        ],
    }
    args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(table(summary, HOSTS, args.repeat))
    print(f"\nresults: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
