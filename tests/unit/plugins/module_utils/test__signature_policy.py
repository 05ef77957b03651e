# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for the signature policy model: scopes, policy documents, the desired policy, registries.d."""

from __future__ import annotations

import copy
import json
import typing as t

from pathlib import Path

import pytest

from ansible_collections.containerhost.platform.plugins.module_utils import _gpg as g
from ansible_collections.containerhost.platform.plugins.module_utils import _signature_policy as sp
from ansible_collections.containerhost.platform.plugins.module_utils._unit_files import managed_header

FIXTURES = Path(__file__).parent / "fixtures" / "gpg"
KEY_A = (FIXTURES / "ed25519-a.asc").read_text(encoding="ascii")
KEY_B = (FIXTURES / "ed25519-b.asc").read_text(encoding="ascii")
FPR_A = "09DF67A3599447070BC5C7DD30A64EB4C4CC7C53"
FPR_B = "D461729A2461102CA1119DB265EF54D0BD3DA674"
KEY_DIR = "/etc/pki/containers"
REG = "registry.example:5000"


# ---------------------------------------------------------------------------------------------------------------------
# docker scopes

@pytest.mark.parametrize("scope", [
    "registry.example", REG, f"{REG}/team", f"{REG}/team/app", f"{REG}/a/b/c/d", "localhost", "localhost:5000/x",
    "127.0.0.1:5000/signed", "registry.example/a.b_c__d-e--f", "Registry.Example:443/x", "r.example/0app",
])
def test_good_scopes(scope: str) -> None:
    assert sp.validate_docker_scope(scope) == scope


@pytest.mark.parametrize(
    ("scope", "message"),
    [
        ("", "is not a scope"),
        (None, "is not a scope"),
        (5000, "is not a scope"),
        ("https://registry.example", "has a URL scheme; a scope is a registry name without one, such as registry.example"),
        (f"{REG}/team/app:1.0", "names a tag; a scope here is a registry, namespace or repository without a tag"),
        (f"{REG}/app@sha256:{'a' * 64}", "names a digest"),
        ("team/app", "the first component 'team' is not a registry host"),
        ("busybox", "the first component 'busybox' is not a registry host"),
        (f"{REG}/Team", "path component 'Team' is not valid"),
        (f"{REG}/team/", "empty path component"),
        (f"{REG}//team", "empty path component"),
        ("registry.example:99999/x", "port 99999 is not between 1 and 65535"),
        ("registry.example:0", "port 0 is not between 1 and 65535"),
        ("-bad.example/x", "'-bad.example' is not a registry host[:port]"),
        ("bad_host.example/x", "is not a registry host[:port]"),
        ("*.example.com", "'*.example.com' is not a registry host[:port]"),
        ("registry.example/te am", "contains white space"),
        ("registry.example/" + "a" * 260, "characters long; at most 255"),
        ("registry.example/a__-b", "path component 'a__-b' is not valid"),
    ],
)
def test_bad_scopes(scope: t.Any, message: str) -> None:
    with pytest.raises(sp.ScopeError) as info:
        sp.validate_docker_scope(scope)
    assert message in str(info.value)


@pytest.mark.parametrize("scope", [f"{REG}/team/app:1.0", f"{REG}/app@sha256:{'a' * 64}", f"{REG}/app:v1@sha256:{'b' * 64}"])
def test_exact_scopes_when_allowed(scope: str) -> None:
    assert sp.validate_docker_scope(scope, allow_exact=True) == scope


def test_wildcard_only_when_allowed_and_only_for_hosts() -> None:
    assert sp.validate_docker_scope("*.example.com", allow_wildcard=True) == "*.example.com"
    with pytest.raises(sp.ScopeError):
        sp.validate_docker_scope("*.example.com/team", allow_wildcard=True)
    with pytest.raises(sp.ScopeError):
        sp.validate_docker_scope("example.*.com", allow_wildcard=True)


