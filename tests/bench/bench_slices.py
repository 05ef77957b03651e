# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Benchmark of containerhost.platform.slice on one testbed container host (`make bench`).

Measures, in one run on one host that the bench starts and removes itself:

1. 200 slices declared by one ``slice`` task vs the same slices written by ``ansible.builtin.template`` (a loop) and
   ``ansible.builtin.systemd_service`` (one daemon-reload): first run on a clean host and a no-op re-run, as the
   playbook's wall time and the tasks' own time, and as ratios (template / module).
2. The module's own time on the host for 1, 10, 100 and 1000 slices, first run and no-op re-run: the module's
   AnsiballZ payload, kept on the host, run there under a clock (no SSH or controller time).

Timings are measured, never asserted. Prints a table and writes JSON to tests/output/bench/resource_slices.json
(or --output). Honours CHTB_INSTANCE, CHTB_SUBNET, CHTB_VM_PORT_BASE and CHTB_STATE; without them it uses an
instance of its own (chbench on 172.29.250.0/24, state in tests/output/bench/testbed) so that it never reshapes
a testbed someone else is using.
"""

from __future__ import annotations

import json
import platform
import shlex
import subprocess
import sys
import tempfile
import time
import typing as t

from pathlib import Path

from _harness import OUTPUT_DIR, Harness, bench_env, bench_parser, log, median

DEFAULT_OUTPUT = OUTPUT_DIR / "resource_slices.json"
# Where the module's payload is kept on the host for the module-only timings.
REMOTE_TMP = "/root/.ansible/bench-tmp"
TESTBED_DEFAULTS = {
    "CHTB_INSTANCE": "chbench",
    "CHTB_SUBNET": "172.29.250.0/24",
    "CHTB_VM_PORT_BASE": "2950",
    "CHTB_STATE": str(OUTPUT_DIR / "testbed"),
}


def bench_slices(count: int) -> list[dict[str, t.Any]]:
    """``count`` slices under bench.slice, each with a CPU weight and quota, memory, task and IO limits."""
    return [
        {
            "name": f"bench-s{index:04d}.slice",
            "description": f"Bench slice {index}",
            "cpu_weight": 100 + index % 50,
            "cpu_quota": f"{50 + index % 100}%",
            "memory_max": f"{256 + index}M",
            "tasks_max": 100 + index,
            "io_weight": 100 + index % 100,
        }
        for index in range(count)
    ]


class Bench(Harness):
    """Runs the playbooks and remote commands against the one bench host."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        super().__init__(env, workdir)
        self.host: dict[str, t.Any] = {}
        self.ssh_key = ""

    def load_host(self) -> None:
        """Read the host's address and the SSH key from the testbed state."""
        state = json.loads((Path(self.env["CHTB_STATE"]) / "state.json").read_text(encoding="utf-8"))
        containers = [record for record in state["hosts"] if record["kind"] == "container"]
        self.host = containers[0]
        self.ssh_key = state["ssh_key"]

    # ---- ansible-playbook
    def slices_file(self, count: int) -> Path:
        """A vars file holding bench_slices for ``count`` slices."""
        path = self.workdir / f"slices-{count}.json"
        if not path.exists():
            path.write_text(json.dumps({"bench_slices": bench_slices(count)}), encoding="utf-8")
        return path

    def playbook(self, name: str, count: int, keep_remote: bool = False) -> dict[str, t.Any]:
        """Run one bench playbook for ``count`` slices; with keep_remote the module payload stays on the host."""
        # Without pipelining the payload is copied to REMOTE_TMP and kept there (pipelining sends it over stdin).
        extra = {"ANSIBLE_KEEP_REMOTE_FILES": "1", "ANSIBLE_PIPELINING": "False",
                 "ANSIBLE_REMOTE_TMP": REMOTE_TMP} if keep_remote else None
        return self.run_playbook(name, self.slices_file(count), extra)

    def cleanup(self) -> None:
        """Remove the bench slices from the host."""
        self.playbook("cleanup.yml", 1)

    # ---- commands on the host
    def ssh(self, command: str) -> str:
        """Run a command on the host over SSH and return its stdout."""
        argv = ["ssh", "-i", self.ssh_key, "-p", str(self.host["ansible_port"]), "-o", "BatchMode=yes",
                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
                f"root@{self.host['ansible_host']}", command]
        return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=900).stdout

    def kept_payload(self) -> str:
        """Path of the newest slice module payload kept in REMOTE_TMP."""
        return self.ssh(f"ls -t {REMOTE_TMP}/*/AnsiballZ_slice.py | head -n 1").strip()

    def time_payload(self, payload: str) -> dict[str, t.Any]:
        """Run the kept payload on the host under a monotonic clock; seconds and whether it changed anything."""
        script = (
            "import json, subprocess, time\n"
            "started = time.monotonic()\n"
            f"done = subprocess.run(['/usr/bin/python3', {payload!r}], capture_output=True, text=True)\n"
            "seconds = time.monotonic() - started\n"
            "result = json.loads(done.stdout)\n"
            "print(json.dumps({'seconds': seconds, 'changed': result.get('changed'),"
            " 'failed': result.get('failed', False), 'msg': result.get('msg', '')}))\n"
        )
        outcome = json.loads(self.ssh(f"python3 -c {shlex.quote(script)}"))
        if outcome["failed"]:
            raise RuntimeError(f"slice module failed on the host: {outcome['msg']}")
        outcome["seconds"] = round(outcome["seconds"], 4)
        return outcome

    def remove_payloads(self) -> None:
        """Delete the kept payloads."""
        self.ssh(f"rm -rf {REMOTE_TMP}")


