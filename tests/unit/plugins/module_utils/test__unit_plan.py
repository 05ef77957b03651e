# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible_collections.containerhost.platform.plugins.module_utils._unit_plan import (
    UnitEntry,
    UnitPlan,
    properties_diff,
)


class Exited(Exception):
    """exit_json or fail_json was called."""


class FakeModule:
    def __init__(self, check_mode: bool, diff: bool) -> None:
        self.check_mode = check_mode
        self._diff = diff
        self.result: dict = {}

    def exit_json(self, **result):
        self.result = result
        raise Exited

    def fail_json(self, **result):
        self.result = {"failed": True, **result}
        raise Exited


class Entry(UnitEntry):
    changed = property(lambda self: self.file_changed)

    def result(self):
        return {"name": self.name, "changed": self.changed}


class Plan(UnitPlan):
    RESULT_KEY = "things"

    def __init__(self, module):
        super().__init__(module)
        self.steps: list[str] = []

    def validate(self):
        self.steps.append("validate")
        self.entries = [Entry("things[0] (a.slice)", "a.slice", "present", "/etc/systemd/system/a.slice")]

    def read(self):
        self.steps.append("read")
        self.entries[0].current = "old\n"

    def decide(self):
        self.steps.append("decide")
        self.entries[0].content, self.entries[0].file_changed = "new\n", True

    def apply(self):
        self.steps.append("apply")
        self.daemon_reloaded = True

    def predict(self):
        self.steps.append("predict")
        self.daemon_reloaded = True

    def diff(self):
        return [diff for entry in self.entries for diff in entry.file_diff()]

    def summary(self):
        return {"extra": 1}


def test_properties_diff_renders_name_value_lines():
    assert properties_diff("u (live properties)", {"MemoryMax": "infinity"}, {"MemoryMax": "536870912"}) == {
        "before_header": "u (live properties)", "after_header": "u (live properties)",
        "before": "MemoryMax=infinity\n", "after": "MemoryMax=536870912\n"}


def test_entry_file_diff_only_when_the_file_changes_and_live_changes_shape():
    entry = UnitEntry("x", "a.slice", "present", "/etc/systemd/system/a.slice")
    assert entry.file_diff() == []
    entry.current, entry.content, entry.file_changed = None, "[Slice]\n", True
    assert entry.file_diff() == [{"before_header": "/etc/systemd/system/a.slice",
                                  "after_header": "/etc/systemd/system/a.slice", "before": "", "after": "[Slice]\n"}]
    entry.live_diff = {"CPUWeight": ("200", "100")}
    assert entry.live_changes() == {"CPUWeight": {"before": "100", "after": "200"}}


@pytest.mark.parametrize("check_mode, acted", [(True, "predict"), (False, "apply")])
def test_run_predicts_in_check_mode_and_applies_otherwise(check_mode, acted):
    module = FakeModule(check_mode, diff=True)
    plan = Plan(module)
    with pytest.raises(Exited):
        plan.run()
    assert plan.steps == ["validate", "read", "decide", acted]
    assert module.result == {"changed": True, "things": [{"name": "a.slice", "changed": True}],
                             "daemon_reloaded": True, "extra": 1,
                             "diff": [{"before_header": "/etc/systemd/system/a.slice",
                                       "after_header": "/etc/systemd/system/a.slice",
                                       "before": "old\n", "after": "new\n"}]}


def test_fail_keeps_the_entries_found_so_far():
    module = FakeModule(False, diff=False)
    plan = Plan(module)
    plan.validate()
    with pytest.raises(Exited):
        plan.fail("bad", rc=1)
    assert module.result == {"failed": True, "msg": "bad", "things": [{"name": "a.slice", "changed": False}], "rc": 1}
