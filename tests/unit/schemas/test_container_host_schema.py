# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""schemas/container_host.json: good and bad documents; what is particular to the role (what every role keeps to is
checked by test_role_conventions.py); the example inventory valid for every role it feeds; the controller-side templates of the role (CPU sets, the health
requirements, the rollout summary) rendered by Ansible's own templating on recorded data."""

from __future__ import annotations

import functools
import json
import typing as t

from pathlib import Path

import pytest

from ansible_collections.containerhost.platform.plugins.plugin_utils import _schema_validation as sv

from _roles import (COLLECTION_ROOT, ROLES_DIR, issue_paths, load_yaml, role_defaults, role_document, role_schema,
                    written_templates)

SCHEMA_PATH = COLLECTION_ROOT / "schemas" / "container_host.json"
ROLE = COLLECTION_ROOT / "roles" / "container_host"
TEMPLATES = ROLE / "templates"
EXAMPLE_INVENTORY = COLLECTION_ROOT / "docs" / "inventory.example.yml"
PREFIX = "container_host_"
FINGERPRINT = "# containerhost.platform:container_host"


def document(**overrides: t.Any) -> dict[str, t.Any]:
    """The role defaults with some variables replaced."""
    return role_document(ROLE, **overrides)


# ---- the schema (what every role's schema keeps to is in test_role_conventions.py)

def test_every_fitness_requirement_has_title_and_description(schema: dict[str, t.Any]) -> None:
    """Each fitness requirement says what it is, like the variables themselves."""
    for name, prop in schema["properties"]["container_host_fitness_requirements"]["properties"].items():
        assert prop.get("title") and prop.get("description"), name


# ---- good and bad values

GOOD_ISOLATION = {"reserved_cpus": "2-7", "housekeeping_cpus": [0, 1], "memory_nodes": 0, "workload_slice": "rt.slice"}


@pytest.mark.parametrize("overrides", [
    {"container_host_cpu_isolation": GOOD_ISOLATION},
    {"container_host_cpu_isolation": {"reserved_cpus": 1, "housekeeping_cpus": "0"}},
    {"container_host_sysctls": {"net.core.somaxconn": 4096, "net/ipv4/ip_forward": True,
                                "net.ipv4.tcp_rmem": "4096 87380 6291456", "net.ipv4.conf.eth0/10.rp_filter": 2}},
    {"container_host_kernel_modules": [{"name": "nf_conntrack", "params": {"expect_hashsize": 1024}},
                                       {"name": "dummy", "params": {"numdummies": 2}, "boot": False},
                                       {"name": "ip_vs", "state": "absent"},
                                       {"name": "bonding", "params": {"arp_ip_target": ["192.0.2.1", "192.0.2.2"]}}]},
    {"container_host_hugepages": [{"size": "2M", "count": 512}, {"size": "1GiB", "count": 2, "node": 1},
                                  {"size": "2048kB", "count": 0}]},
    {"container_host_fitness_requirements": {
        "kernel_min": "6.1", "cgroup_v2": True, "selinux": "enabled",
        "hugepages_free": [{"size": "2M", "count": 64, "node": 0}], "numa_nodes_min": 1, "cpus_min": 2,
        "memory_min_mb": 1024, "engines": ["podman>=4.0", "crun", "runc != 1.1.0"],
        "disk_free": [{"min_gb": 1.5}, {"path": "/", "min_gb": 2}], "time_synced": False,
        "kernel_modules": ["overlay"], "sysctls": {"net.ipv4.ip_local_port_range": [32768, 60999]}}},
    {"container_host_mcs": {"names": ["etcd", "registry-cache"]}},
    {"container_host_mcs": {"categories": {"min": 100, "max": 1023}, "static": {"legacy": "s0:c5,c6"}, "level": "s0"}},
])
def test_good_values_pass(schema: dict[str, t.Any], overrides: dict[str, t.Any]) -> None:
    """Realistic values in every accepted form pass."""
    assert issue_paths(schema, document(**overrides)) == []