@pytest.mark.parametrize(
    ("reference", "need", "message"),
    [
        (f"{REG}/app", True, "has neither a tag nor a digest"),
        (REG, False, "names a registry only"),
        (f"{REG}/app:1", False, "names a tag"),
    ],
)
def test_bad_references(reference: str, need: bool, message: str) -> None:
    with pytest.raises(sp.ScopeError, match=message):
        sp.validate_docker_reference(reference, need_tag_or_digest=need)


# ---------------------------------------------------------------------------------------------------------------------
# Validating policy documents: valid ones from containers-policy.json(5), each kind of mistake by path

SIGNED = {"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/etc/pki/containers/team.gpg"}
MAN_PAGE_EXAMPLE: dict[str, t.Any] = {
    "default": [{"type": "reject"}],
    "transports": {
        "docker": {
            "registry.example/openshift": [{"type": "insecureAcceptAnything"}],
            "registry.example/library/busybox": [{"type": "insecureAcceptAnything"}],
            "*.temporary-project.example.com": [{"type": "insecureAcceptAnything"}],
            "hostname:5000/myns/sigstore-signed-with-full-references": [
                {"type": "sigstoreSigned", "keyPath": "/path/to/sigstore-pubkey.pub"}],
            "hostname:5000/myns/sigstore-signed-allows-malicious-tag-substitution": [
                {"type": "sigstoreSigned", "keyPath": "/path/to/sigstore-pubkey.pub",
                 "signedIdentity": {"type": "matchRepository"}}],
        },
        "dir": {"": [{"type": "insecureAcceptAnything"}]},
        "atomic": {
            "hostname:5000/myns/official": [{"type": "signedBy", "keyType": "GPGKeys",
                                             "keyPath": "/path/to/official-pubkey.gpg"}],
            "hostname:5000/vendor/product": [
                {"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/path/to/vendor-pubkey.gpg",
                 "signedIdentity": {"type": "exactRepository", "dockerRepository": "vendor-hostname.example/product/repository"}},
                {"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/path/to/reviewer-pubkey.gpg"},
            ],
            "private-mirror:5000/vendor-mirror": [
                {"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/path/to/vendor-pubkey.gpg",
                 "signedIdentity": {"type": "remapIdentity", "prefix": "private-mirror:5000/vendor-mirror",
                                    "signedPrefix": "vendor.example.com"}},
            ],
        },
    },
}


@pytest.mark.parametrize(
    "document",
    [
        pytest.param(MAN_PAGE_EXAMPLE, id="man-page-locked-down"),
        pytest.param({"default": [{"type": "insecureAcceptAnything"}]}, id="accept-everything"),
        pytest.param({"default": [{"type": "reject"}], "transports": {}}, id="empty-transports"),
        pytest.param({"default": [{"type": "reject"}], "transports": {"docker": {}}}, id="empty-transport"),
        pytest.param({"default": [{"type": "reject"}], "transports": {"docker": {
            f"{REG}/app:v1": [{**SIGNED, "signedIdentity": {"type": "matchExact"}}],
            f"{REG}/app@sha256:{'c' * 64}": [{**SIGNED, "signedIdentity": {"type": "matchRepoDigestOrExact"}}],
            f"{REG}/mirror": [{**SIGNED, "signedIdentity": {"type": "exactReference",
                                                            "dockerReference": "vendor.example/app:1"}}],
            f"{REG}/multi": [{"type": "signedBy", "keyType": "GPGKeys", "keyPaths": ["/a.gpg", "/b.gpg"]}],
            f"{REG}/data": [{"type": "signedBy", "keyType": "GPGKeys", "keyData": "bURNRQ=="}],
            "": [{"type": "reject"}]}}}, id="every-signedby-form"),
        pytest.param({"default": [{"type": "reject"}], "transports": {
            "containers-storage": {"": [{"type": "insecureAcceptAnything"}],
                                   "[overlay@/var/lib/containers/storage]": [{"type": "reject"}]},
            "oci": {"/srv/layouts/app:1.0": [{"type": "insecureAcceptAnything"}]},
            "oci-archive": {"/srv/app.tar": [{"type": "insecureAcceptAnything"}]},
            "docker-archive": {"": [{"type": "insecureAcceptAnything"}]},
            "docker-daemon": {"": [{"type": "reject"}]},
            "tarball": {"anything": [{"type": "reject"}]}}}, id="local-transports"),
    ],
)
def test_valid_documents(document: dict[str, t.Any]) -> None:
    assert sp.validate_policy(document) == []
    sp.check_policy(document)


