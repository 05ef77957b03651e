# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Shared fixtures for the collection's unit tests: running a module's main() in-process against fake commands."""

from __future__ import annotations

import contextlib
import json
import sys
import typing as t

from pathlib import Path
from types import SimpleNamespace

import pytest

# A plain checkout resolves the collection through collections/ansible_collections/containerhost/platform -> ../../..;
# ansible-test provides its own path, where this directory does not exist.
_COLLECTIONS = Path(__file__).resolve().parents[2] / "collections"
if _COLLECTIONS.is_dir() and str(_COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(_COLLECTIONS))

from ansible.module_utils import basic  # noqa: E402  (after the path set-up, like the collection imports)
from ansible.module_utils.common.text.converters import to_bytes  # noqa: E402

try:
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core < 2.19 reads the arguments from basic._ANSIBLE_ARGS
    patch_module_args = None


class AnsibleExitJson(Exception):
    """Raised in place of AnsibleModule.exit_json; ``result`` holds what the module returned."""

    def __init__(self, result: dict[str, t.Any]) -> None:
        super().__init__(result)
        self.result = result


class AnsibleFailJson(Exception):
    """Raised in place of AnsibleModule.fail_json; ``result`` holds the failure, including ``msg``."""

    def __init__(self, result: dict[str, t.Any]) -> None:
        super().__init__(result)
        self.result = result


@contextlib.contextmanager
def _legacy_module_args(args: dict[str, t.Any]) -> t.Iterator[None]:
    """Expose module arguments the way ansible-core before 2.19 reads them."""
    payload = to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    with pytest.MonkeyPatch.context() as patcher:
        patcher.setattr(basic, "_ANSIBLE_ARGS", payload)
        yield


@pytest.fixture
def set_module_args() -> t.Iterator[t.Callable[[dict[str, t.Any]], None]]:
    """Return a function that sets the arguments the next AnsibleModule will see, until the test ends."""
    with contextlib.ExitStack() as stack:

        def _set(args: dict[str, t.Any]) -> None:
            stack.enter_context((patch_module_args or _legacy_module_args)(args))

        yield _set


@pytest.fixture
def module_exits(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """Make exit_json/fail_json raise; returns the exception classes as ``.exit`` and ``.fail``."""

    def exit_json(self: basic.AnsibleModule, **kwargs: t.Any) -> t.NoReturn:
        kwargs.setdefault("changed", False)
        raise AnsibleExitJson(kwargs)

    def fail_json(self: basic.AnsibleModule, msg: str, **kwargs: t.Any) -> t.NoReturn:
        raise AnsibleFailJson({"msg": msg, "failed": True, **kwargs})

    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)
    return SimpleNamespace(exit=AnsibleExitJson, fail=AnsibleFailJson)


@pytest.fixture
def run_main(set_module_args, module_exits) -> t.Callable[..., dict[str, t.Any]]:
    """Return a function that runs a module's main() with the given arguments and returns its result.

    ``check``/``diff`` become ``_ansible_check_mode``/``_ansible_diff`` (a key of the same name in ``args`` wins);
    ``fail=True`` expects fail_json instead of exit_json.
    """

    def _run(main: t.Callable[[], None], args: dict[str, t.Any], *, check: bool = False, diff: bool = False,
             fail: bool = False) -> dict[str, t.Any]:
        set_module_args({"_ansible_check_mode": check, "_ansible_diff": diff, **args})
        with pytest.raises(module_exits.fail if fail else module_exits.exit) as exc_info:
            main()
        return exc_info.value.result

    return _run


@pytest.fixture
def fake_commands(monkeypatch: pytest.MonkeyPatch) -> t.Callable[..., t.Any]:
    """Return a function that routes AnsibleModule.run_command to ``fake.run_command`` until the test ends.

    get_bin_path finds every tool in ``bin_path`` when that is a directory, or asks ``bin_path(name)`` when it is a
    function (None: not installed). The function returns ``fake``.
    """

    def _route(fake: t.Any, bin_path: str | t.Callable[[str], str | None] = "/usr/bin") -> t.Any:
        find = bin_path if callable(bin_path) else lambda name: f"{bin_path}/{name}"
        monkeypatch.setattr(basic.AnsibleModule, "run_command", lambda self, *args, **kw: fake.run_command(*args, **kw))
        monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, *args, **kw: find(name))
        return fake

    return _route


@pytest.fixture
def warnings(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every module.warn() text of the test, in order (exit_json is replaced, so the result does not carry them)."""
    seen: list[str] = []
    monkeypatch.setattr(basic.AnsibleModule, "warn", lambda self, text: seen.append(text))
    return seen