@pytest.mark.parametrize(("overrides", "path"), [
    ({"container_host_runtime_enabled": "yes"}, "container_host_runtime_enabled"),
    ({"container_host_fitness_requirements": {"kernel_min": 5.1}}, "container_host_fitness_requirements.kernel_min"),
    ({"container_host_fitness_requirements": {"kernel_min": "5.x"}}, "container_host_fitness_requirements.kernel_min"),
    ({"container_host_fitness_requirements": {"cpus": 4}}, "container_host_fitness_requirements"),
    ({"container_host_fitness_requirements": {"selinux": "on"}}, "container_host_fitness_requirements.selinux"),
    ({"container_host_fitness_requirements": {"engines": ["podman=>4"]}}, "container_host_fitness_requirements.engines[0]"),
    ({"container_host_fitness_requirements": {"engines": ["cri-o"]}}, "container_host_fitness_requirements.engines[0]"),
    ({"container_host_fitness_requirements": {"cpus_min": 0}}, "container_host_fitness_requirements.cpus_min"),
    ({"container_host_fitness_requirements": {"disk_free": [{"path": "/var"}]}},
     "container_host_fitness_requirements.disk_free[0]"),
    ({"container_host_fitness_requirements": {"disk_free": [{"path": "var", "min_gb": 1}]}},
     "container_host_fitness_requirements.disk_free[0].path"),
    ({"container_host_fitness_requirements": {"hugepages_free": [{"size": "2X", "count": 1}]}},
     "container_host_fitness_requirements.hugepages_free[0].size"),
    ({"container_host_sysctls": {"somaxconn": 4096}}, "container_host_sysctls"),
    ({"container_host_sysctls": {"net.core.*": 1}}, "container_host_sysctls"),
    ({"container_host_sysctls": {"-net.core.somaxconn": 1}}, "container_host_sysctls"),
    ({"container_host_sysctls": {"net.core.somaxconn": "40\n96"}}, 'container_host_sysctls["net.core.somaxconn"]'),
    ({"container_host_sysctls": {"net.core.somaxconn": "  "}}, 'container_host_sysctls["net.core.somaxconn"]'),
    ({"container_host_sysctls": {"net.core.somaxconn": [1, 2]}}, 'container_host_sysctls["net.core.somaxconn"]'),
    ({"container_host_kernel_modules": [{"params": {}}]}, "container_host_kernel_modules[0]"),
    ({"container_host_kernel_modules": [{"name": "br netfilter"}]}, "container_host_kernel_modules[0].name"),
    ({"container_host_kernel_modules": [{"name": "x", "params": {"a": "two words"}}]},
     "container_host_kernel_modules[0].params.a"),
    ({"container_host_kernel_modules": [{"name": "x", "state": "loaded"}]}, "container_host_kernel_modules[0].state"),
    ({"container_host_kernel_modules": [{"name": "x", "load": True}]}, "container_host_kernel_modules[0]"),
    ({"container_host_kernel_modules_unavailable": "skip"}, "container_host_kernel_modules_unavailable"),
    ({"container_host_hugepages": [{"size": "2M"}]}, "container_host_hugepages[0]"),
    ({"container_host_hugepages": [{"size": "2M", "count": -1}]}, "container_host_hugepages[0].count"),
    ({"container_host_hugepages": [{"size": "huge", "count": 1}]}, "container_host_hugepages[0].size"),
    ({"container_host_hugepages_on_shortfall": "ignore"}, "container_host_hugepages_on_shortfall"),
    ({"container_host_cpu_isolation": {"reserved_cpus": "2-7"}}, "container_host_cpu_isolation"),
    ({"container_host_cpu_isolation": {**GOOD_ISOLATION, "reserved_cpus": "2..7"}}, "container_host_cpu_isolation.reserved_cpus"),
    ({"container_host_cpu_isolation": {**GOOD_ISOLATION, "housekeeping_cpus": []}}, "container_host_cpu_isolation.housekeeping_cpus"),
    ({"container_host_cpu_isolation": {**GOOD_ISOLATION, "workload_slice": "system.slice"}},
     "container_host_cpu_isolation.workload_slice"),
    ({"container_host_cpu_isolation": {**GOOD_ISOLATION, "workload_slice": "workload"}},
     "container_host_cpu_isolation.workload_slice"),
    ({"container_host_cpu_isolation": {**GOOD_ISOLATION, "isolcpus": True}}, "container_host_cpu_isolation"),
    ({"container_host_mcs": {"names": ["two words"]}}, "container_host_mcs.names[0]"),
    ({"container_host_mcs": {"names": ["a", "a"]}}, "container_host_mcs.names"),
    ({"container_host_mcs": {"categories": {"min": 0, "max": 1024}}}, "container_host_mcs.categories.max"),
    ({"container_host_mcs": {"static": {"db": "c5,c6"}}}, "container_host_mcs.static.db"),
    ({"container_host_mcs": {"state_path": "allocations.json"}}, "container_host_mcs.state_path"),
    ({"container_host_mcs": {"range": "c0.c1023"}}, "container_host_mcs"),
])
def test_bad_values_are_refused_by_path(schema: dict[str, t.Any], overrides: dict[str, t.Any], path: str) -> None:
    """Each bad value is reported under its variable and field."""
    paths = issue_paths(schema, document(**overrides))
    assert paths and all(p.startswith(path) for p in paths), paths