def _docker(scope: str, requirements: t.Any) -> dict[str, t.Any]:
    return {"default": [{"type": "reject"}], "transports": {"docker": {scope: requirements}}}


TEAM = f'transports["docker"]["{REG}/team"]'


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        pytest.param([], ["(top level): list is not an object"], id="not-an-object"),
        pytest.param({}, ["default: missing (the global default is mandatory)"], id="no-default"),
        pytest.param({"default": []}, ["default: is empty (containers/image refuses an empty list)"], id="empty-default"),
        pytest.param({"default": {"type": "reject"}}, ["default: {'type': 'reject'} is not a list"], id="default-object"),
        pytest.param({"default": [{"type": "reject"}], "Transports": {}},
                     ["Transports: is not a top-level field; accepted: default, transports"], id="misspelled-top"),
        pytest.param({"default": [{"type": "rejected"}]},
                     ["default[0].type: 'rejected' is not a requirement type; accepted: insecureAcceptAnything, reject, "
                      "signedBy or sigstoreSigned"], id="unknown-type"),
        pytest.param({"default": [{}]}, ["default[0].type: missing"], id="no-type"),
        pytest.param({"default": ["reject"]}, ["default[0]: 'reject' is not an object"], id="string-requirement"),
        pytest.param({"default": [{"type": "reject", "keyPath": "/x"}]},
                     ["default[0].keyPath: is not a field of reject; accepted: only type"], id="field-on-reject"),
        pytest.param({"default": [{"type": "reject"}], "transports": {"dokcer": {}}},
                     ['transports["dokcer"]: \'dokcer\' is not a transport'], id="unknown-transport"),
        pytest.param({"default": [{"type": "reject"}], "transports": {"docker": []}},
                     ['transports["docker"]: [] is not an object'], id="transport-not-object"),
        pytest.param({"default": [{"type": "reject"}], "transports": []},
                     ["transports: [] is not an object"], id="transports-not-object"),
        pytest.param(_docker(f"{REG}/team", []), [f"{TEAM}: is empty"], id="empty-scope-list"),
        pytest.param(_docker(f"{REG}/team", [{"type": "signedBy", "keyPath": "/k.gpg"}]),
                     [f"{TEAM}[0].keyType: missing (required by signedBy); accepted: GPGKeys"], id="no-keytype"),
        pytest.param(_docker(f"{REG}/team", [{**SIGNED, "keyType": "X509Certificates"}]),
                     [f"{TEAM}[0].keyType: 'X509Certificates' is not supported; accepted: GPGKeys"], id="bad-keytype"),
        pytest.param(_docker(f"{REG}/team", [{"type": "signedBy", "keyType": "GPGKeys"}]),
                     [f"{TEAM}[0]: signedBy needs exactly one key source, found none; accepted: exactly one of keyPath, "
                      "keyPaths or keyData"], id="no-key"),
        pytest.param(_docker(f"{REG}/team", [{**SIGNED, "keyData": "bURNRQ=="}]),
                     [f"{TEAM}[0]: signedBy needs exactly one key source, found keyPath or keyData"], id="two-keys"),
        pytest.param(_docker(f"{REG}/team", [{**SIGNED, "keyPath": "keys/team.gpg"}]),
                     [f"{TEAM}[0].keyPath: 'keys/team.gpg' is relative"], id="relative-keypath"),
        pytest.param(_docker(f"{REG}/team", [{"type": "signedBy", "keyType": "GPGKeys", "keyPaths": []}]),
                     [f"{TEAM}[0].keyPaths: [] is not a non-empty list"], id="empty-keypaths"),
        pytest.param(_docker(f"{REG}/team", [{"type": "signedBy", "keyType": "GPGKeys", "keyPaths": ["/a", "b"]}]),
                     [f"{TEAM}[0].keyPaths[1]: 'b' is relative"], id="relative-in-keypaths"),
        pytest.param(_docker(f"{REG}/team", [{"type": "signedBy", "keyType": "GPGKeys", "keyData": "not base64!"}]),
                     [f"{TEAM}[0].keyData: is not valid base64"], id="keydata-not-base64"),
        pytest.param(_docker(f"{REG}/team", [{"type": "sigstoreSigned", "keyPaths": ["/a"]}]),
                     [f"{TEAM}[0].keyPaths: is not a field of sigstoreSigned",
                      f"{TEAM}[0]: sigstoreSigned needs exactly one key source, found none; accepted: exactly one of "
                      "keyPath or keyData"], id="sigstore-keypaths"),
        pytest.param(_docker(f"{REG}/team", [{**SIGNED, "signedIdentity": {"type": "matchAnything"}}]),
                     [f"{TEAM}[0].signedIdentity.type: 'matchAnything' is not an identity type; accepted: matchExact, "
                      "matchRepoDigestOrExact, matchRepository, exactReference, exactRepository or remapIdentity"],
                     id="bad-identity-type"),
        pytest.param(_docker(f"{REG}/team", [{**SIGNED, "signedIdentity": "matchExact"}]),
                     [f"{TEAM}[0].signedIdentity: 'matchExact' is not an object"], id="identity-string"),
        pytest.param(_docker(f"{REG}/team", [{**SIGNED, "signedIdentity": {"type": "exactReference"}}]),
                     [f"{TEAM}[0].signedIdentity.dockerReference: missing (required by exactReference)"],
                     id="exact-reference-missing"),
        pytest.param(
            _docker(f"{REG}/team", [{**SIGNED, "signedIdentity": {"type": "exactReference", "dockerReference": f"{REG}/app"}}]),
            [f"{TEAM}[0].signedIdentity.dockerReference: '{REG}/app' has neither a tag nor a digest"],
            id="exact-reference-no-tag"),
        pytest.param(_docker(f"{REG}/team", [{**SIGNED, "signedIdentity": {"type": "matchExact", "prefix": "x"}}]),
                     [f"{TEAM}[0].signedIdentity.prefix: is not a field of matchExact; accepted: only type"],
                     id="identity-extra-field"),
        pytest.param(
            _docker(f"{REG}/team", [{**SIGNED, "signedIdentity": {"type": "remapIdentity", "prefix": f"{REG}/team",
                                                                  "signedPrefix": "vendor.example/app:1"}}]),
            [f"{TEAM}[0].signedIdentity.signedPrefix: 'vendor.example/app:1' names a tag"],
            id="remap-tag"),
        pytest.param(_docker("team/app", [{"type": "reject"}]),
                     ['transports["docker"]["team/app"]: \'team/app\': the first component \'team\' is not a registry '
                      'host'], id="short-scope"),
        pytest.param({"default": [{"type": "reject"}], "transports": {"dir": {"srv/images": [{"type": "reject"}]}}},
                     ['transports["dir"]["srv/images"]: \'srv/images\' is not an absolute path'], id="dir-relative"),
        pytest.param({"default": [{"type": "reject"}], "transports": {"dir": {"/": [{"type": "reject"}]}}},
                     ['transports["dir"]["/"]: "/" is not allowed; accepted: "" for the whole transport'], id="dir-root"),
        pytest.param({"default": [{"type": "reject"}], "transports": {"dir": {"/srv//x/": [{"type": "reject"}]}}},
                     ['transports["dir"]["/srv//x/"]: \'/srv//x/\' is not in canonical form; accepted: /srv/x'],
                     id="dir-not-canonical"),
        pytest.param({"default": [{"type": "reject"}],
                      "transports": {"containers-storage": {"overlay@/var/lib": [{"type": "reject"}]}}},
                     ['transports["containers-storage"]["overlay@/var/lib"]: \'overlay@/var/lib\' does not start with a '
                      '[driver@graphroot] store specification'], id="storage-scope"),
        pytest.param({"default": [{"type": "reject"}], "transports": {"docker-daemon": {"x": [{"type": "reject"}]}}},
                     ['transports["docker-daemon"]["x"]: docker-daemon supports no scopes; accepted: "" only'],
                     id="daemon-scope"),
    ],
)
def test_invalid_documents(document: t.Any, expected: list[str]) -> None:
    """Each mistake is reported at its path, with what is accepted."""
    issues = sp.validate_policy(document)
    assert len(issues) == len(expected), issues
    for issue, start in zip(issues, expected):
        assert issue.startswith(start), (issue, start)
    with pytest.raises(sp.PolicyError, match="^invalid signature policy: "):
        sp.check_policy(document)


