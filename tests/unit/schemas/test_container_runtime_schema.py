# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""schemas/container_runtime.json: good and bad documents, the schema and the module in step, and what is particular
to the role's tasks and templates (what every role keeps to is checked by test_role_conventions.py)."""

from __future__ import annotations

import json
import typing as t

import pytest

from ansible_collections.containerhost.platform.plugins.module_utils import _signature_policy as sp
from ansible_collections.containerhost.platform.plugins.modules import image_trust

from _roles import COLLECTION_ROOT, issues, load_yaml, role_document, role_tasks, schema_fields

SCHEMA_PATH = COLLECTION_ROOT / "schemas" / "container_runtime.json"
ROLE = COLLECTION_ROOT / "roles" / "container_runtime"
FINGERPRINT = "containerhost.platform:container_runtime"
KEY_A = (COLLECTION_ROOT / "tests" / "unit" / "plugins" / "module_utils" / "fixtures" / "gpg" / "ed25519-a.asc").read_text()
CERT = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ2==\n-----END CERTIFICATE-----\n"
REG = "registry.example:5000"


def document(**overrides: t.Any) -> dict[str, t.Any]:
    """The role defaults with some variables replaced."""
    return role_document(ROLE, **overrides)


# ---------------------------------------------------------------------------------------------------------------------
# The schema and the module in step (the schema, argument specs and defaults: test_role_conventions.py)

def test_trust_entries_are_the_modules_registries(schema: dict[str, t.Any]) -> None:
    """The trust entries the schema allows are exactly image_trust's registries options, with the same choices."""
    entry = schema["$defs"]["trust_entry"]["properties"]
    assert set(entry) == set(image_trust.ENTRY_OPTIONS)
    assert entry["trust"]["enum"] == image_trust.ENTRY_OPTIONS["trust"]["choices"] == list(sp.TRUST_LEVELS)
    local = schema["properties"]["container_runtime_trust_local_transports"]["items"]["enum"]
    assert local == list(sp.LOCAL_TRANSPORTS)
    assert schema["properties"]["container_runtime_trust_default"]["enum"] == list(sp.DEFAULTS)
    identity = schema["$defs"]["signed_identity"]["properties"]["type"]["enum"]
    assert identity == list(sp.IDENTITY_TYPES)


# ---------------------------------------------------------------------------------------------------------------------
# The role's tasks and templates (the conventions every role keeps: test_role_conventions.py)

def tasks() -> list[dict[str, t.Any]]:
    """The role's tasks/main.yml, imports inlined."""
    return role_tasks(ROLE)


def module_of(task: dict[str, t.Any]) -> str:
    """The FQCN of the module a task calls."""
    return next(key for key in task if key.startswith(("containerhost.platform.", "ansible.")))


def test_nothing_is_written_before_every_check() -> None:
    """Validation, duplicate checks, the store check and the trust check in check mode come before any change."""
    names = [module_of(task) for task in tasks()]
    first_write = names.index("ansible.builtin.template")
    checks = names[:first_write]
    assert checks.count("ansible.builtin.assert") == 2
    trust_check = tasks()[names.index("containerhost.platform.image_trust")]
    assert trust_check["check_mode"] is True
    assert names.index("containerhost.platform.image_trust") < first_write
    # Packages are installed only once every check has passed.
    assert names.index("containerhost.platform.image_trust") < names.index("ansible.builtin.apt") < first_write
    trust_write = tasks()[len(names) - 1 - names[::-1].index("containerhost.platform.image_trust")]
    assert "check_mode" not in trust_write
    assert trust_check["containerhost.platform.image_trust"] == trust_write["containerhost.platform.image_trust"]


@pytest.mark.parametrize("template", sorted(p.name for p in (ROLE / "templates").iterdir()))
def test_templates_carry_ansible_managed_and_the_fingerprint_variable(template: str) -> None:
    """Every template is written to hosts and names the fingerprint through __container_runtime_fingerprint."""
    lines = (ROLE / "templates" / template).read_text(encoding="utf-8").splitlines()
    assert lines[0] == "{{ ansible_managed | comment }}"
    assert lines[1] == "# {{ __container_runtime_fingerprint }}"
    assert load_yaml(ROLE / "vars" / "main.yml")["__container_runtime_fingerprint"] == FINGERPRINT