def test_unknown_variable_is_refused(schema: dict[str, t.Any]) -> None:
    """A misspelt variable is reported instead of being ignored."""
    assert issue_paths(schema, document(container_host_sysctl={"vm.swappiness": 1})) == ["container_host_sysctl"]


# ---- the role's files (the conventions every role keeps are checked by test_role_conventions.py)

def main_tasks() -> list[dict[str, t.Any]]:
    """The tasks of tasks/main.yml, as written (imports not inlined)."""
    return load_yaml(ROLE / "tasks" / "main.yml")


def test_main_tags_name_every_part() -> None:
    """Every task of main.yml is tagged, and the tags are the role's and one per part."""
    parts = {"validate", "fitness", "tuning", "runtime", "slices", "mcs", "system_containers", "report"}
    tagged = {tag for task in main_tasks() for tag in task["tags"]}
    assert {f"{PREFIX}{part}" for part in parts} | {"container_host"} == tagged


def test_part_order_tuning_before_engine() -> None:
    """The gate comes before every change, and the kernel is tuned before the engine and the slices."""
    names = [task["name"] for task in main_tasks()]
    assert names.index("Container_host | Fitness gate") < names.index("Container_host | Tuning") \
        < names.index("Container_host | Engine, registries, storage and trust") \
        < names.index("Container_host | Slices and unit placements")
    assert names[-1] == "Container_host | Report what changed and what was skipped"


def test_every_included_role_is_guarded_and_validated_first() -> None:
    """Each included role runs under its toggle, and its variables are checked by validate.yml before any part."""
    toggles = {"containerhost.platform.container_runtime": "container_host_runtime_enabled | bool",
               "containerhost.platform.resource_slices": "container_host_slices_enabled | bool",
               "containerhost.platform.system_containers": "container_host_system_containers_enabled | bool"}
    included = {task["ansible.builtin.include_role"]["name"]: task["when"]
                for task in main_tasks() if "ansible.builtin.include_role" in task}
    assert included == toggles
    validated = [task for task in load_yaml(ROLE / "tasks" / "validate.yml")
                 if "ansible.builtin.include_role" in task or "containerhost.platform.validate" in task]
    assert [task.get("ansible.builtin.include_role", {}).get("name") or task["containerhost.platform.validate"]["schema"]
            for task in validated] == ["container_host", "containerhost.platform.container_runtime",
                                       "containerhost.platform.system_containers", "resource_slices"]
    assert all(task.get("when", toggles["containerhost.platform.container_runtime"]) in toggles.values() for task in validated[1:])


