# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for the containerhost.platform.image_trust module, run through main() against files in a directory."""

from __future__ import annotations

import json
import os
import stat
import typing as t

from pathlib import Path

import pytest
import yaml

from ansible_collections.containerhost.platform.plugins.module_utils import _gpg as g
from ansible_collections.containerhost.platform.plugins.modules import image_trust

FIXTURES = Path(__file__).parents[1] / "module_utils" / "fixtures" / "gpg"
KEY_A = (FIXTURES / "ed25519-a.asc").read_text(encoding="ascii")
KEY_B = (FIXTURES / "ed25519-b.asc").read_text(encoding="ascii")
KEY_RSA = (FIXTURES / "rsa-with-subkey.asc").read_text(encoding="ascii")
FPR_A = "09DF67A3599447070BC5C7DD30A64EB4C4CC7C53"
FPR_B = "D461729A2461102CA1119DB265EF54D0BD3DA674"
FPR_RSA = "5F2538F089B463B962AB913CC368CB6333B11B45"
REG = "registry.example:5000"
TEAM_RING = "containerhost-platform-registry.example_5000+team.asc"


class Host:
    """The module's three locations below one temporary directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.policy = root / "etc" / "containers" / "policy.json"
        self.registries_d = root / "etc" / "containers" / "registries.d"
        self.key_dir = root / "etc" / "pki" / "containers"
        self.registries_d_file = self.registries_d / "containerhost-platform.yaml"

    def paths(self) -> dict[str, str]:
        """The path options."""
        return {"policy_path": str(self.policy), "registries_d": str(self.registries_d), "key_dir": str(self.key_dir)}

    def snapshot(self) -> dict[str, tuple[str, int]]:
        """Every file below the root: content and mode."""
        return {str(p.relative_to(self.root)): (p.read_text(), stat.S_IMODE(p.stat().st_mode))
                for p in sorted(self.root.rglob("*")) if p.is_file()}


@pytest.fixture(name="host")
def fixture_host(tmp_path: Path) -> Host:
    root = tmp_path / "host"
    root.mkdir()
    return Host(root)


@pytest.fixture(name="run")
def fixture_run(host: Host, run_main) -> t.Callable[..., dict[str, t.Any]]:
    """Run the module with the host's paths; returns the exit (or, with fail=True, the failure) result."""

    def _run(check: bool = False, diff: bool = False, fail: bool = False, **params: t.Any) -> dict[str, t.Any]:
        return run_main(image_trust.main, {**host.paths(), **params}, check=check, diff=diff, fail=fail)

    return _run


def signed(scope: str = f"{REG}/team", **extra: t.Any) -> dict[str, t.Any]:
    """A signed registries entry with keys A and B."""
    return {"scope": scope, "keys": [KEY_A, KEY_B], **extra}


EVERYTHING: dict[str, t.Any] = {
    "registries": [
        signed(lookaside="https://sigs.example/team", lookaside_staging="file:///var/lib/containers/staging"),
        {"scope": f"{REG}/scratch", "trust": "accept"},
        {"scope": "blocked.example", "trust": "reject"},
    ],
    "local_transports": ["containers-storage"],
}


# ---------------------------------------------------------------------------------------------------------------------
# Check mode, the real run, and again

def test_check_mode_predicts_and_writes_nothing(host: Host, run) -> None:
    result = run(check=True, **EVERYTHING)
    assert result["changed"] is True
    assert result["changed_files"] == sorted([str(host.policy), str(host.registries_d_file),
                                              str(host.key_dir / TEAM_RING)])
    assert result["removed_files"] == []
    assert host.snapshot() == {}
    assert not host.key_dir.exists()