# ---------------------------------------------------------------------------------------------------------------------
# The schema's own shape, beyond what every role's keeps (test_role_conventions.py: closed objects, valid examples)

def test_every_field_has_title_and_description(schema: dict[str, t.Any]) -> None:
    """Not only the variables: every property, list item and $defs entry below them documents itself."""
    fields = list(schema_fields(schema))
    assert len(fields) > 50
    assert [path for path, field in fields if not (field.get("title") and field.get("description"))] == []


def test_schema_file_is_stable_json() -> None:
    """Plain JSON, two-space indented, so diffs stay readable."""
    text = SCHEMA_PATH.read_text(encoding="utf-8")
    assert text == json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n"


def test_schema_shows_examples(schema: dict[str, t.Any]) -> None:
    """The variables come with examples (each checked to be valid by test_role_conventions.py)."""
    assert sum(len(prop.get("examples", [])) for prop in schema["properties"].values()) >= 10


# ---------------------------------------------------------------------------------------------------------------------
# Good documents

def test_everything_at_once(schema: dict[str, t.Any]) -> None:
    instance = document(
        container_runtime_packages=["podman", "fuse-overlayfs", "libgpgme11"],
        container_runtime_update_cache=True,
        container_runtime_unqualified_search_registries=[REG, "localhost"],
        container_runtime_registries=[
            {"location": REG, "insecure": False, "blocked": False,
             "mirrors": [{"location": "mirror.example:5000/cache", "insecure": True, "pull_from_mirror": "digest-only"}]},
            {"prefix": "vendor.example/app", "location": f"{REG}/vendor/app"},
            {"location": "untrusted.example", "blocked": True},
            {"location": "plain.example:8080", "insecure": True},
        ],
        container_runtime_registry_ca_certs=[{"registry": REG, "certificate": CERT + CERT}],
        container_runtime_storage_driver="vfs",
        container_runtime_storage_graphroot="/srv/containers/storage",
        container_runtime_storage_runroot="/run/containers/storage",
        container_runtime_storage_additional_image_stores=["/srv/images", "/mnt/shared/images"],
        container_runtime_storage_overlay_mountopt="nodev,metacopy=on",
        container_runtime_trust_manage=False,
        container_runtime_trust_default="accept",
        container_runtime_trust_registries=[
            {"scope": f"{REG}/team", "keys": [KEY_A], "key_files": ["/etc/pki/vendor.gpg"],
             "lookaside": "https://sigs.example/lookaside", "lookaside_staging": "file:///var/lib/containers/staging"},
            {"scope": f"{REG}/signed-by-file", "trust": "signed", "key_files": ["/etc/pki/vendor.gpg"]},
            {"scope": f"{REG}/scratch", "trust": "accept", "lookaside": "file:///srv/sigs"},
            {"scope": "untrusted.example", "trust": "reject"},
            {"scope": "mirror.example:5000/vendor", "keys": [KEY_A],
             "signed_identity": {"type": "remapIdentity", "prefix": "mirror.example:5000/vendor",
                                 "signedPrefix": "registry.vendor.example"}},
            {"scope": "mirror.example:5000/app", "keys": [KEY_A],
             "signed_identity": {"type": "exactReference", "dockerReference": "registry.vendor.example/app:1.0"}},
            {"scope": "mirror.example:5000/app2", "keys": [KEY_A],
             "signed_identity": {"type": "exactRepository", "dockerRepository": "registry.vendor.example/app"}},
            {"scope": "mirror.example:5000/app3", "keys": [KEY_A], "signed_identity": {"type": "matchRepository"}},
        ],
        container_runtime_trust_local_transports=[],
        container_runtime_trust_key_dir="/etc/pki/containers",
    )
    assert issues(schema, instance) == []