def test_only_the_cpu_isolation_drop_in_is_written_to_hosts() -> None:
    """The CPU isolation drop-in is the one template written to hosts (with ansible_managed and the fingerprint);
    the others are rendered on the controller. Their headers are checked by test_role_conventions.py."""
    assert written_templates(ROLE) == {"cpu_isolation.conf.j2"}
    assert {path.name for path in TEMPLATES.glob("*.j2")} > {"cpu_isolation.conf.j2"}
    lines = (TEMPLATES / "cpu_isolation.conf.j2").read_text(encoding="utf-8").splitlines()
    assert lines[:2] == ["{{ ansible_managed | comment }}", FINGERPRINT]


def test_playbook_phases() -> None:
    """playbooks/container_host.yml: start and validate first, the rollout in serial batches with the gate before the
    role and the health check after it, and the summary last."""
    plays = load_yaml(COLLECTION_ROOT / "playbooks" / "container_host.yml")
    assert [play["name"] for play in plays] == [
        "Container_host | Start | Rollout settings and the run's record directory",
        "Container_host | Validate | Every host's variables, on the controller",
        "Container_host | Rollout",
        "Container_host | Summary",
    ]
    assert plays[1]["any_errors_fatal"] is True
    rollout = plays[2]
    assert rollout["serial"] == "{{ container_host_batch_size | default(2) }}"
    assert rollout["max_fail_percentage"] == "{{ container_host_max_fail_percentage | default(0) }}"
    assert rollout["pre_tasks"][0]["ansible.builtin.include_role"]["tasks_from"] == "rollout_gate.yml"
    assert rollout["roles"] == [{"role": "containerhost.platform.container_host"}]
    assert rollout["post_tasks"][0]["ansible.builtin.include_role"]["tasks_from"] == "rollout_health.yml"
    assert plays[0]["hosts"] == plays[3]["hosts"] == "localhost"
    # The role's own default of the rollout settings matches the playbook's.
    role_vars = load_yaml(ROLE / "vars" / "main.yml")
    assert role_vars["__container_host_batch_size"] == "{{ container_host_batch_size | default(2) }}"
    assert role_vars["__container_host_max_fail_percentage"] == "{{ container_host_max_fail_percentage | default(0) }}"


@functools.lru_cache(maxsize=None)
def plugin_loader() -> None:
    """Ansible's plugin loader with the collection finder, set up once (the inventory and lookups need it)."""
    from ansible.plugins.loader import init_plugin_loader  # pylint: disable=import-outside-toplevel

    init_plugin_loader()


# ---- the example inventory

def _inventory_host_vars() -> dict[str, dict[str, t.Any]]:
    """Each host's variables in the example inventory, merged by Ansible's own inventory code."""
    from ansible.inventory.manager import InventoryManager  # pylint: disable=import-outside-toplevel
    from ansible.parsing.dataloader import DataLoader  # pylint: disable=import-outside-toplevel
    from ansible.vars.manager import VariableManager  # pylint: disable=import-outside-toplevel

    plugin_loader()
    loader = DataLoader()
    inventory = InventoryManager(loader=loader, sources=[str(EXAMPLE_INVENTORY)])
    variables = VariableManager(loader=loader, inventory=inventory)
    return {host.name: variables.get_vars(host=host) for host in inventory.get_hosts("container_hosts")}


@pytest.fixture(scope="module", name="fleet")
def fixture_fleet() -> dict[str, dict[str, t.Any]]:
    """The example fleet's host variables."""
    return _inventory_host_vars()


def test_example_inventory_is_a_mixed_fleet(fleet: dict[str, dict[str, t.Any]]) -> None:
    """Edge VMs, latency machines with isolation and hugepages, and container build hosts."""
    assert len(fleet) == 9
    assert fleet["lat-03"]["container_host_cpu_isolation"]["memory_nodes"] == 0
    assert fleet["lat-01"]["container_host_cpu_isolation"]["memory_nodes"] == 1
    assert "container_host_cpu_isolation" not in fleet["edge-01"]
    assert fleet["ci-01"]["container_host_hugepages"] == []