def test_every_issue_is_reported_at_once() -> None:
    document = {"default": [], "extra": 1, "transports": {"docker": {"x": [{"type": "nope"}]}}}
    issues = sp.validate_policy(document)
    assert [issue.split(":", maxsplit=1)[0] for issue in issues] == [
        "extra", "default", 'transports["docker"]["x"]', 'transports["docker"]["x"][0].type']


# ---------------------------------------------------------------------------------------------------------------------
# Registries entries

def entry(**params: t.Any) -> dict[str, t.Any]:
    """A registries entry with the module's defaults."""
    return {"scope": f"{REG}/team", "trust": "signed", "keys": [KEY_A], "key_files": [], "lookaside": None,
            "lookaside_staging": None, "signed_identity": None, **params}


def test_signed_entry_with_two_keys() -> None:
    reg = sp.normalise_registry(0, entry(keys=[KEY_A, KEY_B]))
    assert reg.where == f"registries[0] ({REG}/team)"
    assert [key.fingerprint for key in reg.unique_keys] == [FPR_A, FPR_B]


def test_one_text_with_two_blocks_and_duplicates() -> None:
    reg = sp.normalise_registry(0, entry(keys=[KEY_A + KEY_B, KEY_A]))
    assert [key.fingerprint for key in reg.unique_keys] == [FPR_A, FPR_B]


