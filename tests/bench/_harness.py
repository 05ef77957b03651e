# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What every benchmark shares: its own testbed instance, the testbed tool and timed ansible-playbook runs."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
import typing as t

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BENCH_DIR = Path(__file__).resolve().parent
PLAYBOOKS = BENCH_DIR / "playbooks"
TESTBED = REPO / "tests" / "testbed" / "testbed.py"
OUTPUT_DIR = REPO / "tests" / "output" / "bench"


def log(message: str) -> None:
    """Progress on stderr, so stdout holds only the table."""
    print(f"bench: {message}", file=sys.stderr, flush=True)


def median(values: list[float]) -> float:
    """Median rounded for display."""
    return round(statistics.median(values), 3)


def task_seconds(records: list[dict[str, t.Any]]) -> float:
    """The tasks' own time: per task the slowest host (hosts run a task side by side), summed over tasks.

    A loop task reports once per host, its time covering every iteration.
    """
    slowest: dict[str, float] = {}
    for record in records:
        slowest[record["task"]] = max(slowest.get(record["task"], 0.0), record["seconds"])
    return round(sum(slowest.values()), 3)


def bench_env(testbed_defaults: dict[str, str]) -> dict[str, str]:
    """The environment: the caller's, with the bench's own testbed instance unless CHTB_* are set, and the venv."""
    env = {**os.environ}
    for key, value in testbed_defaults.items():
        env.setdefault(key, value)
    env["PATH"] = f"{REPO / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


def bench_parser(doc: str | None, default_output: Path, repeat: int, repeat_help: str) -> argparse.ArgumentParser:
    """The options every bench takes: --repeat, --output and --keep-testbed; a bench adds its own."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=repeat, help=repeat_help)
    parser.add_argument("--output", type=Path, default=default_output, help="where to write the JSON results")
    parser.add_argument("--keep-testbed", action="store_true", help="leave the hosts up afterwards (for debugging)")
    return parser


class Harness:
    """Runs the testbed tool and timed bench playbooks with one environment."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.env = env
        self.workdir = workdir
        self.inventory = Path(env["CHTB_STATE"]) / "inventory.yml"

    def testbed(self, *args: str, capture: bool = False) -> str:
        """Run tests/testbed/testbed.py with the bench's instance settings; its stdout when captured."""
        done = subprocess.run([sys.executable, str(TESTBED), *args], env=self.env, check=True, text=True,
                              stdout=subprocess.PIPE if capture else sys.stderr)
        return done.stdout or ""

    @contextlib.contextmanager
    def testbed_up(self, keep: bool, *up_args: str) -> t.Iterator[None]:
        """The bench's testbed (testbed.py up with up_args) for the with-block, torn down after it unless kept."""
        log(f"starting the testbed ({' '.join(up_args)}; instance {self.env['CHTB_INSTANCE']}, "
            f"state {self.env['CHTB_STATE']})")
        try:
            self.testbed("up", *up_args)
            yield
        finally:
            if keep:
                log("leaving the testbed up (--keep-testbed)")
            else:
                log("tearing the testbed down")
                self.testbed("down")

    def run_playbook(self, name: str | Path, vars_file: Path, extra_env: dict[str, str] | None = None,
                     extra_args: tuple[str, ...] = ()) -> dict[str, t.Any]:
        """Run a bench playbook (a name under playbooks/, or a path); its wall time, the tasks' own time
        (bench_timer callback) and whether it changed."""
        timer_out = self.workdir / "timer.json"
        env = {
            **self.env,
            "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
            "ANSIBLE_COLLECTIONS_PATH": str(REPO / "collections"),
            "ANSIBLE_CALLBACK_PLUGINS": str(BENCH_DIR / "callback_plugins"),
            "ANSIBLE_CALLBACKS_ENABLED": "bench_timer",
            "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.minimal",
            "ANSIBLE_FORCE_COLOR": "0",
            "BENCH_TIMER_OUT": str(timer_out),
            **(extra_env or {}),
        }
        playbook = name if isinstance(name, Path) else PLAYBOOKS / name
        argv = ["ansible-playbook", "-i", str(self.inventory), *extra_args, "-e", f"@{vars_file}", str(playbook)]
        started = time.monotonic()
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        wall = time.monotonic() - started
        if done.returncode != 0:
            raise RuntimeError(f"{name} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        tasks = json.loads(timer_out.read_text(encoding="utf-8"))
        return {
            "wall_seconds": round(wall, 3),
            "task_seconds": task_seconds(tasks),
            "changed": any(task["changed"] for task in tasks),
            "tasks": tasks,
        }
