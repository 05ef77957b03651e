# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""schemas/resource_slices.json: good and bad documents, the schema and the modules in step, and what is particular
to the role's tasks (what every role keeps to is checked by test_role_conventions.py)."""

from __future__ import annotations

import json
import typing as t

import pytest

from ansible_collections.containerhost.platform.plugins.module_utils import _placement as pl
from ansible_collections.containerhost.platform.plugins.module_utils import _resource_control as rc
from ansible_collections.containerhost.platform.plugins.module_utils import _unit_files as uf

from _roles import COLLECTION_ROOT, issues, load_yaml, role_document, schema_fields

SCHEMA_PATH = COLLECTION_ROOT / "schemas" / "resource_slices.json"
ROLE = COLLECTION_ROOT / "roles" / "resource_slices"
PREFIX = "resource_slices_"

# A host like the testbed's, for the module-side cross-checks: 4 CPUs, one NUMA node, cgroup v2, systemd 252.
HOST = rc.HostLimits(systemd_version=252, cgroup_mode="v2", controllers=("cpu", "cpuset", "io", "memory", "pids"),
                     online_cpus=(0, 1, 2, 3), numa_nodes=(0,), memory_bytes=8 * 1024 ** 3, tasks_max_system=4194304)

# Every limit option with a value the schema and the modules accept.
EVERY_LIMIT: dict[str, t.Any] = {
    "cpu_weight": 200,
    "startup_cpu_weight": 50,
    "cpu_quota": "150%",
    "cpu_quota_period": "50ms",
    "memory_min": "16M",
    "memory_low": "32M",
    "memory_high": "192M",
    "memory_max": "256M",
    "memory_swap_max": 0,
    "tasks_max": 512,
    "io_weight": 300,
    "startup_io_weight": 100,
    "io_device_weight": [{"device": "/dev/vda", "weight": 400}],
    "io_read_bandwidth_max": [{"device": "/dev/vda", "limit": "50M"}],
    "io_write_bandwidth_max": [{"device": "/dev/vda", "limit": 20971520}],
    "io_read_iops_max": [{"device": "/dev/vda", "limit": 1000}],
    "io_write_iops_max": [{"device": "/dev/vda", "limit": 500}],
    "allowed_cpus": "0-1",
    "startup_allowed_cpus": [0, 1],
    "allowed_memory_nodes": "0",
    "startup_allowed_memory_nodes": [0],
}


def document(**overrides: t.Any) -> dict[str, t.Any]:
    """The role defaults with some variables replaced."""
    return role_document(ROLE, **overrides)


def slice_issues(schema: dict[str, t.Any], entry: dict[str, t.Any]) -> list[tuple[str, str]]:
    """Issues of one slice entry placed second, after a good one."""
    return issues(schema, document(resource_slices_slices=[{"name": "tenant.slice"}, entry]))


def unit_issues(schema: dict[str, t.Any], entry: dict[str, t.Any]) -> list[tuple[str, str]]:
    """Issues of one unit entry placed first."""
    return issues(schema, document(resource_slices_units=[entry]))


# ---------------------------------------------------------------------------------------------------------------------
# The role's tasks, beyond the conventions every role keeps (test_role_conventions.py)

