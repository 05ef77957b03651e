# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Callback for tests/bench: the wall time of every task on every host, written as JSON to $BENCH_TIMER_OUT."""

from __future__ import annotations

DOCUMENTATION = r"""
name: bench_timer
type: aggregate
short_description: Record how long each task took per host (tests/bench only)
description:
  - Writes a JSON list of C({task, host, seconds, changed, status}) to the file named by E(BENCH_TIMER_OUT) when
    the playbook ends. Used by tests/bench/bench_slices.py; not part of the collection.
requirements:
  - enable in configuration
"""

import json
import os
import time
import typing as t

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    """Time from a task's start to each host's result."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_timer"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self._started: dict[str, float] = {}
        self._records: list[dict[str, t.Any]] = []

    def v2_playbook_on_task_start(self, task: t.Any, is_conditional: bool) -> None:
        """Remember when the task started."""
        self._started[task._uuid] = time.monotonic()

    def v2_playbook_on_handler_task_start(self, task: t.Any) -> None:
        """Handlers are timed like tasks."""
        self._started[task._uuid] = time.monotonic()

    def _record(self, result: t.Any, status: str) -> None:
        """Store one host's result for the running task."""
        now = time.monotonic()
        task = result._task
        self._records.append({
            "task": task.get_name(),
            "host": result._host.get_name(),
            "seconds": round(now - self._started.get(task._uuid, now), 4),
            "changed": bool(result._result.get("changed", False)),
            "status": status,
        })

    def v2_runner_on_ok(self, result: t.Any) -> None:
        """A host finished the task."""
        self._record(result, "ok")

    def v2_runner_on_failed(self, result: t.Any, ignore_errors: bool = False) -> None:
        """A host failed the task."""
        self._record(result, "failed")

    def v2_runner_on_skipped(self, result: t.Any) -> None:
        """A host skipped the task."""
        self._record(result, "skipped")

    def v2_playbook_on_stats(self, stats: t.Any) -> None:
        """Write the records."""
        path = os.environ.get("BENCH_TIMER_OUT")
        if path:
            with open(path, "w", encoding="utf-8") as handle:
                json.dump(self._records, handle, indent=2)