def test_key_file_added_from_the_host() -> None:
    reg = sp.normalise_registry(0, entry(keys=[KEY_A], key_files=["/etc/keys/b.gpg"]))
    reg.add_key_file("/etc/keys/b.gpg", g.dearmor(KEY_B)[0])
    assert [key.fingerprint for key in reg.unique_keys] == [FPR_A, FPR_B]


def test_key_file_that_is_not_a_key() -> None:
    reg = sp.normalise_registry(0, entry(keys=[], key_files=["/etc/keys/b.gpg"]))
    with pytest.raises(sp.PolicyError, match=r"^registries\[0\] \(registry.example:5000/team\): key_files: "
                                             r"/etc/keys/b.gpg: is neither ASCII-armoured"):
        reg.add_key_file("/etc/keys/b.gpg", b"hello")


WHERE = rf"^registries\[0\] \({REG}/team\): "


@pytest.mark.parametrize(
    ("params", "message"),
    [
        pytest.param({"scope": "team"}, r"^registries\[0\] \(team\): scope: 'team': the first component", id="bad-scope"),
        pytest.param({"scope": f"{REG}/team:latest"}, "names a tag", id="tag-in-scope"),
        pytest.param({"keys": []}, WHERE + "keys: trust: signed needs the public keys", id="signed-without-keys"),
        pytest.param({"trust": "maybe"}, WHERE + "trust: 'maybe' is not a trust level; accepted: signed, accept or reject",
                     id="bad-trust"),
        pytest.param({"trust": "accept"}, WHERE + "keys: only with trust: signed", id="keys-with-accept"),
        pytest.param({"trust": "reject", "keys": [], "key_files": ["/k"]}, WHERE + "key_files: only with trust: signed",
                     id="key-files-with-reject"),
        pytest.param({"trust": "accept", "keys": [], "signed_identity": {"type": "matchExact"}},
                     WHERE + "signed_identity: only with trust: signed", id="identity-with-accept"),
        pytest.param({"keys": ["not a key"]}, WHERE + "keys\\[0\\]: no '-----BEGIN PGP PUBLIC KEY BLOCK-----' block",
                     id="not-armour"),
        pytest.param({"keys": ["-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQ==\n-----END PGP PRIVATE KEY BLOCK-----"]},
                     WHERE + "keys\\[0\\]: this is a private key block", id="private-key"),
        pytest.param({"keys": [42]}, WHERE + "keys\\[0\\]: is not text", id="key-not-text"),
        pytest.param({"key_files": ["keys/a.gpg"]}, WHERE + "key_files\\[0\\]: 'keys/a.gpg' is not an absolute path",
                     id="relative-key-file"),
        pytest.param({"lookaside": "ftp://sigs.example/x"}, WHERE + "lookaside: 'ftp://sigs.example/x' has the scheme 'ftp'",
                     id="lookaside-ftp"),
        pytest.param({"lookaside": "https:///nohost"}, WHERE + "lookaside: 'https:///nohost' has no host", id="no-host"),
        pytest.param({"lookaside": "file://var/lib/sigs"}, WHERE + "lookaside: 'file://var/lib/sigs' is not a local "
                                                                   "absolute path", id="file-two-slashes"),
        pytest.param({"lookaside_staging": "https://sigs.example/"},
                     WHERE + "lookaside_staging: 'https://sigs.example/' has the scheme 'https'; accepted: a "
                             "file:///absolute/directory URL", id="staging-https"),
        pytest.param({"lookaside": "/var/lib/sigs"}, WHERE + "lookaside: '/var/lib/sigs' has the scheme '\\(none\\)'",
                     id="path-not-url"),
        pytest.param({"signed_identity": {"type": "remapIdentity", "prefix": f"{REG}/team"}},
                     WHERE + "signed_identity.signedPrefix: missing \\(required by remapIdentity\\)", id="identity"),
    ],
)
def test_bad_entries(params: dict[str, t.Any], message: str) -> None:
    with pytest.raises(sp.PolicyError, match=message):
        sp.normalise_registry(0, entry(**params))