def test_tasks_follow_the_role_conventions() -> None:
    """Validation first, no loop over slices or units, module results registered publicly, in this order."""
    tasks = load_yaml(ROLE / "tasks" / "main.yml")
    modules = []
    for task in tasks:
        assert not any(key == "loop" or key.startswith("with_") for key in task), task["name"]
        module = next(key for key in task if key.startswith("containerhost.platform.") or key.startswith("ansible."))
        modules.append(module)
        if "register" in task:
            assert task["register"].startswith(PREFIX), task["register"]
    # The placements are checked (check mode) before anything changes; then one task declares every present slice,
    # one places every unit, one removes every absent slice.
    assert tasks[0]["containerhost.platform.validate"] == {"schema": "resource_slices"}
    assert modules == ["containerhost.platform.validate", "containerhost.platform.unit_resources",
                       "containerhost.platform.slice", "containerhost.platform.unit_resources",
                       "containerhost.platform.slice"]
    assert tasks[1]["check_mode"] is True
    assert tasks[1]["containerhost.platform.unit_resources"] == tasks[3]["containerhost.platform.unit_resources"]
    assert tasks[2]["containerhost.platform.slice"]["slices"] == "{{ __resource_slices_present }}"
    assert tasks[3]["containerhost.platform.unit_resources"]["units"] == "{{ resource_slices_units }}"
    assert "check_mode" not in tasks[3]
    assert tasks[4]["containerhost.platform.slice"]["slices"] == "{{ __resource_slices_absent }}"


def test_limit_options_are_the_modules_options(schema: dict[str, t.Any]) -> None:
    """Both entry kinds have exactly the modules' limit options besides their own keys."""
    slice_keys = set(schema["$defs"]["slice_entry"]["properties"]) - {"name", "state", "description"}
    unit_keys = set(schema["$defs"]["unit_entry"]["properties"]) - {"name", "slice", "state", "runtime"}
    assert slice_keys == set(rc.LIMIT_OPTIONS)
    assert unit_keys == set(rc.LIMIT_OPTIONS)
    assert set(EVERY_LIMIT) == set(rc.LIMIT_OPTIONS)


def test_every_field_has_title_and_description(schema: dict[str, t.Any]) -> None:
    """Not only the variables: each property, list item and $defs entry below them documents itself (closed
    objects: test_role_conventions.py)."""
    fields = list(schema_fields(schema))
    assert len(fields) > 60
    assert [path for path, field in fields if not (field.get("title") and field.get("description"))] == []


# ---------------------------------------------------------------------------------------------------------------------
# Good documents

GOOD_SLICES = [
    pytest.param({"name": "tenant-a.slice", **EVERY_LIMIT}, id="every-limit"),
    pytest.param({"name": "tenant"}, id="no-suffix"),
    pytest.param({"name": "tenant-a-b.slice", "state": "absent"}, id="absent-nested"),
    pytest.param({"name": "a.b:c_d.slice", "description": "Tenant A (50% of the host)"}, id="dots-colons"),
    pytest.param({"name": "web\\x2dproxy.slice"}, id="escaped-dash"),
    pytest.param({"name": "t.slice", "cpu_weight": "idle"}, id="cpu-weight-idle"),
    pytest.param({"name": "t.slice", "cpu_weight": 1, "io_weight": 10000}, id="weight-bounds"),
    pytest.param({"name": "t.slice", "cpu_quota": 150}, id="quota-int"),
    pytest.param({"name": "t.slice", "cpu_quota": "12.5%"}, id="quota-decimal"),
    pytest.param({"name": "t.slice", "cpu_quota": "400%", "cpu_quota_period": "1s"}, id="quota-period"),
    pytest.param({"name": "t.slice", "memory_max": "1.5G", "memory_high": "1536MiB"}, id="size-forms"),
    pytest.param({"name": "t.slice", "memory_max": "infinity", "memory_min": 0, "memory_low": "10%"}, id="infinity-zero-percent"),
    pytest.param({"name": "t.slice", "memory_max": "100%"}, id="percent-100"),
    pytest.param({"name": "t.slice", "memory_swap_max": "infinity"}, id="swap-infinity"),
    pytest.param({"name": "t.slice", "tasks_max": "infinity"}, id="tasks-infinity"),
    pytest.param({"name": "t.slice", "tasks_max": "5%"}, id="tasks-percent"),
    pytest.param({"name": "t.slice", "allowed_cpus": "0-1,3", "allowed_memory_nodes": 0}, id="cpu-list-forms"),
    pytest.param({"name": "t.slice", "allowed_cpus": "1, 3"}, id="cpu-list-spaces"),
]


