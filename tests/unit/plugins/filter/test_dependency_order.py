"""dependency_order: dependencies first, input order otherwise, cycles and bad input refused."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.containerhost.platform.plugins.filter.dependency_order import dependency_order


def names(containers: list[dict]) -> list[str]:
    return [c["name"] for c in containers]


def test_engine_after_flannel_after_etcd() -> None:
    containers = [
        {"name": "engine", "after": ["flanneld.service"], "requires": ["flanneld.service"]},
        {"name": "flanneld", "after": ["etcd.service", "network-online.target"]},
        {"name": "etcd"},
    ]
    assert names(dependency_order(containers)) == ["etcd", "flanneld", "engine"]


def test_independent_containers_keep_their_order() -> None:
    containers = [{"name": "b"}, {"name": "a"}, {"name": "c", "wants": ["a"]}]
    assert names(dependency_order(containers)) == ["b", "a", "c"]


def test_units_outside_the_list_are_ignored() -> None:
    containers = [{"name": "app", "after": ["etcd.service", "docker.socket"], "requires": None}]
    assert dependency_order(containers) == containers


def test_the_definitions_are_returned_unchanged() -> None:
    containers = [{"name": "x", "after": ["y"], "image": "r/x:1"}, {"name": "y", "image": "r/y:1"}]
    assert dependency_order(containers) == [containers[1], containers[0]]


def test_a_cycle_is_refused_naming_it() -> None:
    containers = [{"name": "a", "after": ["b.service"]}, {"name": "b", "requires": ["a"]}, {"name": "c"}]
    with pytest.raises(AnsibleFilterError, match=r"cycle: a \(after b\), b \(after a\)"):
        dependency_order(containers)


@pytest.mark.parametrize("bad", [[{"image": "x"}], "etcd", [{"name": "a"}, {"name": "a"}]])
def test_bad_input_is_refused(bad) -> None:
    with pytest.raises(AnsibleFilterError, match="dependency_order"):
        dependency_order(bad)