def test_real_run_writes_what_check_mode_predicted(host: Host, run) -> None:
    predicted = run(check=True, **EVERYTHING)
    result = run(**EVERYTHING)
    assert {key: result[key] for key in ("changed", "changed_files", "removed_files", "policy", "keyrings")} == {
        key: predicted[key] for key in ("changed", "changed_files", "removed_files", "policy", "keyrings")}
    files = host.snapshot()
    assert set(files) == {"etc/containers/policy.json", "etc/containers/registries.d/containerhost-platform.yaml",
                          f"etc/pki/containers/{TEAM_RING}"}
    assert all(mode == 0o644 for dummy, mode in files.values())
    assert stat.S_IMODE(host.key_dir.stat().st_mode) == 0o755
    policy = json.loads(host.policy.read_text())
    assert policy == result["policy"]
    assert policy["default"] == [{"type": "reject"}]
    assert policy["transports"]["docker"][f"{REG}/team"] == [
        {"type": "signedBy", "keyType": "GPGKeys", "keyPath": str(host.key_dir / TEAM_RING)}]
    assert policy["transports"]["docker"][f"{REG}/scratch"] == [{"type": "insecureAcceptAnything"}]
    assert policy["transports"]["docker"]["blocked.example"] == [{"type": "reject"}]
    assert policy["transports"]["containers-storage"] == {"": [{"type": "insecureAcceptAnything"}]}
    ring = (host.key_dir / TEAM_RING).read_text()
    assert [key.fingerprint for key in g.load_keys(ring)] == [FPR_A, FPR_B]
    assert result["keyrings"] == [{"scope": f"{REG}/team", "path": str(host.key_dir / TEAM_RING),
                                   "keys": [key.as_dict() for key in g.load_keys(KEY_A + KEY_B)]}]
    text = host.registries_d_file.read_text()
    assert "# containerhost.platform:image_trust" in text.splitlines()
    assert f'  "{REG}/team":\n    lookaside: "https://sigs.example/team"\n' in text
    assert result["registries_d_file"] == str(host.registries_d_file)
    if os.geteuid() == 0:
        assert {(p.stat().st_uid, p.stat().st_gid) for p in host.root.rglob("*") if p.is_file()} == {(0, 0)}


def test_second_run_changes_nothing(host: Host, run) -> None:
    run(**EVERYTHING)
    before = host.snapshot()
    for check in (True, False):
        result = run(check=check, diff=True, **EVERYTHING)
        assert result["changed"] is False
        assert result["changed_files"] == []
        assert result["diff"] == []
    assert host.snapshot() == before


def test_order_of_entries_and_keys_is_data(host: Host, run) -> None:
    """Reordered registries give the same policy data: no change (keys keep their order in the keyring)."""
    run(**EVERYTHING)
    reordered = {**EVERYTHING, "registries": list(reversed(EVERYTHING["registries"]))}
    assert run(**reordered)["changed"] is False


def test_policy_with_same_data_in_another_layout_is_left_alone(host: Host, run) -> None:
    result = run(**EVERYTHING)
    compact = json.dumps(result["policy"], separators=(",", ":"), sort_keys=True)
    host.policy.write_text(compact)
    assert run(**EVERYTHING)["changed"] is False
    assert host.policy.read_text() == compact


def test_wrong_mode_is_fixed(host: Host, run) -> None:
    run(**EVERYTHING)
    host.policy.chmod(0o600)
    (host.key_dir / TEAM_RING).chmod(0o664)
    predicted = run(check=True, **EVERYTHING)
    assert predicted["changed_files"] == sorted([str(host.policy), str(host.key_dir / TEAM_RING)])
    result = run(diff=True, **EVERYTHING)
    assert result["changed_files"] == predicted["changed_files"]
    assert stat.S_IMODE(host.policy.stat().st_mode) == 0o644
    assert stat.S_IMODE((host.key_dir / TEAM_RING).stat().st_mode) == 0o644
    assert all(entry["before_header"].endswith("(owner or mode)") for entry in result["diff"])


def test_default_accept_without_registries(host: Host, run) -> None:
    result = run(default="accept")
    assert result["changed_files"] == [str(host.policy)]
    assert json.loads(host.policy.read_text()) == {"default": [{"type": "insecureAcceptAnything"}]}
    assert result["registries_d_file"] is None
    assert result["keyrings"] == []


# ---------------------------------------------------------------------------------------------------------------------
# Diffs