@pytest.mark.parametrize("entry", GOOD_SLICES)
def test_good_slice(schema: dict[str, t.Any], entry: dict[str, t.Any]) -> None:
    """Each form the documentation gives is accepted."""
    assert slice_issues(schema, entry) == []


@pytest.mark.parametrize("entry", GOOD_SLICES)
def test_good_slice_passes_the_module_checks_too(entry: dict[str, t.Any]) -> None:
    """What the schema lets through, the modules' own validation accepts as well (no surprise on the host)."""
    name = uf.validate_unit_name(entry["name"], "slice")
    assert name.endswith(".slice")
    limits = {k: v for k, v in entry.items() if k not in ("name", "state", "description")}
    rc.normalise_limits(limits, "slices[1]", HOST)


GOOD_UNITS = [
    pytest.param({"name": "nginx.service", "slice": "tenant-a.slice", **EVERY_LIMIT}, id="every-limit"),
    pytest.param({"name": "nginx", "slice": "tenant"}, id="no-suffix"),
    pytest.param({"name": "getty@tty1.service", "slice": "tenant.slice"}, id="template-instance"),
    pytest.param({"name": "podman.socket", "tasks_max": 10}, id="socket"),
    pytest.param({"name": "var-lib-containers.mount", "io_weight": 50}, id="mount"),
    pytest.param({"name": "run-u42.scope", "memory_max": "1G", "runtime": True}, id="scope-runtime"),
    pytest.param({"name": "nginx.service", "state": "absent"}, id="absent"),
    pytest.param({"name": "nginx.service", "runtime": False, "slice": "tenant.slice"}, id="runtime-false-with-slice"),
]


@pytest.mark.parametrize("entry", GOOD_UNITS)
def test_good_unit(schema: dict[str, t.Any], entry: dict[str, t.Any]) -> None:
    """Unit entries in every documented form are accepted."""
    assert unit_issues(schema, entry) == []


def test_good_role_settings(schema: dict[str, t.Any]) -> None:
    """restart and unit_dir take their documented forms."""
    assert issues(schema, document(resource_slices_restart=True, resource_slices_unit_dir="/run/systemd/system")) == []


# ---------------------------------------------------------------------------------------------------------------------
# Bad documents: each refused at the entry and field it is about

SLICE_NAME = "resource_slices_slices[1].name"