def test_duplicate_scope() -> None:
    with pytest.raises(sp.PolicyError, match=rf"^registries\[1\] \({REG}/team\): scope: {REG}/team is already "
                                             rf"declared by registries\[0\] \({REG}/team\)"):
        sp.normalise_registries([entry(), entry(keys=[KEY_B])])


@pytest.mark.parametrize("url", ["file:///var/lib/sigs", "file://localhost/var/lib/sigs", "https://sigs.example/x",
                                 "http://127.0.0.1:8080/sigs"])
def test_good_lookaside(url: str) -> None:
    assert sp.validate_url(url, staging=url.startswith("file")) == url


def test_local_transports() -> None:
    assert sp.normalise_local_transports(["oci", "containers-storage", "oci"]) == ["oci", "containers-storage"]
    with pytest.raises(sp.PolicyError, match=r"^local_transports\[1\]: 'docker' is not a local transport \(registries "
                                             r"go in registries, or use default: accept\); accepted: containers-storage"):
        sp.normalise_local_transports(["oci", "docker"])
    with pytest.raises(sp.PolicyError, match=r"^local_transports\[0\]: 'ostree' is not a local transport; accepted"):
        sp.normalise_local_transports(["ostree"])


# ---------------------------------------------------------------------------------------------------------------------
# The desired policy