def compare_approaches(bench: Bench, count: int, repeat: int) -> dict[str, t.Any]:
    """Module vs template+systemd_service for ``count`` slices: first run and no-op re-run, ``repeat`` times each."""
    runs: dict[str, dict[str, list[dict[str, t.Any]]]] = {
        "module": {"first": [], "noop": []}, "template": {"first": [], "noop": []}}
    playbooks = {"module": "slice_module.yml", "template": "template_systemd.yml"}
    for round_index in range(repeat):
        # Alternate the order so that neither approach always runs on a host the other has just warmed.
        order = ["module", "template"] if round_index % 2 == 0 else ["template", "module"]
        for approach in order:
            bench.cleanup()
            log(f"{count} slices, {approach}, round {round_index + 1}/{repeat}: first run")
            first = bench.playbook(playbooks[approach], count)
            log(f"{count} slices, {approach}, round {round_index + 1}/{repeat}: no-op re-run")
            noop = bench.playbook(playbooks[approach], count)
            if not first["changed"] or noop["changed"]:
                raise RuntimeError(f"{approach}: expected a change on the first run only "
                                   f"(first changed={first['changed']}, re-run changed={noop['changed']})")
            runs[approach]["first"].append(first)
            runs[approach]["noop"].append(noop)
    bench.cleanup()
    summary: dict[str, t.Any] = {"slices": count, "repeat": repeat, "runs": runs, "median": {}, "ratio": {}}
    for approach, phases in runs.items():
        summary["median"][approach] = {
            phase: {"wall_seconds": median([r["wall_seconds"] for r in results]),
                    "task_seconds": median([r["task_seconds"] for r in results])}
            for phase, results in phases.items()
        }
    for phase in ("first", "noop"):
        summary["ratio"][phase] = {
            kind: round(summary["median"]["template"][phase][kind] / summary["median"]["module"][phase][kind], 2)
            for kind in ("wall_seconds", "task_seconds")
        }
    return summary