@pytest.mark.parametrize(
    ("entry", "path", "message"),
    [
        # the issue's bad inputs
        pytest.param({"name": "t.slice", "cpu_quota": "1.5 CPUs"}, "resource_slices_slices[1].cpu_quota",
                     "'1.5 CPUs' does not match", id="malformed-quota"),
        pytest.param({"name": "t.slice", "cpu_quota": "150%%"}, "resource_slices_slices[1].cpu_quota",
                     "'150%%' does not match", id="malformed-quota-double-percent"),
        pytest.param({"name": "t.slice", "cpu_quota": -50}, "resource_slices_slices[1].cpu_quota",
                     "-50 is less than the minimum of 1", id="negative-quota"),
        pytest.param({"name": "t.slice", "cpu_quota": "-50%"}, "resource_slices_slices[1].cpu_quota",
                     "'-50%' does not match", id="negative-quota-percent"),
        pytest.param({"name": "t.slice", "cpu_quota": "0%"}, "resource_slices_slices[1].cpu_quota",
                     "'0%' does not match", id="zero-quota"),
        pytest.param({"name": "tenant-x.sliec"}, SLICE_NAME, "'tenant-x.sliec' does not match", id="unknown-suffix"),
        pytest.param({"name": "tenant-x.service"}, SLICE_NAME, "'tenant-x.service' does not match", id="wrong-suffix"),
        pytest.param({"name": "tenant--x.slice"}, SLICE_NAME, "'tenant--x.slice' does not match", id="double-dash"),
        pytest.param({"name": "-tenant.slice"}, SLICE_NAME, "'-tenant.slice' does not match", id="leading-dash"),
        pytest.param({"name": "tenant-.slice"}, SLICE_NAME, "'tenant-.slice' does not match", id="trailing-dash"),
        pytest.param({"name": "-.slice"}, SLICE_NAME, "'-.slice' does not match", id="root-slice"),
        pytest.param({"name": "ten ant.slice"}, SLICE_NAME, "'ten ant.slice' does not match", id="space"),
        pytest.param({"name": "tenant@a.slice"}, SLICE_NAME, "'tenant@a.slice' does not match", id="template-slice"),
        pytest.param({"name": "t\\q.slice"}, SLICE_NAME, "'t\\\\q.slice' does not match", id="bad-escape"),
        pytest.param({"name": "a" * 250 + ".slice"}, SLICE_NAME, "is too long", id="too-long"),
        pytest.param({"name": "t.slice", "cpu_shares": 512}, "resource_slices_slices[1].cpu_shares",
                     "is not an allowed name", id="unknown-property"),
        # ranges and forms
        pytest.param({"name": "t.slice", "cpu_weight": 0}, "resource_slices_slices[1].cpu_weight",
                     "0 is less than the minimum of 1", id="weight-zero"),
        pytest.param({"name": "t.slice", "io_weight": 10001}, "resource_slices_slices[1].io_weight",
                     "10001 is greater than the maximum of 10000", id="weight-too-big"),
        pytest.param({"name": "t.slice", "io_weight": "idle"}, "resource_slices_slices[1].io_weight",
                     "'idle' is not of type 'integer'", id="idle-only-for-cpu"),
        pytest.param({"name": "t.slice", "cpu_weight": True}, "resource_slices_slices[1].cpu_weight",
                     "True is not of type 'integer'", id="bool-weight"),
        pytest.param({"name": "t.slice", "cpu_quota": "150%", "cpu_quota_period": "100"},
                     "resource_slices_slices[1].cpu_quota_period", "'100' does not match", id="period-without-unit"),
        pytest.param({"name": "t.slice", "memory_max": 0}, "resource_slices_slices[1].memory_max",
                     "0 is less than the minimum of 1", id="memory-max-zero"),
        pytest.param({"name": "t.slice", "memory_high": "0M"}, "resource_slices_slices[1].memory_high",
                     "'0M' does not match", id="memory-high-zero-size"),
        pytest.param({"name": "t.slice", "memory_max": "512X"}, "resource_slices_slices[1].memory_max",
                     "'512X' does not match", id="memory-unknown-unit"),
        pytest.param({"name": "t.slice", "memory_max": "120%"}, "resource_slices_slices[1].memory_max",
                     "'120%' does not match", id="percent-over-100"),
        pytest.param({"name": "t.slice", "memory_low": "-1G"}, "resource_slices_slices[1].memory_low",
                     "'-1G' does not match", id="negative-size"),
        pytest.param({"name": "t.slice", "memory_swap_max": "50%"}, "resource_slices_slices[1].memory_swap_max",
                     "'50%' does not match", id="swap-percent"),
        pytest.param({"name": "t.slice", "tasks_max": 0}, "resource_slices_slices[1].tasks_max",
                     "0 is less than the minimum of 1", id="tasks-zero"),
        pytest.param({"name": "t.slice", "tasks_max": "lots"}, "resource_slices_slices[1].tasks_max",
                     "'lots' does not match", id="tasks-word"),
        pytest.param({"name": "t.slice", "io_device_weight": [{"device": "vda", "weight": 10}]},
                     "resource_slices_slices[1].io_device_weight[0].device", "'vda' does not match '^/dev/\\\\S+$'",
                     id="device-not-dev"),
        pytest.param({"name": "t.slice", "io_read_bandwidth_max": [{"device": "/dev/vda", "limit": 0}]},
                     "resource_slices_slices[1].io_read_bandwidth_max[0].limit", "0 is less than the minimum of 1",
                     id="bandwidth-zero"),
        pytest.param({"name": "t.slice", "io_write_iops_max": [{"device": "/dev/vda", "limit": "fast"}]},
                     "resource_slices_slices[1].io_write_iops_max[0].limit", "'fast' is not of type 'integer'",
                     id="iops-word"),
        pytest.param({"name": "t.slice", "io_read_iops_max": [{"device": "/dev/vda", "limit": 5, "burst": 9}]},
                     "resource_slices_slices[1].io_read_iops_max[0].burst", "is not an allowed name", id="device-extra-key"),
        pytest.param({"name": "t.slice", "io_write_bandwidth_max": []}, "resource_slices_slices[1].io_write_bandwidth_max",
                     "[] should be non-empty", id="device-list-empty"),
        pytest.param({"name": "t.slice", "allowed_cpus": "0-"}, "resource_slices_slices[1].allowed_cpus",
                     "'0-' does not match", id="cpu-list-malformed"),
        pytest.param({"name": "t.slice", "allowed_cpus": [-1]}, "resource_slices_slices[1].allowed_cpus[0]",
                     "-1 is less than the minimum of 0", id="cpu-negative"),
        pytest.param({"name": "t.slice", "allowed_memory_nodes": []}, "resource_slices_slices[1].allowed_memory_nodes",
                     "[] should be non-empty", id="nodes-empty"),
        pytest.param({"name": "t.slice", "state": "started"}, "resource_slices_slices[1].state",
                     "'started' is not one of ['present', 'absent']", id="bad-state"),
        pytest.param({"name": "t.slice", "description": "two\nlines"}, "resource_slices_slices[1].description",
                     "does not match", id="multi-line-description"),
        pytest.param({"cpu_weight": 100}, "resource_slices_slices[1].name", "is required but not defined", id="no-name"),
        # cross-field rules
        pytest.param({"name": "t.slice", "startup_cpu_weight": 20}, "resource_slices_slices[1]",
                     "'cpu_weight' is a dependency of 'startup_cpu_weight'", id="startup-cpu-weight-alone"),
        pytest.param({"name": "t.slice", "startup_io_weight": 20}, "resource_slices_slices[1]",
                     "'io_weight' is a dependency of 'startup_io_weight'", id="startup-io-weight-alone"),
        pytest.param({"name": "t.slice", "startup_allowed_cpus": "0"}, "resource_slices_slices[1]",
                     "'allowed_cpus' is a dependency of 'startup_allowed_cpus'", id="startup-cpus-alone"),
        pytest.param({"name": "t.slice", "startup_allowed_memory_nodes": "0"}, "resource_slices_slices[1]",
                     "'allowed_memory_nodes' is a dependency of 'startup_allowed_memory_nodes'", id="startup-nodes-alone"),
        pytest.param({"name": "t.slice", "cpu_quota_period": "10ms"}, "resource_slices_slices[1]",
                     "'cpu_quota' is a dependency of 'cpu_quota_period'", id="period-without-quota"),
    ],
)
def test_bad_slice(schema: dict[str, t.Any], entry: dict[str, t.Any], path: str, message: str) -> None:
    """One bad field gives exactly one issue, at that entry and field."""
    found = slice_issues(schema, entry)
    assert len(found) == 1, found
    assert found[0][0] == path
    assert message in found[0][1]