def test_desired_policy_every_trust_level() -> None:
    registries = sp.normalise_registries([
        entry(keys=[KEY_A, KEY_B]),
        entry(scope=f"{REG}/scratch", trust="accept", keys=[]),
        entry(scope="blocked.example", trust="reject", keys=[]),
        entry(scope=f"{REG}/mirror", keys=[KEY_B], signed_identity={"type": "matchRepository"}),
    ])
    policy = sp.desired_policy("reject", registries, ["containers-storage", "oci"], KEY_DIR)
    assert policy == {
        "default": [{"type": "reject"}],
        "transports": {
            "docker": {
                f"{REG}/team": [{"type": "signedBy", "keyType": "GPGKeys",
                                 "keyPath": f"{KEY_DIR}/containerhost-platform-registry.example_5000+team.asc"}],
                f"{REG}/scratch": [{"type": "insecureAcceptAnything"}],
                "blocked.example": [{"type": "reject"}],
                f"{REG}/mirror": [{"type": "signedBy", "keyType": "GPGKeys",
                                   "keyPath": f"{KEY_DIR}/containerhost-platform-registry.example_5000+mirror.asc",
                                   "signedIdentity": {"type": "matchRepository"}}],
            },
            "containers-storage": {"": [{"type": "insecureAcceptAnything"}]},
            "oci": {"": [{"type": "insecureAcceptAnything"}]},
        },
    }
    assert sp.validate_policy(policy) == []


def test_several_keys_are_any_of_not_all_of() -> None:
    """Requirements in a list are ANDed: two keys must be one signedBy rule with one keyring holding both."""
    reg = sp.normalise_registries([entry(keys=[KEY_A, KEY_B])])
    requirements = sp.desired_policy("reject", reg, [], KEY_DIR)["transports"]["docker"][f"{REG}/team"]
    assert len(requirements) == 1
    ring = sp.render_keyring(reg[0])
    assert [key.fingerprint for key in g.load_keys(ring)] == [FPR_A, FPR_B]
    assert "Comment: containerhost.platform:image_trust" in ring.splitlines()


def test_default_accept_and_nothing_else() -> None:
    assert sp.desired_policy("accept", [], [], KEY_DIR) == {"default": [{"type": "insecureAcceptAnything"}]}
    with pytest.raises(sp.PolicyError, match="default: 'maybe' is not accepted"):
        sp.default_requirements("maybe")


def test_render_policy_round_trips() -> None:
    policy = sp.desired_policy("reject", sp.normalise_registries([entry()]), ["dir"], KEY_DIR)
    text = sp.render_policy(policy)
    assert text.endswith("}\n")
    assert sp.parse_policy(text) == policy
    assert sp.parse_policy(None) is None
    assert sp.parse_policy("{not json") is None


def test_policy_compared_as_data_in_diffs() -> None:
    """A file with the same data in another layout shows as the canonical text; a broken file as it is."""
    policy = {"default": [{"type": "reject"}]}
    assert sp.policy_text_for_diff(json.dumps(policy, separators=(",", ":"))) == sp.render_policy(policy)
    assert sp.policy_text_for_diff("{broken") == "{broken"
    assert sp.policy_text_for_diff(None) == ""


@pytest.mark.parametrize(
    ("scope", "name"),
    [
        (REG, "containerhost-platform-registry.example_5000.asc"),
        (f"{REG}/team/app", "containerhost-platform-registry.example_5000+team+app.asc"),
        ("localhost/a_b", "containerhost-platform-localhost+a_b.asc"),
    ],
)
def test_keyring_file_names(scope: str, name: str) -> None:
    assert sp.keyring_file_name(scope) == name
    assert sp.is_owned_keyring(name)


def test_keyring_file_names_are_one_to_one() -> None:
    """'_' never stands for ':' in a path, nor '+' for a character a scope may hold."""
    scopes = ["reg.example:5000/a_b", "reg.example:5000/a/b", "reg.example/5000/a/b", "reg.example:5000/a__b"]
    names = [sp.keyring_file_name(scope) for scope in scopes]
    assert len(set(names)) == len(names)


