# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for the containerhost.platform.scope module, run through main() against a fake systemd-run/systemctl.

The OOM case replays what the testbed VM (cgroup v2, systemd 252) did for a 256M allocation under MemoryMax=64M:
the command died of SIGKILL, and the scope stayed loaded as failed with Result=oom-kill until reset-failed."""

from __future__ import annotations

import typing as t

from pathlib import Path

import pytest

from ansible.module_utils import basic

from ansible_collections.containerhost.platform.plugins.module_utils._resource_control import HostLimits
from ansible_collections.containerhost.platform.plugins.modules import scope

SYSTEMCTL = "/usr/bin/systemctl"
SYSTEMD_RUN = "/usr/bin/systemd-run"
HOST_V2 = HostLimits(systemd_version=252, cgroup_mode="v2", controllers=("cpu", "cpuset", "io", "memory", "pids"),
                     online_cpus=(0, 1), numa_nodes=(0,), memory_bytes=2 * 1024 ** 3, tasks_max_system=4194303)
HOST_HYBRID_CONTAINER = HostLimits(systemd_version=252, cgroup_mode="hybrid", controllers=(), online_cpus=(0, 1),
                                   numa_nodes=(0,), memory_bytes=2 * 1024 ** 3, tasks_max_system=192731,
                                   controller_note="its root cgroup /libpod_parent/libpod-x is missing")
GONE = {"LoadState": "not-found", "ActiveState": "inactive", "Result": "success"}


class FakeSystemdRun:
    """systemd-run --scope and systemctl show/reset-failed for one scope, with scripted answers."""

    def __init__(self, command_result: tuple[int, str, str], states: list[dict[str, str]],
                 before: dict[str, str] | None = None, started: bool = True) -> None:
        self.command_result = command_result
        # systemctl show answers after the command, in order (the last one repeats).
        self.states = list(states)
        self.before = before or GONE
        self.started = started
        self.calls: list[list[str]] = []
        self.kwargs: list[dict[str, t.Any]] = []
        self.ran = False

    def get_bin_path(self, arg: str, *args: t.Any, **kwargs: t.Any) -> str | None:
        """Stand-in for AnsibleModule.get_bin_path."""
        return {"systemctl": SYSTEMCTL, "systemd-run": SYSTEMD_RUN}.get(arg)

    def run_command(self, args: t.Any, **kwargs: t.Any) -> tuple[int, str, str]:
        """Stand-in for AnsibleModule.run_command."""
        assert isinstance(args, list), f"run_command got {args!r}, not an argv list"
        assert not kwargs.get("use_unsafe_shell")
        self.calls.append(args)
        self.kwargs.append(kwargs)
        if args[0] == SYSTEMD_RUN:
            self.ran = True
            rc, out, err = self.command_result
            unit = args[2][len("--unit="):]
            return rc, out, (f"Running scope as unit: {unit}\n" if self.started else "") + err
        assert args[0] == SYSTEMCTL
        if args[1] == "show":
            state = self.before if not self.ran else (self.states.pop(0) if len(self.states) > 1 else self.states[0])
            properties = args[2][len("--property="):].split(",")
            return 0, "".join(f"{key}={state.get(key, '')}\n" for key in properties if key != "Id"), ""
        if args[1] == "reset-failed":
            return 0, "", ""
        raise AssertionError(f"unexpected call {args!r}")

    def systemctl_verbs(self) -> list[str]:
        """The systemctl verbs called, in order."""
        return [call[1] for call in self.calls if call[0] == SYSTEMCTL]


@pytest.fixture
def make_run(monkeypatch: pytest.MonkeyPatch) -> t.Callable[..., FakeSystemdRun]:
    """Install a FakeSystemdRun (and a host) for the module."""

    def _make(command_result: tuple[int, str, str] = (0, "", ""), states: list[dict[str, str]] | None = None,
              host: HostLimits = HOST_V2, **kwargs: t.Any) -> FakeSystemdRun:
        fake = FakeSystemdRun(command_result, states or [GONE], **kwargs)
        monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", fake.get_bin_path)
        monkeypatch.setattr(basic.AnsibleModule, "run_command", fake.run_command)
        monkeypatch.setattr(scope, "host_limits", lambda module, root="/", systemctl=None: host)
        monkeypatch.setattr(scope.time, "sleep", lambda seconds: None)
        return fake

    return _make


@pytest.fixture
def run_module(set_module_args, module_exits) -> t.Callable[..., dict[str, t.Any]]:
    """Run scope.main() and return its result; a failure raises AnsibleFailJson."""

    def _run(args: dict[str, t.Any], check: bool = False) -> dict[str, t.Any]:
        set_module_args({**args, "_ansible_check_mode": check})
        with pytest.raises(module_exits.exit) as exc_info:
            scope.main()
        return exc_info.value.result

    return _run


def test_runs_in_a_capped_scope_and_strips_the_notice(make_run, run_module):
    fake = make_run((0, "out\n", "err\n"))
    result = run_module({"argv": ["python3", "-c", "print(1)"], "name": "job", "slice": "batch-nightly",
                         "memory_max": "64M", "tasks_max": 20, "description": "nightly"})
    run_call = next(call for call in fake.calls if call[0] == SYSTEMD_RUN)
    assert run_call == [SYSTEMD_RUN, "--scope", "--unit=job.scope", "--slice=batch-nightly.slice",
                        "--description=nightly", "-p", "MemoryMax=67108864", "-p", "TasksMax=20", "--",
                        "python3", "-c", "print(1)"]
    assert result["changed"] is True and result["rc"] == 0
    assert result["stdout"] == "out" and result["stderr"] == "err" and result["stderr_lines"] == ["err"]
    assert result["scope"] == "job.scope" and result["slice"] == "batch-nightly.slice"
    assert result["result"] == "success" and result["oom_killed"] is False and result["signal"] is None
    assert result["properties"] == {"MemoryMax": "67108864", "TasksMax": "20"}
    assert result["scope_cmd"] == run_call
    assert {"start", "end", "delta"} <= set(result)
    # Name check before, state after; nothing to reset for a scope systemd already collected.
    assert fake.systemctl_verbs() == ["show", "show"]


def test_cmd_is_split_without_a_shell_and_no_expansion(make_run, run_module):
    fake = make_run()
    result = run_module({"cmd": "sh -c 'echo $HOME ~'", "chdir": "/"})
    assert result["cmd"] == ["sh", "-c", "echo $HOME ~"]
    index = next(i for i, call in enumerate(fake.calls) if call[0] == SYSTEMD_RUN)
    assert fake.kwargs[index]["expand_user_and_vars"] is False
    assert fake.kwargs[index]["cwd"] == "/"
    assert result["scope"].startswith("containerhost-") and result["scope"].endswith(".scope")


def test_stdin_is_passed(make_run, run_module):
    fake = make_run()
    run_module({"argv": ["cat"], "stdin": "data", "stdin_add_newline": False})
    index = next(i for i, call in enumerate(fake.calls) if call[0] == SYSTEMD_RUN)
    assert fake.kwargs[index]["data"] == "data" and fake.kwargs[index]["binary_data"] is True


def test_oom_kill_is_reported_and_the_scope_reset(make_run, run_module, module_exits):
    failed = {"LoadState": "loaded", "ActiveState": "failed", "Result": "oom-kill"}
    fake = make_run((-9, "", ""), states=[failed])
    with pytest.raises(module_exits.fail) as exc_info:
        run_module({"argv": ["python3", "-c", "b = bytearray(256 * 1024 * 1024)"], "name": "oomtest",
                    "memory_max": "64M"})
    result = exc_info.value.result
    assert result["msg"] == ("oomtest.scope: the kernel's OOM killer stopped the command because the scope reached "
                             "its memory limit (MemoryMax=67108864); systemd Result=oom-kill")
    assert result["oom_killed"] is True and result["result"] == "oom-kill"
    assert result["rc"] == -9 and result["signal"] == 9 and result["changed"] is True
    assert [SYSTEMCTL, "reset-failed", "--", "oomtest.scope"] in fake.calls


def test_waits_for_systemd_to_see_the_scope_end(make_run, run_module, module_exits):
    running = {"LoadState": "loaded", "ActiveState": "active", "Result": "success"}
    failed = {"LoadState": "loaded", "ActiveState": "failed", "Result": "oom-kill"}
    fake = make_run((-9, "", ""), states=[running, running, failed])
    with pytest.raises(module_exits.fail) as exc_info:
        run_module({"argv": ["big"], "name": "oomtest", "memory_max": "64M"})
    assert exc_info.value.result["oom_killed"] is True
    assert fake.systemctl_verbs() == ["show", "show", "show", "show", "reset-failed"]


def test_background_processes_keep_the_scope_and_warn(make_run, run_module, monkeypatch, warnings):
    running = {"LoadState": "loaded", "ActiveState": "active", "Result": "success"}
    make_run(states=[running])
    clock = iter(range(0, 1000))
    monkeypatch.setattr(scope.time, "monotonic", lambda: float(next(clock)))
    result = run_module({"argv": ["daemonize", "x"], "name": "bg"})
    assert result["rc"] == 0
    assert any("bg.scope: processes the command started still run in the scope" in w for w in warnings)


def test_non_zero_exit_fails_like_command(make_run, run_module, module_exits):
    make_run((3, "", "boom\n"))
    with pytest.raises(module_exits.fail) as exc_info:
        run_module({"cmd": "sh -c 'exit 3'", "name": "job"})
    result = exc_info.value.result
    assert result["msg"] == "job.scope: non-zero return code 3"
    assert result["rc"] == 3 and result["stderr"] == "boom" and result["oom_killed"] is False
    assert result["result"] == "success"


def test_systemd_run_failure_is_not_mistaken_for_the_command(make_run, run_module, module_exits):
    make_run((1, "", "Failed to start transient scope unit: Access denied\n"), started=False)
    with pytest.raises(module_exits.fail) as exc_info:
        run_module({"argv": ["true"], "name": "job"})
    assert exc_info.value.result["msg"] == ("scope (job.scope): systemd-run could not start the scope: "
                                            "Failed to start transient scope unit: Access denied")


def test_name_in_use_is_refused_before_running(make_run, run_module, module_exits):
    fake = make_run(before={"LoadState": "loaded", "ActiveState": "failed"})
    with pytest.raises(module_exits.fail) as exc_info:
        run_module({"argv": ["true"], "name": "job"})
    message = exc_info.value.result["msg"]
    assert message.startswith("scope (job.scope): name: a unit job.scope already exists (ActiveState=failed)")
    assert "systemctl reset-failed job.scope" in message
    assert not fake.ran


def test_check_mode_does_not_run(make_run, run_module):
    fake = make_run()
    result = run_module({"argv": ["true"], "name": "job", "memory_max": "1G"}, check=True)
    assert result["changed"] is True and "rc" not in result
    assert result["msg"] == "Command would have run if not in check mode"
    assert result["properties"] == {"MemoryMax": "1073741824"}
    assert not fake.ran


@pytest.mark.parametrize("check", [False, True])
def test_creates_and_removes_skip(make_run, run_module, tmp_path: Path, check):
    fake = make_run()
    (tmp_path / "done").write_text("", encoding="utf-8")
    created = run_module({"argv": ["true"], "creates": "done", "chdir": str(tmp_path)}, check=check)
    assert created["changed"] is False and created["rc"] == 0
    assert created["msg"] == f"{'Would' if check else 'Did'} not run command since 'done' exists"
    removed = run_module({"argv": ["true"], "removes": str(tmp_path / "nothing*")}, check=check)
    assert removed["changed"] is False and "does not exist" in removed["msg"]
    assert not fake.ran
    ran = run_module({"argv": ["true"], "removes": str(tmp_path / "do*")}, check=check)
    assert ran["changed"] is True
    assert fake.ran is not check


def test_limits_the_host_cannot_enforce_are_warned_about(make_run, run_module, warnings):
    make_run(host=HOST_HYBRID_CONTAINER)
    result = run_module({"argv": ["true"], "name": "job", "memory_max": "64M"})
    assert result["not_honoured"][0]["option"] == "memory_max"
    assert warnings[0].startswith("job.scope: memory_max is not enforced on this host: cgroup hybrid: the memory "
                                  "controller is not available to systemd")


@pytest.mark.parametrize(("args", "fragments"), [
    ({"argv": ["true"], "name": "job", "memory_max": "-1"}, ["scope (job.scope): memory_max:", "accepted:"]),
    ({"argv": ["true"], "name": "job", "cpu_quota": "0%"}, ["scope (job.scope): cpu_quota:", "above 0"]),
    ({"argv": ["true"], "name": "job", "allowed_cpus": [5]}, ["scope (job.scope): allowed_cpus:", "5 not on this host"]),
    ({"argv": ["true"], "name": "job.service"}, ["scope (job.service): name:", "accepted here: .scope"]),
    ({"argv": ["true"], "name": "job", "slice": "a--b"}, ["scope (job.scope): slice:", "doubled"]),
    ({"argv": ["true"], "name": "job", "chdir": "/nonexistent/dir"}, ["scope (job.scope): chdir: /nonexistent/dir"]),
    ({"cmd": "echo 'unbalanced"}, ["cmd:", "balanced quotes"]),
    ({"argv": []}, ["cmd/argv: the command is empty"]),
    ({"cmd": "true", "argv": ["true"]}, ["mutually exclusive"]),
    ({"name": "job"}, ["one of the following is required: cmd, argv"]),
    ({"argv": ["true"], "memory_maxx": "1G"}, ["Unsupported parameters", "memory_maxx"]),
])
def test_bad_input_is_refused_before_running(make_run, run_module, module_exits, args, fragments):
    fake = make_run()
    with pytest.raises(module_exits.fail) as exc_info:
        run_module(args)
    for fragment in fragments:
        assert fragment in exc_info.value.result["msg"]
    assert not fake.ran