@pytest.mark.parametrize(
    ("entry", "path", "message"),
    [
        pytest.param({"name": "nginx.servic", "tasks_max": 5}, "resource_slices_units[0].name", "'nginx.servic' does not match",
                     id="unknown-suffix"),
        pytest.param({"name": "nginx.slice", "tasks_max": 5}, "resource_slices_units[0].name", "'nginx.slice' does not match",
                     id="slice-is-not-a-unit-to-place"),
        pytest.param({"name": "run-u1@x.scope", "tasks_max": 5}, "resource_slices_units[0].name", "does not match", id="template-scope"),
        pytest.param({"name": "a@b@c.service", "tasks_max": 5}, "resource_slices_units[0].name", "does not match", id="two-at"),
        pytest.param({"name": "nginx.service", "slice": "tenant--a.slice"}, "resource_slices_units[0].slice",
                     "'tenant--a.slice' does not match", id="bad-slice"),
        pytest.param({"name": "nginx.service", "runtime": "yes", "tasks_max": 5}, "resource_slices_units[0].runtime",
                     "'yes' is not of type 'boolean'", id="runtime-not-bool"),
        pytest.param({"name": "nginx.service", "runtime": True, "slice": "tenant.slice"}, "resource_slices_units[0]",
                     "is refused: it is an entry with runtime: true and a slice", id="runtime-cannot-move"),
        pytest.param({"name": "nginx.service", "runtime": True, "state": "absent", "tasks_max": 5}, "resource_slices_units[0]",
                     "is refused: it is an entry with runtime: true and state: absent", id="runtime-cannot-be-absent"),
        pytest.param({"name": "nginx.service"}, "resource_slices_units[0]",
                     "is refused: it is an entry with nothing to set: no slice and no limit option", id="nothing-to-set"),
        pytest.param({"name": "nginx.service", "runtime": True}, "resource_slices_units[0]",
                     "is refused: it is an entry with nothing to set", id="runtime-nothing-to-set"),
        pytest.param({"name": "nginx.service", "cpu_quota": "-10%"}, "resource_slices_units[0].cpu_quota",
                     "does not match", id="negative-quota"),
        pytest.param({"name": "nginx.service", "MemoryMax": "1G"}, "resource_slices_units[0].MemoryMax",
                     "is not an allowed name", id="systemd-property-name"),
    ],
)
def test_bad_unit(schema: dict[str, t.Any], entry: dict[str, t.Any], path: str, message: str) -> None:
    """Unit entries are refused at the entry and field they are about."""
    found = unit_issues(schema, entry)
    assert len(found) == 1, found
    assert found[0][0] == path
    assert message in found[0][1]