def test_diff_shows_policy_registries_d_and_keys(host: Host, run) -> None:
    host.policy.parent.mkdir(parents=True)
    host.policy.write_text('{"default":[{"type":"insecureAcceptAnything"}]}')
    result = run(check=True, diff=True, **EVERYTHING)
    diffs = {entry["before_header"]: entry for entry in result["diff"]}
    policy = diffs[str(host.policy)]
    assert json.loads(policy["before"]) == {"default": [{"type": "insecureAcceptAnything"}]}
    assert policy["before"].startswith("{\n    \"default\"")
    assert json.loads(policy["after"]) == result["policy"]
    ring = diffs[str(host.key_dir / TEAM_RING)]
    assert ring["before"] == ""
    assert ring["after"] == (f"{FPR_A} Trust Test A <A@trust.example>\n{FPR_B} Trust Test B <B@trust.example>\n")
    registries_d = diffs[str(host.registries_d_file)]
    assert registries_d["before"] == "" and "lookaside-staging:" in registries_d["after"]


def test_diff_of_a_key_change(host: Host, run) -> None:
    run(registries=[signed()])
    result = run(diff=True, registries=[signed(keys=[KEY_B, KEY_RSA])])
    assert result["changed_files"] == [str(host.key_dir / TEAM_RING)]
    assert result["diff"][0]["before"].splitlines() == [f"{FPR_A} Trust Test A <A@trust.example>",
                                                        f"{FPR_B} Trust Test B <B@trust.example>"]
    assert result["diff"][0]["after"].splitlines() == [f"{FPR_B} Trust Test B <B@trust.example>",
                                                       f"{FPR_RSA} Fixture RSA <rsa@fixture.example>"]


# ---------------------------------------------------------------------------------------------------------------------
# Removal of what the module wrote before, and only that

def test_undeclared_keyrings_and_registries_d_file_are_removed(host: Host, run) -> None:
    run(**EVERYTHING)
    foreign_key = host.key_dir / "vendor.gpg"
    foreign_key.write_text("vendor key")
    foreign_conf = host.registries_d / "vendor.yaml"
    foreign_conf.write_text("docker:\n  other.example:\n    lookaside: file:///x\n")
    smaller = {"registries": [signed(scope=f"{REG}/other")]}
    predicted = run(check=True, **smaller)
    other_ring = str(host.key_dir / "containerhost-platform-registry.example_5000+other.asc")
    expected_removed = sorted([str(host.key_dir / TEAM_RING), str(host.registries_d_file)])
    assert predicted["removed_files"] == expected_removed
    assert predicted["changed_files"] == sorted([*expected_removed, str(host.policy), other_ring])
    result = run(diff=True, **smaller)
    assert result["removed_files"] == expected_removed
    assert not (host.key_dir / TEAM_RING).exists()
    assert not host.registries_d_file.exists()
    assert foreign_key.read_text() == "vendor key"
    assert foreign_conf.exists()
    assert result["registries_d_file"] is None
    removed_ring = next(entry for entry in result["diff"] if entry["before_header"] == str(host.key_dir / TEAM_RING))
    assert removed_ring["after"] == "" and FPR_A in removed_ring["before"]
    assert run(**smaller)["changed"] is False


def test_trust_level_change_removes_the_keyring(host: Host, run) -> None:
    run(registries=[signed()])
    result = run(registries=[{"scope": f"{REG}/team", "trust": "accept"}])
    assert result["removed_files"] == [str(host.key_dir / TEAM_RING)]
    assert json.loads(host.policy.read_text())["transports"]["docker"][f"{REG}/team"] == [
        {"type": "insecureAcceptAnything"}]


# ---------------------------------------------------------------------------------------------------------------------
# Key files on the host

