# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for the pure OpenPGP handling: armour, packets, fingerprints and keyrings, against keys made by gpg."""

from __future__ import annotations

import base64

from pathlib import Path

import pytest

from ansible_collections.containerhost.platform.plugins.module_utils import _gpg as g

FIXTURES = Path(__file__).parent / "fixtures" / "gpg"
FPR_A = "09DF67A3599447070BC5C7DD30A64EB4C4CC7C53"
FPR_B = "D461729A2461102CA1119DB265EF54D0BD3DA674"
FPR_RSA = "5F2538F089B463B962AB913CC368CB6333B11B45"
FPR_RSA_SUB = "7A8CA6961B07541093FFB0CBDBBD7C5D5F6FB1DC"


def fixture(name: str) -> str:
    """An armoured fixture key."""
    return (FIXTURES / name).read_text(encoding="ascii")


KEY_A = fixture("ed25519-a.asc")
KEY_B = fixture("ed25519-b.asc")
KEY_RSA = fixture("rsa-with-subkey.asc")


def body_lines(text: str) -> list[str]:
    """The lines of an armour block between its BEGIN line and its END line."""
    return text.strip().splitlines()[1:-1]


# ---------------------------------------------------------------------------------------------------------------------
# Fingerprints and user IDs as gpg shows them (fixtures/gpg/README.md)

@pytest.mark.parametrize(
    ("text", "fpr", "uid", "subkeys"),
    [
        pytest.param(KEY_A, FPR_A, "Trust Test A <A@trust.example>", (), id="ed25519-a"),
        pytest.param(KEY_B, FPR_B, "Trust Test B <B@trust.example>", (), id="ed25519-b"),
        pytest.param(KEY_RSA, FPR_RSA, "Fixture RSA <rsa@fixture.example>", (FPR_RSA_SUB,), id="rsa-with-subkey"),
    ],
)
def test_fingerprints_match_gpg(text: str, fpr: str, uid: str, subkeys: tuple[str, ...]) -> None:
    keys = g.load_keys(text)
    assert len(keys) == 1
    key = keys[0]
    assert key.fingerprint == fpr
    assert key.version == 4
    assert key.key_id == fpr[-16:]
    assert key.user_ids == (uid,)
    assert key.subkeys == subkeys
    assert key.summary() == f"{fpr} {uid}"
    assert key.as_dict() == {"fingerprint": fpr, "key_id": fpr[-16:], "user_ids": [uid], "subkeys": list(subkeys)}


def test_binary_key_gives_the_same_keys_as_armour() -> None:
    """gpg --export (binary) is the armour's data: both load the same."""
    binary = g.dearmor(KEY_RSA)[0]
    assert [k.fingerprint for k in g.load_keys(binary)] == [FPR_RSA]
    assert g.load_keys(binary)[0].data == binary


def test_several_blocks_in_one_text() -> None:
    keys = g.load_keys(KEY_A + "\n" + KEY_B)
    assert [k.fingerprint for k in keys] == [FPR_A, FPR_B]


def test_binary_keyring_of_two_keys() -> None:
    ring = g.dearmor(KEY_A)[0] + g.dearmor(KEY_B)[0]
    assert [k.fingerprint for k in g.load_keys(ring)] == [FPR_A, FPR_B]


def test_armour_headers_and_surrounding_text_are_ignored() -> None:
    lines = KEY_A.strip().splitlines()
    with_headers = "\n".join([lines[0], "Version: GnuPG v2", "Comment: a comment", *lines[1:]])
    text = f"Some mail text before\n{with_headers}\nand after\n"
    assert [k.fingerprint for k in g.load_keys(text)] == [FPR_A]


def test_crlf_line_ends() -> None:
    assert [k.fingerprint for k in g.load_keys(KEY_A.replace("\n", "\r\n"))] == [FPR_A]


def test_bytes_armour() -> None:
    assert [k.fingerprint for k in g.load_keys(KEY_B.encode())] == [FPR_B]