@pytest.mark.parametrize(
    ("overrides", "path", "message"),
    [
        ({"resource_slices_slices": {"name": "t.slice"}}, "resource_slices_slices", "is not of type 'array'"),
        ({"resource_slices_slices": ["t.slice"]}, "resource_slices_slices[0]", "'t.slice' is not of type 'object'"),
        ({"resource_slices_units": None}, "resource_slices_units", "None is not of type 'array'"),
        ({"resource_slices_restart": "yes"}, "resource_slices_restart", "'yes' is not of type 'boolean'"),
        ({"resource_slices_unit_dir": "etc/systemd/system"}, "resource_slices_unit_dir", "does not match '^/'"),
        ({"resource_slices_unit_dir": "/etc/../tmp"}, "resource_slices_unit_dir", "is refused: it is a path with a .. component"),
    ],
)
def test_bad_role_settings(schema: dict[str, t.Any], overrides: dict[str, t.Any], path: str, message: str) -> None:
    """The top-level variables keep their types."""
    found = issues(schema, document(**overrides))
    assert [p for p, _m in found] == [path]
    assert message in found[0][1]


def test_missing_and_unknown_variables(schema: dict[str, t.Any]) -> None:
    """A variable left undefined is reported as required; one the role does not know is not an allowed name."""
    instance = document(resource_slices_slice=[])
    del instance["resource_slices_restart"]
    assert issues(schema, instance) == [
        ("resource_slices_restart", "is required but not defined"),
        ("resource_slices_slice", "is not an allowed name"),
    ]


def test_every_bad_entry_reported_at_once(schema: dict[str, t.Any]) -> None:
    """Several bad entries give one issue each, in list order, so one run shows every mistake."""
    slices = [{"name": "ok.slice"}, {"name": "a--b.slice"}, {"name": "c.slice", "cpu_quota": -1},
              {"name": "d.slice", "tasks_max": 0}]
    found = issues(schema, document(resource_slices_slices=slices))
    assert [p for p, _m in found] == ["resource_slices_slices[1].name", "resource_slices_slices[2].cpu_quota",
                                      "resource_slices_slices[3].tasks_max"]