@pytest.mark.parametrize("role", ["container_host", "container_runtime", "resource_slices", "system_containers"])
def test_example_inventory_is_valid_for_every_role(fleet: dict[str, dict[str, t.Any]], role: str) -> None:
    """Every host's variables, with the role's defaults for what the inventory leaves out, pass the role's schema."""
    schema = role_schema(role)
    defaults_of_role = role_defaults(ROLES_DIR / role)
    for host, host_vars in fleet.items():
        instance = {name: host_vars.get(name, value) for name, value in defaults_of_role.items()}
        assert [issue.line() for issue in sv.validate_instance(schema, instance)] == [], host


# ---- the controller-side templates, rendered by Ansible's templating

def render(template: str, variables: dict[str, t.Any]) -> t.Any:
    """Render one of the role's templates on the controller, as the role does (lookup('template'))."""
    from ansible.parsing.dataloader import DataLoader  # pylint: disable=import-outside-toplevel
    from ansible.template import Templar, trust_as_template  # pylint: disable=import-outside-toplevel

    plugin_loader()
    templar = Templar(loader=DataLoader(), variables=variables)
    return templar.template(trust_as_template((TEMPLATES / template).read_text(encoding="utf-8")))


@pytest.mark.parametrize(("spec", "numbers"), [
    ("0-3,6", [0, 1, 2, 3, 6]),
    ("0-1 3", [0, 1, 3]),
    (" 2 - 4 , 8 ", [2, 3, 4, 8]),
    ([3, 1, 1], [1, 3]),
    (5, [5]),
    ("", []),
    (None, []),
])
def test_cpu_list(spec: t.Any, numbers: list[int]) -> None:
    """CPU sets as the user writes them and as systemctl shows them become one sorted list."""
    assert json.loads(render("cpu_list.j2", {"cpu_spec": spec})) == numbers


def test_health_requirements_leave_out_skipped_items() -> None:
    """The health check asks the kernel for the declared sysctls and present modules, less the skipped ones."""
    out = json.loads(render("health_requirements.json.j2", {
        "container_host_sysctls": {"net.core.somaxconn": 4096, "vm.max_map_count": 262144,
                                   "/proc/sys/net/ipv4/conf/eth0.10/rp_filter": 2},
        "container_host_kernel_modules": [{"name": "overlay"}, {"name": "dummy", "state": "absent"},
                                          {"name": "ip_vs", "state": "present"}],
        "container_host_sysctl_result": {"skipped_keys": {"vm.max_map_count": "host-wide key in a container (podman)",
                                                          "net.ipv4.conf.eth0/10.rp_filter": "no such interface here"}},
        "container_host_kernel_modules_result": {"skipped_modules": {"ip_vs": "a container shares the host's kernel"}},
    }))
    assert out == {"sysctls": {"net.core.somaxconn": 4096}, "kernel_modules": ["overlay"]}


def _plan(hosts: list[str], batch_size: str, limit: int) -> dict[str, t.Any]:
    return {"hosts": hosts, "batch_size": batch_size, "max_fail_percentage": limit, "check_mode": False}


def _gate(plan: dict[str, t.Any], verdicts: dict[str, str]) -> dict[str, t.Any]:
    hosts = {}
    for name, verdict in verdicts.items():
        failed = [{"name": "cpus_min", "wanted": 4096, "actual": 2, "fix": "use a host with at least 4096 CPUs"}] \
            if verdict == "unfit" else []
        hosts[name] = {"verdict": verdict, "checks": 1, "failed": failed, "container": "podman"}
    return {"plan": plan, "batch": list(verdicts), "hosts": hosts}


def _done(names: list[str], healthy: bool = True) -> dict[str, t.Any]:
    report = {"changed": ["tuning: sysctl net.core.somaxconn = 1024"],
              "skipped": [{"part": "tuning", "item": "hugepages", "reason": "sysfs is read-only (container)"}],
              "warnings": []}
    health = {"ok": healthy, "checked": True, "problems": [] if healthy else ["engine: podman info failed (rc 125): x"]}
    return {"batch": names, "hosts": {name: {"report": report, "health": health} for name in names}}