# ---------------------------------------------------------------------------------------------------------------------
# Keyrings

def test_keyring_round_trip_with_comments() -> None:
    keys = g.load_keys(KEY_A) + g.load_keys(KEY_B)
    text = g.keyring(keys, ["containerhost.platform:image_trust", "two keys"])
    lines = text.splitlines()
    assert lines[0] == "-----BEGIN PGP PUBLIC KEY BLOCK-----"
    assert lines[1:4] == ["Comment: containerhost.platform:image_trust", "Comment: two keys", ""]
    assert lines[-1] == "-----END PGP PUBLIC KEY BLOCK-----"
    assert all(len(line) <= 64 for line in lines[4:-1])
    assert [k.fingerprint for k in g.load_keys(text)] == [FPR_A, FPR_B]
    # One block: every key in one armour block, as one keyPath file holds them.
    assert text.count("-----BEGIN") == 1


def test_keyring_keeps_each_key_once_in_order() -> None:
    keys = g.load_keys(KEY_B) + g.load_keys(KEY_A) + g.load_keys(KEY_B)
    assert [k.fingerprint for k in g.load_keys(g.keyring(keys))] == [FPR_B, FPR_A]


def test_keyring_is_stable() -> None:
    """The same keys give the same text, so a second run changes nothing."""
    keys = g.load_keys(KEY_A + KEY_RSA)
    assert g.keyring(keys, ["x"]) == g.keyring(g.load_keys(KEY_A + KEY_RSA), ["x"])


def test_armor_checksum_is_the_one_gpg_writes() -> None:
    """Re-armouring gpg's own data gives gpg's checksum line."""
    data = g.dearmor(KEY_RSA)[0]
    ours = g.armor(data).splitlines()
    theirs = KEY_RSA.strip().splitlines()
    assert ours[-2] == theirs[-2]
    assert "".join(ours[2:-2]) == "".join(line for line in theirs[2:-2])


def test_crc24_known_value() -> None:
    """CRC-24 of no data is the initial value; of the RFC's reference input a known value."""
    assert g.crc24(b"") == 0xB704CE
    assert g.crc24(b"123456789") == 0x21CF02


# ---------------------------------------------------------------------------------------------------------------------
# Refusals: each says what is wrong and what is accepted

def _private_block() -> str:
    return "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQ==\n-----END PGP PRIVATE KEY BLOCK-----\n"


def _secret_key_packet() -> bytes:
    """A new-format tag 5 (secret key) packet: its header alone must be refused."""
    body = b"\x04" + b"\x00" * 10
    return bytes([0xC0 | 5, len(body)]) + body


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        pytest.param("", "no '-----BEGIN PGP PUBLIC KEY BLOCK-----' block found", id="empty"),
        pytest.param("ssh-ed25519 AAAA... user@host", "no '-----BEGIN PGP PUBLIC KEY BLOCK-----' block", id="ssh-key"),
        pytest.param(_private_block(), "private key block", id="private-armour"),
        pytest.param("-----BEGIN PGP SIGNATURE-----\n\nlQ==\n-----END PGP SIGNATURE-----\n",
                     "armour type 'PGP SIGNATURE' is not a public key", id="signature-armour"),
        pytest.param(KEY_A.replace("-----END PGP PUBLIC KEY BLOCK-----", "-----END PGP MESSAGE-----"),
                     "ends as 'PGP MESSAGE'", id="mismatched-end"),
        pytest.param(_secret_key_packet(), "holds a private key", id="secret-packet-binary"),
        pytest.param(b"\x00\x01\x02", "is neither ASCII-armoured", id="not-openpgp"),
        pytest.param(b"\xff\x01", "a packet runs past the end of the data", id="not-openpgp-high-bit"),
        pytest.param(bytes([0xC0 | 13, 3]) + b"abc", "does not start with a public key packet (tag 13 first)",
                     id="uid-first"),
        pytest.param(g.dearmor(KEY_A)[0][:40], "runs past the end of the data", id="binary-cut-off"),
        pytest.param(bytes([0xC0 | 6, 5]) + b"\x03abcd", "version 3 is not supported", id="v3-key"),
    ],
)
def test_refused(blob: str | bytes, message: str) -> None:
    with pytest.raises(g.OpenPGPKeyError, match="^where: ") as info:
        g.load_keys(blob, "where")
    assert message in str(info.value)


