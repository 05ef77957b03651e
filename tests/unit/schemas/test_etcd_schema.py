# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""schemas/etcd.json: good and bad documents, and what is particular to the role (what every role keeps to is
checked by test_role_conventions.py)."""

from __future__ import annotations

import typing as t

import pytest

from _roles import COLLECTION_ROOT, issue_paths, load_yaml, role_document, written_templates

SCHEMA_PATH = COLLECTION_ROOT / "schemas" / "etcd.json"
ROLE = COLLECTION_ROOT / "roles" / "etcd"


def document(**overrides: t.Any) -> dict[str, t.Any]:
    """The templated role defaults (_roles.TEMPLATED_DEFAULTS) with some variables replaced."""
    return role_document(ROLE, **overrides)


@pytest.mark.parametrize(("overrides", "path"), [
    ({"etcd_client_port": 0}, "etcd_client_port"),
    ({"etcd_peer_port": 70000}, "etcd_peer_port"),
    ({"etcd_data_dir": "var/lib/etcd"}, "etcd_data_dir"),
    ({"etcd_name": "client"}, "etcd_name"),
    ({"etcd_name": "bad name"}, "etcd_name"),
    ({"etcd_address": "https://10.0.0.1:2379"}, "etcd_address"),
    ({"etcd_quota_backend_bytes": 1024}, "etcd_quota_backend_bytes"),
    ({"etcd_snapshot_count": 0}, "etcd_snapshot_count"),
    ({"etcd_heartbeat_interval": 5}, "etcd_heartbeat_interval"),
    ({"etcd_election_timeout": 60000}, "etcd_election_timeout"),
    ({"etcd_pki_source": "vault"}, "etcd_pki_source"),
    ({"etcd_pki_files": {"ca": "/x"}}, "etcd_pki_files"),
    ({"etcd_packages": []}, "etcd_packages"),
    ({"etcd_cluster_token": "has space"}, "etcd_cluster_token"),
    ({"etcd_group": "etcd-nodes"}, "etcd_group"),
    ({"etcd_health_timeout": 1}, "etcd_health_timeout"),
])
def test_bad_values_are_refused_by_path(schema: dict[str, t.Any], overrides: dict[str, t.Any], path: str) -> None:
    """Each bad value is reported under its variable."""
    paths = issue_paths(schema, document(**overrides))
    assert paths and all(p.startswith(path) for p in paths), paths


def test_user_files_need_all_five(schema: dict[str, t.Any]) -> None:
    """With etcd_pki_source files every file must be named; with all five the document passes."""
    files = {"ca_cert": "/p/ca.crt", "cert": "/p/h1.crt", "key": "/p/h1.key", "client_cert": "/p/c.crt",
             "client_key": "/p/c.key"}
    assert issue_paths(schema, document(etcd_pki_source="files", etcd_pki_files=files)) == []
    partial = {k: v for k, v in files.items() if k != "key"}
    assert issue_paths(schema, document(etcd_pki_source="files", etcd_pki_files=partial))
    assert issue_paths(schema, document(etcd_pki_source="files"))


def test_unknown_variable_is_refused(schema: dict[str, t.Any]) -> None:
    """A misspelt variable is reported instead of being ignored."""
    assert issue_paths(schema, document(etcd_snapshot_cnt=5))


# The conventions every role keeps (handlers/main.yml included) are checked by test_role_conventions.py.

def test_the_configuration_is_the_template_written_to_hosts() -> None:
    """etcd.default.j2 is written to hosts (so it carries ansible_managed and the fingerprint) and has handlers."""
    assert written_templates(ROLE) == {"etcd.default.j2"}
    template = (ROLE / "templates" / "etcd.default.j2").read_text(encoding="utf-8").splitlines()
    assert template[:2] == ["{{ ansible_managed | comment }}", "# containerhost.platform:etcd"]
    assert load_yaml(ROLE / "handlers" / "main.yml")


def test_apt_does_not_update_the_cache() -> None:
    """Packages are installed without an apt cache update (a no-op when present)."""
    apt = [task["ansible.builtin.apt"] for task in load_yaml(ROLE / "tasks" / "main.yml")
           if "ansible.builtin.apt" in task]
    assert apt == [{"name": "{{ __etcd_install_packages }}", "state": "present", "update_cache": False,
                    "install_recommends": False}]