def summarise(tmp_path: Path, records: dict[str, dict[str, t.Any]]) -> dict[str, t.Any]:
    """Write records into a run directory and render the summary over it."""
    run_dir = tmp_path / "20250101T000000.000000Z"
    run_dir.mkdir()
    for name, record in records.items():
        (run_dir / name).write_text(json.dumps(record), encoding="utf-8")
    return json.loads(render("rollout_summary.json.j2", {"__container_host_summary_dir": str(run_dir)}))


SIX = ["h1", "h2", "h3", "h4", "h5", "h6"]


def test_summary_completed_rollout_with_a_tolerated_failure(tmp_path: Path) -> None:
    """max_fail_percentage 50, batches of 2, h3 unfit: 1 of 2 is not more than 50%, every batch runs."""
    plan = _plan(SIX, "2", 50)
    summary = summarise(tmp_path, {
        "gate-h1.json": _gate(plan, {"h1": "fit", "h2": "fit"}), "done-h1.json": _done(["h1", "h2"]),
        "gate-h3.json": _gate(plan, {"h3": "unfit", "h4": "fit"}), "done-h4.json": _done(["h4"]),
        "gate-h5.json": _gate(plan, {"h5": "fit", "h6": "fit"}), "done-h5.json": _done(["h5", "h6"]),
    })
    assert summary["outcome"] == "completed: every batch ran (3)"
    assert summary["stopped_after_batch"] is None
    assert summary["failed"] == ["h3"] and summary["not_reached"] == [] and summary["stopped"] == []
    assert summary["hosts"]["h3"]["stage"] == "fitness gate"
    assert summary["hosts"]["h3"]["detail"].startswith("cpus_min (wanted 4096, found 2; fix: ")
    assert summary["batches"][1]["failed_percentage"] == 50.0 and not summary["batches"][1]["stopped_rollout"]
    assert summary["changed"] == ["h1", "h2", "h4", "h5", "h6"]
    assert "h1: skipped (tuning) hugepages: sysfs is read-only (container)" in summary["lines"]


def test_summary_stopped_rollout(tmp_path: Path) -> None:
    """max_fail_percentage 0: h3 unfit stops its batch (h4 fit but not configured); h5 and h6 are never reached."""
    plan = _plan(SIX, "2", 0)
    summary = summarise(tmp_path, {
        "gate-h1.json": _gate(plan, {"h1": "fit", "h2": "fit"}), "done-h1.json": _done(["h1", "h2"]),
        "gate-h3.json": _gate(plan, {"h3": "unfit", "h4": "fit"}),
    })
    assert summary["stopped_after_batch"] == 2
    assert summary["outcome"].startswith("stopped after batch 2 of 3: more than max_fail_percentage 0")
    assert summary["failed"] == ["h3"] and summary["stopped"] == ["h4"] and summary["not_reached"] == ["h5", "h6"]
    assert summary["hosts"]["h4"]["detail"] == "fit, but its batch exceeded max_fail_percentage at the gate: not configured"
    assert summary["batches"][1]["stopped_rollout"] and summary["batches"][2]["status"] == "not reached"
    assert "batch 2/3 (h3, h4): 1 of 2 failed (50.0%, limit 0%) - the rollout stopped here" in summary["lines"]


def test_summary_health_failure_and_whole_batch(tmp_path: Path) -> None:
    """A host that fails its health check fails; a batch whose hosts all failed stops the rollout at any limit."""
    plan = _plan(["a", "b", "c"], "50%", 100)
    summary = summarise(tmp_path, {
        "gate-a.json": _gate(plan, {"a": "fit"}), "done-a.json": _done(["a"], healthy=False),
    })
    # 50% of 3 hosts is 1 host per batch, as Ansible computes it.
    assert [batch["hosts"] for batch in summary["batches"]] == [["a"], ["b"], ["c"]]
    assert summary["hosts"]["a"]["status"] == "failed" and summary["hosts"]["a"]["stage"] == "health check"
    assert summary["stopped_after_batch"] == 1
    assert summary["not_reached"] == ["b", "c"]


def test_summary_without_records(tmp_path: Path) -> None:
    """A run that stopped before its first gate says so."""
    summary = summarise(tmp_path, {})
    assert summary["records"] is False and summary["outcome"] == "no records"
