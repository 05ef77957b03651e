# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Run the Molecule scenarios in parallel lanes, each lane on a testbed instance of its own (`make molecule`).

Lane 1 uses the default instance (CHTB_* as set, else the testbed's defaults); lane N > 1 gets instance chtlN on
172.29.(220+N).0/24, VM ports from 2300+100*N, registry ports from 5000+100*N and state in .testbed-laneN. The
scenarios are spread over the lanes by their usual duration, longest first, and the scenarios that boot a VM (TCG
emulation, a CPU's worth each) are kept apart in time: first in lane 1, last in the other lanes. Every scenario
runs `molecule test -s NAME`; its output goes to tests/output/molecule/NAME.log and is printed when it fails. After
the lanes, each lane's testbed must be clean. Exits 1 when a scenario failed or a testbed was left behind.

  molecule_lanes.py [--lanes N] [SCENARIO ...]     (default: every scenario, MOLECULE_LANES or 2 lanes)
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import subprocess
import sys
import time

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
LOG_DIR = REPO / "tests" / "output" / "molecule"
TESTBED = REPO / "tests" / "testbed" / "testbed.py"
# Minutes each scenario took in two lanes on two cores (CI simulation, 2026-12-03), for balancing only; unknown
# scenarios count as 5.
MINUTES = {"resource_slices": 13, "cluster": 12, "system_containers": 11, "host_tuning": 8, "container_host": 7,
           "overlay": 7, "images": 4, "container_runtime": 2, "host_info": 2}


def scenarios() -> list[str]:
    """Every scenario under molecule/."""
    return sorted(path.parent.name for path in (REPO / "molecule").glob("*/molecule.yml"))


def boots_vm(name: str) -> bool:
    """Whether the scenario's platforms include a VM (vmN)."""
    config = yaml.safe_load((REPO / "molecule" / name / "molecule.yml").read_text(encoding="utf-8"))
    return any(str(platform.get("name", "")).startswith("vm") for platform in config.get("platforms", []))


def plan(names: list[str], lanes: int) -> list[list[str]]:
    """Scenarios per lane: longest first onto the least loaded lane; VM scenarios first in lane 1, last elsewhere."""
    load = [0] * lanes
    assigned: list[list[str]] = [[] for dummy in range(lanes)]
    for name in sorted(names, key=lambda scenario: (-MINUTES.get(scenario, 5), scenario)):
        lane = load.index(min(load))
        assigned[lane].append(name)
        load[lane] += MINUTES.get(name, 5)
    for index, lane_names in enumerate(assigned):
        with_vm = [name for name in lane_names if boots_vm(name)]
        without = [name for name in lane_names if name not in with_vm]
        assigned[index] = with_vm + without if index == 0 else without + with_vm
    return assigned


def lane_env(index: int) -> dict[str, str]:
    """The environment of lane index (0-based): the default testbed instance for the first lane."""
    env = {**os.environ}
    if index:
        number = index + 1
        env.update({"CHTB_INSTANCE": f"chtl{number}", "CHTB_SUBNET": f"172.29.{220 + number}.0/24",
                    "CHTB_VM_PORT_BASE": str(2300 + 100 * number), "CHTB_REGISTRY_PORT": str(5000 + 100 * number),
                    "CHTB_STATE": str(REPO / f".testbed-lane{number}")})
    return env


def run_lane(index: int, names: list[str]) -> list[tuple[str, bool, float]]:
    """Run the lane's scenarios one after another; (name, passed, minutes) each."""
    env = lane_env(index)
    results = []
    for name in names:
        log = LOG_DIR / f"{name}.log"
        print(f"== lane {index + 1}: molecule scenario {name} (log {log.relative_to(REPO)})", flush=True)
        started = time.monotonic()
        with log.open("w", encoding="utf-8") as handle:
            done = subprocess.run(["molecule", "test", "-s", name], cwd=REPO, env=env, stdout=handle,
                                  stderr=subprocess.STDOUT, check=False)
        minutes = (time.monotonic() - started) / 60
        results.append((name, done.returncode == 0, minutes))
        print(f"== lane {index + 1}: {name} {'passed' if done.returncode == 0 else 'FAILED'} in {minutes:.1f} min",
              flush=True)
    return results


def check_clean(index: int) -> bool:
    """Whether the lane's testbed left nothing behind."""
    done = subprocess.run([sys.executable, str(TESTBED), "check-clean"], cwd=REPO, env=lane_env(index), check=False)
    return done.returncode == 0


def main() -> int:
    """Plan the lanes, run them, print failures, check the testbeds."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lanes", type=int, default=int(os.environ.get("MOLECULE_LANES", "2")),
                        help="parallel lanes (default MOLECULE_LANES or 2)")
    parser.add_argument("scenario", nargs="*", help="scenarios to run (default: all)")
    args = parser.parse_args()
    known = scenarios()
    unknown = sorted(set(args.scenario) - set(known))
    if unknown or not 1 <= args.lanes <= 4:
        parser.error(f"--lanes must be 1..4 and scenarios one of {', '.join(known)} (unknown: {', '.join(unknown)})")
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    lanes = [names for names in plan(args.scenario or known, args.lanes) if names]
    for index, names in enumerate(lanes):
        print(f"lane {index + 1}: {', '.join(names)}", flush=True)
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(lanes)) as pool:
        results = [result for lane in pool.map(run_lane, range(len(lanes)), lanes) for result in lane]
    failed = [name for name, passed, dummy in results if not passed]
    for name in failed:
        print(f"\n===== {name} failed; its log:\n{(LOG_DIR / f'{name}.log').read_text(encoding='utf-8', errors='replace')}")
    # Every lane is checked (a list, not a generator that would stop at the first unclean lane).
    clean = all([check_clean(index) for index in range(len(lanes))])  # pylint: disable=use-a-generator
    print("\n" + "\n".join(f"{name:20} {'passed' if passed else 'FAILED'} {minutes:5.1f} min"
                           for name, passed, minutes in results))
    return 1 if failed or not clean else 0


if __name__ == "__main__":
    sys.exit(main())