def test_good_trust_entries_pass_the_module_too(schema: dict[str, t.Any]) -> None:
    """Trust entries the schema lets through are entries image_trust accepts (no surprise on the host)."""
    entries = [
        {"scope": f"{REG}/team", "keys": [KEY_A], "lookaside": "https://sigs.example/x",
         "lookaside_staging": "file:///var/lib/containers/staging"},
        {"scope": "localhost:5000", "trust": "accept"},
        {"scope": "mirror.example:5000/vendor", "keys": [KEY_A],
         "signed_identity": {"type": "remapIdentity", "prefix": "mirror.example:5000/vendor",
                             "signedPrefix": "registry.vendor.example"}},
    ]
    assert issues(schema, document(container_runtime_trust_registries=entries)) == []
    sp.normalise_registries(entries)


# ---------------------------------------------------------------------------------------------------------------------
# Bad documents: each refused at the entry and field it is about

@pytest.mark.parametrize(
    ("overrides", "path", "message"),
    [
        pytest.param({"container_runtime_packages": ["Podman"]}, "container_runtime_packages[0]", "does not match",
                     id="package-upper-case"),
        pytest.param({"container_runtime_packages": "podman"}, "container_runtime_packages", "is not of type 'array'",
                     id="packages-string"),
        pytest.param({"container_runtime_update_cache": "yes"}, "container_runtime_update_cache", "is not of type 'boolean'",
                     id="update-cache-string"),
        pytest.param({"container_runtime_unqualified_search_registries": ["https://registry.example"]},
                     "container_runtime_unqualified_search_registries[0]", "does not match", id="search-url"),
        pytest.param({"container_runtime_unqualified_search_registries": ["team"]},
                     "container_runtime_unqualified_search_registries[0]", "does not match", id="search-not-a-host"),
        pytest.param({"container_runtime_unqualified_search_registries": [REG, REG]},
                     "container_runtime_unqualified_search_registries", "has non-unique elements", id="search-twice"),
        pytest.param({"container_runtime_registries": [{"location": f"{REG}/app:1"}]},
                     "container_runtime_registries[0].location", "does not match", id="location-tag"),
        pytest.param({"container_runtime_registries": [{"prefix": REG}]},
                     "container_runtime_registries[0].location", "is required but not defined", id="no-location"),
        pytest.param({"container_runtime_registries": [{"location": REG, "blocked": "true"}]},
                     "container_runtime_registries[0].blocked", "is not of type 'boolean'", id="blocked-string"),
        pytest.param({"container_runtime_registries": [{"location": REG, "mirror": []}]},
                     "container_runtime_registries[0].mirror", "is not an allowed name", id="mirror-typo"),
        pytest.param(
            {"container_runtime_registries": [{"location": REG, "mirrors": [{"location": "m.example", "pull_from_mirror": "digest"}]}]},
            "container_runtime_registries[0].mirrors[0].pull_from_mirror", "is not one of", id="pull-from-mirror"),
        pytest.param({"container_runtime_registries": [{"location": REG, "blocked": True,
                                                        "mirrors": [{"location": "m.example"}]}]},
                     "container_runtime_registries[0]", "is refused: it is a blocked entry with mirrors", id="blocked-mirrors"),
        pytest.param({"container_runtime_registry_ca_certs": [{"registry": f"{REG}/team", "certificate": CERT}]},
                     "container_runtime_registry_ca_certs[0].registry", "does not match", id="ca-registry-with-path"),
        pytest.param({"container_runtime_registry_ca_certs": [{"registry": REG, "certificate": "MIIB..."}]},
                     "container_runtime_registry_ca_certs[0].certificate", "does not match", id="ca-not-pem"),
        pytest.param({"container_runtime_registry_ca_certs": [{"registry": REG}]},
                     "container_runtime_registry_ca_certs[0].certificate", "is required but not defined", id="ca-no-cert"),
        pytest.param({"container_runtime_storage_driver": "btrfs"}, "container_runtime_storage_driver",
                     "'btrfs' is not one of ['overlay', 'vfs']", id="driver"),
        pytest.param({"container_runtime_storage_graphroot": "var/lib/containers"}, "container_runtime_storage_graphroot",
                     "does not match '^/'", id="graphroot-relative"),
        pytest.param({"container_runtime_storage_runroot": "/run/../tmp"}, "container_runtime_storage_runroot",
                     "is refused: it is a path with a .. component", id="runroot-dotdot"),
        pytest.param({"container_runtime_storage_additional_image_stores": ["/srv/a", "/srv/a"]},
                     "container_runtime_storage_additional_image_stores", "has non-unique elements", id="stores-twice"),
        pytest.param({"container_runtime_storage_overlay_mountopt": "nodev, metacopy=on"},
                     "container_runtime_storage_overlay_mountopt", "does not match", id="mountopt-space"),
        pytest.param({"container_runtime_trust_default": "insecureAcceptAnything"}, "container_runtime_trust_default",
                     "is not one of ['reject', 'accept']", id="trust-default"),
        pytest.param({"container_runtime_trust_local_transports": ["docker"]},
                     "container_runtime_trust_local_transports[0]", "'docker' is not one of", id="local-docker"),
        pytest.param({"container_runtime_trust_key_dir": "keys"}, "container_runtime_trust_key_dir", "does not match '^/'",
                     id="key-dir-relative"),
        pytest.param({"container_runtime_trust_registries": [{"scope": f"{REG}/team"}]},
                     "container_runtime_trust_registries[0]", "is refused: it is a signed entry without keys or key_files",
                     id="signed-no-keys"),
        pytest.param({"container_runtime_trust_registries": [{"scope": f"{REG}/team", "keys": [], "key_files": []}]},
                     "container_runtime_trust_registries[0]", "is refused: it is a signed entry without keys or key_files",
                     id="signed-empty-keys"),
        pytest.param({"container_runtime_trust_registries": [{"scope": f"{REG}/team", "trust": "accept", "keys": [KEY_A]}]},
                     "container_runtime_trust_registries[0]", "is refused: it is an accept or reject entry with keys",
                     id="accept-with-keys"),
        pytest.param({"container_runtime_trust_registries": [{"scope": f"{REG}/team", "trust": "reject",
                                                              "signed_identity": {"type": "matchExact"}}]},
                     "container_runtime_trust_registries[0]", "is refused: it is an accept or reject entry with keys",
                     id="reject-with-identity"),
        pytest.param({"container_runtime_trust_registries": [{"scope": f"{REG}/team:1", "trust": "accept"}]},
                     "container_runtime_trust_registries[0].scope", "does not match", id="scope-tag"),
        pytest.param({"container_runtime_trust_registries": [{"scope": "team/app", "trust": "accept"}]},
                     "container_runtime_trust_registries[0].scope", "does not match", id="scope-short"),
        pytest.param({"container_runtime_trust_registries": [{"scope": f"{REG}/team", "trust": "trusted"}]},
                     "container_runtime_trust_registries[0].trust", "is not one of ['signed', 'accept', 'reject']",
                     id="trust-level"),
        pytest.param({"container_runtime_trust_registries": [{"scope": f"{REG}/team", "keys": ["ssh-ed25519 AAAA"]}]},
                     "container_runtime_trust_registries[0].keys[0]", "does not match", id="key-not-armour"),
        pytest.param({"container_runtime_trust_registries": [{"scope": f"{REG}/team", "key_files": ["k.gpg"]}]},
                     "container_runtime_trust_registries[0].key_files[0]", "does not match '^/'", id="key-file-relative"),
        pytest.param({"container_runtime_trust_registries": [{"scope": f"{REG}/team", "trust": "accept",
                                                              "lookaside": "ftp://sigs.example/"}]},
                     "container_runtime_trust_registries[0].lookaside", "does not match", id="lookaside-ftp"),
        pytest.param({"container_runtime_trust_registries": [{"scope": f"{REG}/team", "trust": "accept",
                                                              "lookaside_staging": "https://sigs.example/"}]},
                     "container_runtime_trust_registries[0].lookaside_staging", "does not match", id="staging-https"),
        pytest.param({"container_runtime_trust_registries": [{"scope": f"{REG}/team", "trust": "accept", "key": KEY_A}]},
                     "container_runtime_trust_registries[0].key", "is not an allowed name", id="key-typo"),
        pytest.param({"container_runtime_trust_registries": [{"scope": f"{REG}/t", "keys": [KEY_A],
                                                              "signed_identity": {"type": "matchAll"}}]},
                     "container_runtime_trust_registries[0].signed_identity.type", "'matchAll' is not one of",
                     id="identity-type"),
        pytest.param({"container_runtime_trust_registries": [{"scope": f"{REG}/t", "keys": [KEY_A],
                                                              "signed_identity": {"type": "exactReference"}}]},
                     "container_runtime_trust_registries[0].signed_identity.dockerReference",
                     "is required but not defined", id="identity-missing-field"),
        pytest.param({"container_runtime_trust_registries": [{"scope": f"{REG}/t", "keys": [KEY_A],
                                                              "signed_identity": {"type": "exactReference",
                                                                                  "dockerReference": f"{REG}/app"}}]},
                     "container_runtime_trust_registries[0].signed_identity.dockerReference", "does not match",
                     id="identity-reference-no-tag"),
        pytest.param({"container_runtime_trust_registries": [{"scope": f"{REG}/t", "keys": [KEY_A],
                                                              "signed_identity": {"type": "matchExact", "prefix": REG}}]},
                     "container_runtime_trust_registries[0].signed_identity",
                     "is refused: it is a matchExact identity with dockerReference or dockerRepository or prefix or "
                     "signedPrefix", id="identity-foreign-field"),
        pytest.param({"container_runtime_trust_registries": [{"scope": f"{REG}/t", "keys": [KEY_A],
                                                              "signed_identity": {"type": "remapIdentity", "prefix": REG,
                                                                                  "signedPrefix": REG,
                                                                                  "dockerRepository": f"{REG}/x"}}]},
                     "container_runtime_trust_registries[0].signed_identity",
                     "is refused: it is a remapIdentity identity with dockerReference or dockerRepository",
                     id="remap-foreign-field"),
    ],
)
def test_bad_documents(schema: dict[str, t.Any], overrides: dict[str, t.Any], path: str, message: str) -> None:
    """One bad field gives exactly one issue, at that entry and field."""
    found = issues(schema, document(**overrides))
    assert len(found) == 1, found
    assert found[0][0] == path
    assert message in found[0][1], found[0][1]