def test_key_files_armoured_and_binary(host: Host, run, tmp_path: Path) -> None:
    armoured = tmp_path / "a.asc"
    armoured.write_text(KEY_A)
    binary = tmp_path / "rsa.gpg"
    binary.write_bytes(g.dearmor(KEY_RSA)[0])
    result = run(registries=[{"scope": f"{REG}/team", "keys": [KEY_B], "key_files": [str(armoured), str(binary)]}])
    assert [key["fingerprint"] for key in result["keyrings"][0]["keys"]] == [FPR_B, FPR_A, FPR_RSA]
    ring = (host.key_dir / TEAM_RING).read_text()
    assert [key.fingerprint for key in g.load_keys(ring)] == [FPR_B, FPR_A, FPR_RSA]
    # The file is read on every run: a changed key file changes the keyring.
    binary.write_bytes(g.dearmor(KEY_A)[0])
    again = run(registries=[{"scope": f"{REG}/team", "keys": [KEY_B], "key_files": [str(armoured), str(binary)]}])
    assert again["changed_files"] == [str(host.key_dir / TEAM_RING)]
    assert [key["fingerprint"] for key in again["keyrings"][0]["keys"]] == [FPR_B, FPR_A]


def test_missing_key_file_fails_before_any_change(host: Host, run) -> None:
    result = run(fail=True, registries=[signed(), {"scope": "r.example/x", "key_files": ["/nonexistent/k.gpg"]}])
    assert result["msg"] == ("registries[1] (r.example/x): key_files[0]: cannot read /nonexistent/k.gpg on the host: "
                             "No such file or directory")
    assert host.snapshot() == {}


