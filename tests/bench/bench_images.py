# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Benchmark of containerhost.platform.image on three testbed container hosts (`make bench`).

Pulls 10 images (test images the testbed builds from Debian's busybox-static, 10 variants with their own
digests, pushed to the testbed's own registry) onto 3 hosts and checks them again, two ways:

1. one ``image`` task with the list of 10 images, and
2. one ``image`` task per image (a loop over the 10),

each as a first run on hosts without the images (everything is pulled) and as a no-op re-run (nothing to do;
with the default ``--state latest`` every image's tag is still asked in the registry). Reports the playbook's
wall time and the tasks' own time, and the ratios loop / list.

Timings are measured, never asserted. Prints a table and writes JSON to tests/output/bench/images.json (or
--output). The testbed is its own: 3 container hosts and the registries (instance chbenchimg on 172.29.251.0/24,
state in tests/output/bench/images-testbed) unless CHTB_INSTANCE, CHTB_SUBNET, CHTB_VM_PORT_BASE and CHTB_STATE
say otherwise; it is torn down at the end.
"""

from __future__ import annotations

import json
import platform
import sys
import tempfile
import time
import typing as t

from pathlib import Path

from _harness import OUTPUT_DIR, Harness, bench_env, bench_parser, log, median

DEFAULT_OUTPUT = OUTPUT_DIR / "images.json"
HOSTS = 3
TESTBED_DEFAULTS = {
    "CHTB_INSTANCE": "chbenchimg",
    "CHTB_SUBNET": "172.29.251.0/24",
    "CHTB_VM_PORT_BASE": "2970",
    "CHTB_STATE": str(OUTPUT_DIR / "images-testbed"),
}
APPROACHES = {"list": "images_list.yml", "loop": "images_loop.yml"}


def variants(count: int) -> list[str]:
    """The test image variants: one per image, so every image has its own digest."""
    return [f"bench{index:02d}" for index in range(1, count + 1)]


def bench_entries(registry: str, count: int, state: str) -> list[dict[str, str]]:
    """The image entries of the bench: ``count`` images in ``registry`` with ``state``."""
    return [{"name": f"{registry}/bench/{variant}:1", "state": state} for variant in variants(count)]


def summarise(runs: dict[str, dict[str, list[dict[str, t.Any]]]]) -> dict[str, t.Any]:
    """Medians per approach and phase, and the ratios loop / list."""
    summary: dict[str, t.Any] = {"median": {}, "ratio": {}}
    for approach, phases in runs.items():
        summary["median"][approach] = {
            phase: {kind: median([run[kind] for run in results]) for kind in ("wall_seconds", "task_seconds")}
            for phase, results in phases.items()
        }
    for phase in ("first", "noop"):
        summary["ratio"][phase] = {
            kind: round(summary["median"]["loop"][phase][kind] / summary["median"]["list"][phase][kind], 2)
            for kind in ("wall_seconds", "task_seconds")
        }
    return summary


def table(summary: dict[str, t.Any], images: int, hosts: int, repeat: int, state: str) -> str:
    """The results as a small text table."""
    med, ratio = summary["median"], summary["ratio"]
    lines = [
        f"{images} images (state {state}) on {hosts} hosts (median of {repeat} run(s); seconds)",
        f"{'':26}{'one task, list':>16}{'task per image':>16}{'ratio':>8}",
    ]
    for phase, label in (("first", "first run"), ("noop", "no-op re-run")):
        for kind, kind_label in (("wall_seconds", "playbook"), ("task_seconds", "tasks")):
            lines.append(f"{label + ', ' + kind_label:26}{med['list'][phase][kind]:>16.2f}"
                         f"{med['loop'][phase][kind]:>16.2f}{ratio[phase][kind]:>7.1f}x")
    return "\n".join(lines)


class Bench(Harness):
    """Runs the testbed tool and the bench playbooks."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        super().__init__(env, workdir)
        self.vars_file = workdir / "images.json"

    def registry(self) -> str:
        """host:port of the testbed's open registry."""
        status = json.loads(self.testbed("registry", "status", capture=True))
        if not status["registry"] or not status["healthy"]:
            raise RuntimeError(f"the bench registry is not up: {status}")
        return status["registry"]["tls_registry"]

    def push_images(self, registry: str, count: int, state: str) -> list[dict[str, str]]:
        """Build and push the bench images; write the vars file the playbooks read."""
        for variant in variants(count):
            self.testbed("image", "push", variant, f"bench/{variant}:1", capture=True)
        entries = bench_entries(registry, count, state)
        self.vars_file.write_text(json.dumps({"bench_images": entries}), encoding="utf-8")
        return entries

    def playbook(self, name: str) -> dict[str, t.Any]:
        """Run one bench playbook with the images vars file."""
        return self.run_playbook(name, self.vars_file)


def compare(bench: Bench, repeat: int) -> dict[str, dict[str, list[dict[str, t.Any]]]]:
    """Both approaches, ``repeat`` rounds each: clean hosts, first run, no-op re-run."""
    runs: dict[str, dict[str, list[dict[str, t.Any]]]] = {name: {"first": [], "noop": []} for name in APPROACHES}
    for round_index in range(repeat):
        # Alternate the order so that neither approach always runs right after the other warmed the hosts.
        order = list(APPROACHES) if round_index % 2 == 0 else list(reversed(APPROACHES))
        for approach in order:
            bench.playbook("images_cleanup.yml")
            log(f"{approach}, round {round_index + 1}/{repeat}: first run")
            first = bench.playbook(APPROACHES[approach])
            log(f"{approach}, round {round_index + 1}/{repeat}: no-op re-run")
            noop = bench.playbook(APPROACHES[approach])
            if not first["changed"] or noop["changed"]:
                raise RuntimeError(f"{approach}: expected a change on the first run only "
                                   f"(first changed={first['changed']}, re-run changed={noop['changed']})")
            runs[approach]["first"].append(first)
            runs[approach]["noop"].append(noop)
    bench.playbook("images_cleanup.yml")
    return runs


def main() -> int:
    """Bring up the hosts and the registry, push the images, measure, write the results, tear down."""
    parser = bench_parser(__doc__, DEFAULT_OUTPUT, 3, "rounds of each approach (the median is reported)")
    parser.add_argument("--images", type=int, default=10, help="images to pull (default 10)")
    parser.add_argument("--state", choices=["present", "latest"], default="latest",
                        help="state of every entry: latest (default; the no-op run asks the registry for each "
                             "tag) or present (the no-op run only looks at local storage)")
    args = parser.parse_args()
    if min(args.images, args.repeat) < 1 or args.images > 99:
        parser.error("--images must be 1..99 and --repeat at least 1")

    env = bench_env(TESTBED_DEFAULTS)
    args.output.parent.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory(prefix="bench-images-") as workdir:
        bench = Bench(env, Path(workdir))
        with bench.testbed_up(args.keep_testbed, "--hosts", str(HOSTS), "--vms", "0", "--registry"):
            registry = bench.registry()
            log(f"pushing {args.images} test images to {registry}")
            entries = bench.push_images(registry, args.images, args.state)
            bench.playbook("images_setup.yml")  # also warms SSH (ControlPersist) before measuring
            runs = compare(bench, args.repeat)

    summary = summarise(runs)
    results = {
        "benchmark": "containerhost.platform.image",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "controller": {"python": platform.python_version(), "machine": platform.machine()},
        "hosts": {"count": HOSTS, "kind": "testbed container (podman, systemd as PID 1)"},
        "images": [entry["name"] for entry in entries],
        "state": args.state,
        "repeat": args.repeat,
        "runs": runs,
        **summary,
        "notes": [
            "ratio = one task per image (loop) time / one task with the list time (above 1: the list is faster)",
            "playbook = wall time of ansible-playbook; tasks = the tasks' own time (bench_timer callback), per task "
            "the slowest host, summed over tasks",
            "first run = every image pulled on every host; no-op re-run = nothing to do "
            f"(state {args.state}{': each tag asked in the registry' if args.state == 'latest' else ''})",
        ],
    }
    args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(table(summary, args.images, HOSTS, args.repeat, args.state))
    print(f"\nresults: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