def module_scaling(bench: Bench, counts: list[int], repeat: int) -> list[dict[str, t.Any]]:
    """The module's own time on the host for each slice count: first run on a clean host and no-op re-run."""
    results = []
    for count in counts:
        bench.cleanup()
        bench.remove_payloads()
        log(f"module alone, {count} slices: building the payload")
        through_ansible = bench.playbook("slice_module.yml", count, keep_remote=True)
        payload = bench.kept_payload()
        first: list[float] = []
        noop: list[float] = []
        for round_index in range(repeat):
            bench.cleanup()
            log(f"module alone, {count} slices, round {round_index + 1}/{repeat}")
            run = bench.time_payload(payload)
            again = bench.time_payload(payload)
            if not run["changed"] or again["changed"]:
                raise RuntimeError(f"{count} slices: expected a change on the first run only")
            first.append(run["seconds"])
            noop.append(again["seconds"])
        results.append({
            "slices": count,
            "first_seconds": median(first),
            "noop_seconds": median(noop),
            "first_runs": first,
            "noop_runs": noop,
            "task_seconds_through_ansible": through_ansible["task_seconds"],
        })
    bench.cleanup()
    bench.remove_payloads()
    return results


def table(comparison: dict[str, t.Any], scaling: list[dict[str, t.Any]]) -> str:
    """The results as a small text table."""
    med, ratio = comparison["median"], comparison["ratio"]
    lines = [
        f"{comparison['slices']} slices on one host (median of {comparison['repeat']} run(s); seconds)",
        f"{'':26}{'slice module':>14}{'template+systemd':>18}{'ratio':>8}",
    ]
    for phase, label in (("first", "first run"), ("noop", "no-op re-run")):
        for kind, kind_label in (("wall_seconds", "playbook"), ("task_seconds", "tasks")):
            lines.append(f"{label + ', ' + kind_label:26}{med['module'][phase][kind]:>14.2f}"
                         f"{med['template'][phase][kind]:>18.2f}{ratio[phase][kind]:>7.1f}x")
    lines += ["", f"slice module's own time on the host (median of {len(scaling[0]['first_runs'])} runs; seconds)",
              f"{'slices':>8}{'first run':>12}{'no-op':>10}{'per slice (first)':>20}"]
    for row in scaling:
        per_slice = row["first_seconds"] / row["slices"] * 1000
        lines.append(f"{row['slices']:>8}{row['first_seconds']:>12.3f}{row['noop_seconds']:>10.3f}"
                     f"{per_slice:>17.2f} ms")
    return "\n".join(lines)


def main() -> int:
    """Bring up one host, measure, write the results, tear the host down."""
    parser = bench_parser(__doc__, DEFAULT_OUTPUT, 1,
                          "runs of the module vs template comparison (the median is reported; each template run "
                          "of 200 slices takes minutes)")
    parser.add_argument("--slices", type=int, default=200, help="slices for the module vs template comparison")
    parser.add_argument("--counts", default="1,10,100,1000", help="slice counts for the module's own time")
    parser.add_argument("--scaling-repeat", type=int, default=3,
                        help="runs per slice count of the module's own time (the median is reported)")
    args = parser.parse_args()
    counts = [int(count) for count in args.counts.split(",") if count.strip()]
    if min(args.slices, args.repeat, args.scaling_repeat) < 1 or not counts or min(counts) < 1:
        parser.error("--slices, --repeat, --scaling-repeat and every --counts value must be at least 1")

    env = bench_env(TESTBED_DEFAULTS)
    args.output.parent.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory(prefix="bench-slices-") as workdir:
        bench = Bench(env, Path(workdir))
        with bench.testbed_up(args.keep_testbed, "--hosts", "1", "--vms", "0"):
            bench.load_host()
            bench.playbook("cleanup.yml", 1)  # warms SSH (ControlPersist) and the host before measuring
            comparison = compare_approaches(bench, args.slices, args.repeat)
            scaling = module_scaling(bench, counts, args.scaling_repeat)

    results = {
        "benchmark": "containerhost.platform.slice",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "controller": {"python": platform.python_version(), "machine": platform.machine()},
        "host": {"kind": "testbed container (podman, systemd as PID 1)", "name": bench.host.get("name")},
        "comparison": comparison,
        "module_scaling": scaling,
        "notes": [
            "ratio = template+systemd_service time / slice module time (above 1: the module is faster)",
            "playbook = wall time of ansible-playbook; tasks = the tasks' own time (bench_timer callback)",
            "module's own time = the slice module's AnsiballZ payload run on the host, no SSH or controller time",
        ],
    }
    args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(table(comparison, scaling))
    print(f"\nresults: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