# ---------------------------------------------------------------------------------------------------------------------
# The schema and the modules agree on the host-independent rules

@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("cpu_quota", "1.5 CPUs"), ("cpu_quota", -50), ("cpu_quota", "0%"), ("cpu_quota", "-5%"),
        ("cpu_weight", 0), ("cpu_weight", 10001), ("io_weight", "idle"),
        ("cpu_quota_period", "100"), ("memory_max", 0), ("memory_max", "512X"), ("memory_max", "120%"),
        ("memory_swap_max", "50%"), ("tasks_max", 0), ("tasks_max", "lots"),
        ("allowed_cpus", "0-"), ("allowed_cpus", [-1]),
        ("io_read_bandwidth_max", [{"device": "/dev/vda", "limit": 0}]),
        ("io_device_weight", [{"device": "vda", "weight": 10}]),
    ],
)
def test_schema_and_module_refuse_the_same(schema: dict[str, t.Any], option: str, value: t.Any) -> None:
    """A value the schema refuses is refused by the modules too (the module message names the slice and field)."""
    assert slice_issues(schema, {"name": "t.slice", option: value})
    with pytest.raises(rc.ResourceError, match=rf"^slices\[1\] \(t\.slice\): {option}"):
        rc.normalise_limits({option: value}, "slices[1] (t.slice)", HOST)


@pytest.mark.parametrize("name", ["tenant-x.sliec", "tenant--x.slice", "-t.slice", "t-.slice", "ten ant.slice",
                                  "tenant@a.slice", "a" * 250 + ".slice", "tenant-x.service"])
def test_schema_and_module_refuse_the_same_names(schema: dict[str, t.Any], name: str) -> None:
    """A slice name the schema refuses is one systemd (and the module) refuses too."""
    assert slice_issues(schema, {"name": name})
    with pytest.raises(uf.UnitNameError):
        uf.validate_unit_name(name, "slice")


@pytest.mark.parametrize("name", ["nginx.servic", "nginx.slice", "run-u1@x.scope", "a@b@c.service", "ng inx.service",
                                  "nginx.target", "a" * 250 + ".service"])
def test_schema_and_module_refuse_the_same_unit_names(schema: dict[str, t.Any], name: str) -> None:
    """A unit name the schema refuses is one unit_resources refuses too."""
    assert unit_issues(schema, {"name": name, "tasks_max": 5})
    with pytest.raises(pl.PlacementError, match=r"^units\[0\] \("):
        pl.validate_placeable(name, f"units[0] ({name})")


@pytest.mark.parametrize("entry", GOOD_UNITS)
def test_good_unit_names_pass_the_module_checks_too(entry: dict[str, t.Any]) -> None:
    """Unit names the schema lets through are names unit_resources accepts."""
    assert pl.validate_placeable(entry["name"], "units[0]")
    if "slice" in entry:
        assert pl.validate_slice(entry["slice"], "units[0]").endswith(".slice")


def test_host_dependent_values_are_left_to_the_module(schema: dict[str, t.Any]) -> None:
    """CPUs outside the host pass the schema (it cannot know the host) and the module refuses them by name."""
    entry = {"name": "t.slice", "allowed_cpus": "0-63"}
    assert slice_issues(schema, entry) == []
    with pytest.raises(rc.ResourceError, match=r"^slices\[1\] \(t\.slice\): allowed_cpus: '0-63' is not valid \(4-63 not on this host\)"):
        rc.normalise_limits({"allowed_cpus": "0-63"}, "slices[1] (t.slice)", HOST)


def test_schema_file_is_stable_json() -> None:
    """The schema file is plain JSON, two-space indented, so diffs stay readable."""
    text = SCHEMA_PATH.read_text(encoding="utf-8")
    assert text == json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n"