def test_missing_and_unknown_variables(schema: dict[str, t.Any]) -> None:
    instance = document(container_runtime_registry=[])
    del instance["container_runtime_trust_default"]
    assert issues(schema, instance) == [
        ("container_runtime_registry", "is not an allowed name"),
        ("container_runtime_trust_default", "is required but not defined"),
    ]


def test_every_bad_entry_reported_at_once(schema: dict[str, t.Any]) -> None:
    found = issues(schema, document(container_runtime_trust_registries=[
        {"scope": "ok.example", "trust": "accept"}, {"scope": "bad", "trust": "accept"},
        {"scope": "x.example", "trust": "maybe"}]))
    assert [p for p, _m in found] == ["container_runtime_trust_registries[1].scope",
                                      "container_runtime_trust_registries[2].trust"]


# ---------------------------------------------------------------------------------------------------------------------
# The schema and the module agree on scopes

@pytest.mark.parametrize("scope", [
    "team", "team/app", f"{REG}/team:1", f"{REG}/app@sha256:{'a' * 64}", "https://registry.example", f"{REG}/Team",
    f"{REG}/team/", "-x.example", "x_y.example", "registry.example/a b", "*.example.com", "registry.example/a__-b",
])
def test_schema_and_module_refuse_the_same_scopes(schema: dict[str, t.Any], scope: str) -> None:
    assert issues(schema, document(container_runtime_trust_registries=[{"scope": scope, "trust": "accept"}]))
    with pytest.raises(sp.ScopeError):
        sp.validate_docker_scope(scope)


@pytest.mark.parametrize("scope", [
    "registry.example", REG, f"{REG}/team", f"{REG}/a/b/c", "localhost", "localhost:5000/x", "127.0.0.1:5000/x",
    "registry.example/a.b_c__d-e--f", "Registry.Example:443/x",
])
def test_schema_and_module_accept_the_same_scopes(schema: dict[str, t.Any], scope: str) -> None:
    assert issues(schema, document(container_runtime_trust_registries=[{"scope": scope, "trust": "accept"}])) == []
    assert sp.validate_docker_scope(scope) == scope