def test_long_scope_gets_a_short_unique_name() -> None:
    long_a = "registry.example/" + "/".join(["abcdefghij"] * 20) + "/a"
    long_b = long_a[:-1] + "b"
    assert len(sp.validate_docker_scope(long_a)) <= 255
    names = {sp.keyring_file_name(long_a), sp.keyring_file_name(long_b)}
    assert len(names) == 2
    assert all(len(name) <= 255 and sp.is_owned_keyring(name) for name in names)


@pytest.mark.parametrize("name", ["other.gpg", "containerhost-platform-x.gpg", "vendor-containerhost-platform-x.asc"])
def test_foreign_files_are_not_ours(name: str) -> None:
    assert not sp.is_owned_keyring(name)


# ---------------------------------------------------------------------------------------------------------------------
# registries.d

def test_render_registries_d() -> None:
    registries = sp.normalise_registries([
        entry(lookaside="https://sigs.example/team", lookaside_staging="file:///var/lib/containers/staging"),
        entry(scope=f"{REG}/scratch", trust="accept", keys=[]),
        entry(scope="registry.example", trust="accept", keys=[], lookaside="file:///srv/sigs"),
    ])
    text = sp.render_registries_d(registries, managed_header("image_trust"))
    assert text == (
        "# Ansible managed: containerhost.platform.image_trust\n"
        "# Changes are overwritten by the next run; change the playbook instead.\n"
        "# containerhost.platform:image_trust\n"
        "docker:\n"
        f'  "{REG}/team":\n'
        '    lookaside: "https://sigs.example/team"\n'
        '    lookaside-staging: "file:///var/lib/containers/staging"\n'
        '  "registry.example":\n'
        '    lookaside: "file:///srv/sigs"\n'
    )
    assert sp.registries_d_scopes(text) == [f"{REG}/team", "registry.example"]


def test_no_registries_d_without_lookaside() -> None:
    assert sp.render_registries_d(sp.normalise_registries([entry()]), []) is None


def test_registries_d_is_yaml() -> None:
    """The rendered file is the YAML containers/image reads (checked with PyYAML, which the controller has)."""
    yaml = pytest.importorskip("yaml")
    registries = sp.normalise_registries([entry(scope="r.example:443/a", lookaside="https://s.example/a%20c?x=1&y='z'#f",
                                                lookaside_staging="file:///x/y")])
    data = yaml.safe_load(sp.render_registries_d(registries, ["x"]))
    assert data == {"docker": {"r.example:443/a": {"lookaside": "https://s.example/a%20c?x=1&y='z'#f",
                                                   "lookaside-staging": "file:///x/y"}}}


MAN_PAGE_REGISTRIES_D = """\
docker:
    registry.example.com:
        lookaside: https://registry-lookaside.example.com
    registry.example.com/mydepartment:
        lookaside: https://lookaside.mydepartment.example.com
        lookaside-staging: file:///mnt/mydepartment/lookaside-staging
    'registry.example.com/mydepartment/myproject:mybranch':  # a comment
        lookaside: http://localhost:4242/lookaside
    "quoted.example:5000/x": {lookaside: "file:///a"}
default-docker:
    lookaside-staging: file:///mnt/company/common-lookaside-staging
other:
  not.a.scope.example: {}
"""


def test_registries_d_scopes_of_other_files() -> None:
    assert sp.registries_d_scopes(MAN_PAGE_REGISTRIES_D) == [
        "registry.example.com", "registry.example.com/mydepartment", "registry.example.com/mydepartment/myproject:mybranch",
        "quoted.example:5000/x"]
    assert sp.registries_d_scopes("default-docker:\n  lookaside: file:///x\n") == []
    assert sp.registries_d_scopes("") == []


def test_documents_are_not_changed_by_validation() -> None:
    document = copy.deepcopy(MAN_PAGE_EXAMPLE)
    sp.validate_policy(document)
    assert document == MAN_PAGE_EXAMPLE