def test_changed_armour_fails_its_checksum() -> None:
    lines = KEY_A.splitlines()
    # Change one base64 character of the data (not the checksum line).
    target = 3
    lines[target] = ("B" if lines[target][0] != "B" else "C") + lines[target][1:]
    with pytest.raises(g.OpenPGPKeyError, match="checksum does not match"):
        g.load_keys("\n".join(lines))


def test_cut_armour_is_refused() -> None:
    lines = KEY_A.splitlines()
    cut = "\n".join(lines[:4] + lines[-2:])
    with pytest.raises(g.OpenPGPKeyError, match="checksum does not match|not valid base64|runs past"):
        g.load_keys(cut)


def test_armour_without_checksum_is_accepted() -> None:
    """The checksum line is optional (RFC 9580 drops it)."""
    lines = [line for line in KEY_A.splitlines() if not (line.startswith("=") and len(line) == 5)]
    assert [k.fingerprint for k in g.load_keys("\n".join(lines))] == [FPR_A]


def test_not_base64() -> None:
    lines = KEY_A.splitlines()
    lines[3] = "*" + lines[3][1:]
    with pytest.raises(g.OpenPGPKeyError, match="not valid base64"):
        g.load_keys("\n".join(lines))


def test_headers_without_blank_line() -> None:
    text = "-----BEGIN PGP PUBLIC KEY BLOCK-----\nComment: x\nmDMEa\n-----END PGP PUBLIC KEY BLOCK-----\n"
    with pytest.raises(g.OpenPGPKeyError, match="not followed by a blank line"):
        g.load_keys(text)


def test_v5_and_v6_fingerprints_use_sha256() -> None:
    """v5/v6 keys hash with SHA-256 over a 4-byte length (RFC 9580 section 5.5.4)."""
    import hashlib

    body = b"\x06" + b"\x01" * 20
    version, fpr = g.fingerprint(body)
    assert version == 6
    assert fpr == hashlib.sha256(b"\x9b" + len(body).to_bytes(4, "big") + body).hexdigest().upper()
    key = g.parse_keys(bytes([0xC0 | 6, len(body)]) + body)[0]
    assert key.key_id == fpr[:16]


def test_old_format_packet_headers() -> None:
    """gpg writes old-format headers for keys; two-byte lengths are read too."""
    data = g.dearmor(KEY_RSA)[0]
    tags = [tag for tag, dummy_body, dummy_raw in g.packets(data)]
    assert tags[0] == g.TAG_PUBLIC_KEY
    assert g.TAG_PUBLIC_SUBKEY in tags and g.TAG_USER_ID in tags
    assert b"".join(raw for dummy_tag, dummy_body, raw in g.packets(data)) == data


def test_new_format_lengths() -> None:
    """One-, two- and five-byte new-format lengths."""
    for length in (10, 300, 70000):
        body = b"\x00" * length
        if length < 192:
            header = bytes([length])
        elif length < 8384:
            length_minus = length - 192
            header = bytes([(length_minus >> 8) + 192, length_minus & 0xFF])
        else:
            header = b"\xff" + length.to_bytes(4, "big")
        packet = bytes([0xC0 | 2]) + header + body
        assert g.packets(packet) == [(2, body, packet)]


def test_is_armored() -> None:
    assert g.is_armored("  \n-----BEGIN PGP PUBLIC KEY BLOCK-----")
    assert not g.is_armored(b"\x99-----BEGIN ")
    assert not g.is_armored(b"")
    assert g.is_armored(b"-----BEGIN PGP")
    assert not g.is_armored(base64.b64decode("mDME"))