def test_key_file_that_is_not_a_key(host: Host, run, tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("just text")
    result = run(fail=True, registries=[{"scope": "r.example/x", "key_files": [str(path)]}])
    assert result["msg"].startswith(f"registries[0] (r.example/x): key_files: {path}: is neither ASCII-armoured")
    assert host.snapshot() == {}


# ---------------------------------------------------------------------------------------------------------------------
# Bad input: a clear error naming the entry and field, and nothing changed

@pytest.mark.parametrize(
    ("params", "message"),
    [
        pytest.param({"registries": [signed(), {"scope": "team/app", "trust": "accept"}]},
                     "registries[1] (team/app): scope: 'team/app': the first component 'team' is not a registry host",
                     id="short-scope"),
        pytest.param({"registries": [{"scope": f"{REG}/team", "trust": "signed"}]},
                     f"registries[0] ({REG}/team): keys: trust: signed needs the public keys", id="signed-no-keys"),
        pytest.param({"registries": [signed(keys=[KEY_A[:200]])]},
                     f"registries[0] ({REG}/team): keys[0]: no '-----BEGIN PGP PUBLIC KEY BLOCK-----' block found",
                     id="cut-key"),
        pytest.param({"registries": [signed(keys=[KEY_A.replace("mDME", "mDMF", 1)])]},
                     f"registries[0] ({REG}/team): keys[0]: the armour checksum does not match", id="changed-key"),
        pytest.param({"registries": [signed(lookaside_staging="https://sigs.example")]},
                     f"registries[0] ({REG}/team): lookaside_staging: 'https://sigs.example' has the scheme 'https'",
                     id="staging-not-file"),
        pytest.param({"registries": [signed(signed_identity={"type": "exactReference"})]},
                     f"registries[0] ({REG}/team): signed_identity.dockerReference: missing", id="identity-shape"),
        pytest.param({"registries": [signed(), signed()]},
                     f"registries[1] ({REG}/team): scope: {REG}/team is already declared by registries[0]",
                     id="duplicate"),
        pytest.param({"registries": [signed(key=KEY_A)]},
                     f"registries[0] ({REG}/team): unsupported option", id="unknown-option"),
        pytest.param({"registries": [{"scope": "r.example", "trust": "trusted"}]},
                     "registries[0] (r.example): value of trust must be one of: signed, accept, reject, got: trusted",
                     id="bad-trust-choice"),
        pytest.param({"registries": ["r.example"]}, "Elements value for option 'registries' is of type str",
                     id="entry-not-dict"),
        pytest.param({"registries": [{"trust": "accept"}]}, "registries[0] (None): missing required arguments: scope",
                     id="no-scope"),
        pytest.param({"local_transports": ["docker"]}, "value of local_transports must be one or more of",
                     id="docker-as-local"),
    ],
)
def test_bad_input_fails_before_any_change(host: Host, run, params: dict[str, t.Any], message: str) -> None:
    result = run(fail=True, **params)
    assert message in result["msg"], result["msg"]
    assert host.snapshot() == {}


def test_bad_input_leaves_an_existing_policy_alone(host: Host, run) -> None:
    run(**EVERYTHING)
    before = host.snapshot()
    run(fail=True, registries=[signed(keys=["-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQ==\n"
                                            "-----END PGP PRIVATE KEY BLOCK-----\n"])])
    assert host.snapshot() == before


def test_scope_configured_by_another_registries_d_file(host: Host, run) -> None:
    host.registries_d.mkdir(parents=True)
    (host.registries_d / "vendor.yaml").write_text(f"docker:\n  {REG}/team:\n    lookaside: file:///srv/sigs\n")
    result = run(fail=True, **EVERYTHING)
    assert result["msg"].startswith(f"registries[0] ({REG}/team): lookaside: {host.registries_d}/vendor.yaml configures "
                                    f"{REG}/team already")
    assert set(host.snapshot()) == {"etc/containers/registries.d/vendor.yaml"}
    # Without look-aside locations of its own, the scope is no conflict: the other file's locations apply.
    assert run(registries=[signed()])["changed"] is True


def test_read_failure_is_reported_with_the_path(host: Host, run) -> None:
    host.policy.mkdir(parents=True)  # a directory where the file should be
    result = run(fail=True, **EVERYTHING)
    assert result["msg"] == f"could not read {host.policy}: Is a directory"


def test_write_failure_is_reported_with_the_path(host: Host, run, monkeypatch: pytest.MonkeyPatch) -> None:
    def read_only(module: t.Any, path: str, content: str, mode: int = 0o644) -> None:
        raise OSError(30, "Read-only file system", path)

    monkeypatch.setattr(image_trust, "atomic_write", read_only)
    result = run(fail=True, **EVERYTHING)
    assert result["msg"] == f"could not change {host.key_dir / TEAM_RING}: Read-only file system"
    assert result["changed_files"]


# ---------------------------------------------------------------------------------------------------------------------
# The documentation and the argument specs in step (the entries are checked by ENTRY_OPTIONS, which sanity cannot see)

def _doc_matches_spec(documented: dict[str, t.Any], spec: dict[str, dict[str, t.Any]]) -> None:
    """Same option names, types, element types, defaults, choices and required flags."""
    assert set(documented) == set(spec)
    for name, option in spec.items():
        doc = documented[name]
        assert doc["type"] == option["type"], name
        assert doc.get("elements") == option.get("elements"), name
        assert doc.get("default") == option.get("default"), name
        assert doc.get("choices") == option.get("choices"), name
        assert bool(doc.get("required")) == bool(option.get("required")), name
        assert doc.get("description"), name


def test_documentation_matches_the_argument_specs() -> None:
    options = yaml.safe_load(image_trust.DOCUMENTATION)["options"]
    _doc_matches_spec({name: {k: v for k, v in doc.items() if k != "suboptions"} for name, doc in options.items()},
                      image_trust.ARGUMENT_SPEC)
    _doc_matches_spec(options["registries"]["suboptions"], image_trust.ENTRY_OPTIONS)


def test_examples_are_accepted(host: Host, run, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every example validates (its key lookups replaced by a fixture key, its key files by fixture files)."""
    examples = yaml.safe_load(image_trust.EXAMPLES)
    assert len(examples) == 3
    for example in examples:
        params = json.loads(json.dumps(example["containerhost.platform.image_trust"]))
        for entry in params.get("registries", []):
            entry["keys"] = [KEY_A for dummy in entry.get("keys", [])]
            entry["key_files"] = [str(FIXTURES / "ed25519-b.asc") for dummy in entry.get("key_files", [])]
        result = run(check=True, **params)
        assert result["changed"] is True
