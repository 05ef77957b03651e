# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Private to the collection: not a public API and may change without notice.

"""The validate, read, decide, apply-or-predict cycle shared by the modules that manage many units in one call."""

from __future__ import annotations

import typing as t

if t.TYPE_CHECKING:
    from collections.abc import Mapping

    from ansible.module_utils.basic import AnsibleModule


def properties_text(properties: Mapping[str, str]) -> str:
    """``Name=value`` lines, as a diff shows properties."""
    return "".join(f"{name}={value}\n" for name, value in properties.items())


def properties_diff(header: str, before: Mapping[str, str], after: Mapping[str, str]) -> dict[str, str]:
    """One diff entry for property values before and after."""
    return {"before_header": header, "after_header": header,
            "before": properties_text(before), "after": properties_text(after)}


class UnitEntry:
    """One declared unit: its file (unit file or drop-in) and the live property differences found for it."""

    def __init__(self, where: str, name: str, state: str, path: str) -> None:
        self.where = where
        self.name = name
        self.state = state
        self.path = path
        self.content: str | None = None
        self.current: str | None = None
        self.shown: dict[str, str] = {}
        self.file_changed = False
        self.needs_reload = False
        # property -> (wanted, current)
        self.live_diff: dict[str, tuple[str, str]] = {}

    @property
    def file_removed(self) -> bool:
        """Whether the file goes away (overridden where an entry can remove its file)."""
        return False

    def live_changes(self) -> dict[str, dict[str, str]]:
        """The live property changes as the task returns them."""
        return {name: {"before": before, "after": after} for name, (after, before) in self.live_diff.items()}

    def file_diff(self) -> list[dict[str, str]]:
        """The file before and after, when it changes."""
        if not (self.file_changed or self.file_removed):
            return []
        return [{"before_header": self.path, "after_header": self.path,
                 "before": self.current or "", "after": self.content or ""}]


class UnitPlan:
    """Runs the cycle: validate every entry, read the host once, decide, then apply (or predict in check mode).

    Subclasses set RESULT_KEY and implement validate, read, decide, apply, predict and diff; entries are UnitEntry.
    """

    RESULT_KEY = "units"

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.entries: list[t.Any] = []
        self.daemon_reloaded = False

    def fail(self, msg: str, **kwargs: t.Any) -> t.NoReturn:
        """Fail the task, keeping what was found so far."""
        self.module.fail_json(msg=msg, **{self.RESULT_KEY: [entry.result() for entry in self.entries]}, **kwargs)

    def validate(self) -> None:
        raise NotImplementedError

    def read(self) -> None:
        raise NotImplementedError

    def decide(self) -> None:
        raise NotImplementedError

    def apply(self) -> None:
        raise NotImplementedError

    def predict(self) -> None:
        raise NotImplementedError

    def diff(self) -> list[dict[str, str]]:
        raise NotImplementedError

    def summary(self) -> dict[str, t.Any]:
        """Task-level return values besides changed, the entries and daemon_reloaded."""
        return {}

    def run(self) -> None:
        """Validate, read, decide, act (unless in check mode) and exit."""
        self.validate()
        self.read()
        self.decide()
        if self.module.check_mode:
            self.predict()
        else:
            self.apply()
        result: dict[str, t.Any] = {
            "changed": any(entry.changed for entry in self.entries),
            self.RESULT_KEY: [entry.result() for entry in self.entries],
            "daemon_reloaded": self.daemon_reloaded,
            **self.summary(),
        }
        if self.module._diff:
            result["diff"] = self.diff()
        self.module.exit_json(**result)
