# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Private to the collection: not a public API and may change without notice.

"""OpenPGP public keys without gpg: ASCII armour (RFC 4880 section 6), packets, fingerprints and keyrings.

The trust policy only needs public keys copied into a keyring file and their fingerprints reported, so this is pure
Python: no gpg binary, no GNUPGHOME and no agent on the managed host.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import typing as t

from dataclasses import dataclass, field

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

PUBLIC_KEY_BLOCK = "PGP PUBLIC KEY BLOCK"
# Packet tags (RFC 4880 section 4.3).
TAG_SECRET_KEY = 5
TAG_PUBLIC_KEY = 6
TAG_SECRET_SUBKEY = 7
TAG_USER_ID = 13
TAG_PUBLIC_SUBKEY = 14

_ARMOR_RE = re.compile(
    r"-----BEGIN (?P<kind>[A-Z0-9 ,/]+)-----[ \t]*\r?\n(?P<body>.*?)-----END (?P<end>[A-Z0-9 ,/]+)-----",
    re.DOTALL,
)
_HEADER_RE = re.compile(r"^[A-Za-z0-9-]+: ?.*$")
_CRC24_INIT = 0xB704CE
_CRC24_POLY = 0x1864CFB


class OpenPGPKeyError(ValueError):
    """Text or bytes that are not usable OpenPGP public keys; the message says why and what is accepted."""


@dataclass(frozen=True)
class PublicKey:
    """One transferable public key: its primary fingerprint, user IDs, subkey fingerprints and its packets."""

    fingerprint: str
    version: int
    algorithm: int
    user_ids: tuple[str, ...] = ()
    subkeys: tuple[str, ...] = ()
    data: bytes = field(default=b"", repr=False)

    @property
    def key_id(self) -> str:
        """The long key ID (last 16 hex digits of a v4 fingerprint, first 16 of v5/v6)."""
        return self.fingerprint[-16:] if self.version == 4 else self.fingerprint[:16]

    def summary(self) -> str:
        """``FINGERPRINT user id`` for diffs and messages."""
        return f"{self.fingerprint} {self.user_ids[0]}" if self.user_ids else self.fingerprint

    def as_dict(self) -> dict[str, t.Any]:
        """The key as a task result shows it."""
        return {"fingerprint": self.fingerprint, "key_id": self.key_id, "user_ids": list(self.user_ids),
                "subkeys": list(self.subkeys)}


def crc24(data: bytes) -> int:
    """The CRC-24 an armour checksum line carries (RFC 4880 section 6.1)."""
    crc = _CRC24_INIT
    for byte in data:
        crc ^= byte << 16
        for dummy in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= _CRC24_POLY
    return crc & 0xFFFFFF


def dearmor(text: str, where: str = "key") -> list[bytes]:
    """The binary data of every public key block in ASCII-armoured text, checksums verified."""
    blocks = list(_ARMOR_RE.finditer(text))
    if not blocks:
        raise OpenPGPKeyError(f"{where}: no '-----BEGIN {PUBLIC_KEY_BLOCK}-----' block found; give ASCII-armoured public "
                              "keys as 'gpg --armor --export KEYID' prints them")
    out = []
    for number, match in enumerate(blocks, start=1):
        label = f"{where} (block {number})" if len(blocks) > 1 else where
        kind, end = match.group("kind"), match.group("end")
        if "PRIVATE" in kind or "SECRET" in kind:
            raise OpenPGPKeyError(f"{label}: this is a private key block ({kind}); give only the public key "
                                  "('gpg --armor --export KEYID'), never the private one")
        if kind != PUBLIC_KEY_BLOCK:
            raise OpenPGPKeyError(f"{label}: armour type {kind!r} is not a public key; accepted: {PUBLIC_KEY_BLOCK}")
        if end != kind:
            raise OpenPGPKeyError(f"{label}: the block begins as {kind!r} but ends as {end!r}")
        out.append(_decode_armor_body(match.group("body"), label))
    return out


def _decode_armor_body(body: str, label: str) -> bytes:
    """Base64 data of one armour block, after its headers, checked against the CRC-24 line when there is one."""
    lines = [line.strip() for line in body.splitlines()]
    # Armour headers ("Version: ...", "Comment: ...") end at the first blank line.
    if lines and _HEADER_RE.match(lines[0]):
        try:
            lines = lines[lines.index("") + 1:]
        except ValueError:
            raise OpenPGPKeyError(f"{label}: armour headers are not followed by a blank line") from None
    checksum = None
    data_lines = []
    for line in lines:
        if not line:
            continue
        if line.startswith("=") and len(line) == 5:
            checksum = line[1:]
            continue
        data_lines.append(line)
    try:
        data = base64.b64decode("".join(data_lines), validate=True)
    except (binascii.Error, ValueError):
        raise OpenPGPKeyError(f"{label}: the armoured data is not valid base64 (damaged or cut off?)") from None
    if not data:
        raise OpenPGPKeyError(f"{label}: the block holds no data")
    if checksum is not None:
        try:
            expected = int.from_bytes(base64.b64decode(checksum, validate=True), "big")
        except (binascii.Error, ValueError):
            raise OpenPGPKeyError(f"{label}: the checksum line ={checksum} is not valid base64") from None
        if crc24(data) != expected:
            raise OpenPGPKeyError(f"{label}: the armour checksum does not match the data (the key text was changed or cut)")
    return data


def armor(data: bytes, comments: Sequence[str] = ()) -> str:
    """ASCII armour for binary public key data, with ``Comment:`` headers, 64 base64 characters a line."""
    encoded = base64.b64encode(data).decode("ascii")
    lines = [f"-----BEGIN {PUBLIC_KEY_BLOCK}-----"]
    lines.extend(f"Comment: {comment}" for comment in comments)
    lines.append("")
    lines.extend(encoded[i:i + 64] for i in range(0, len(encoded), 64))
    lines.append("=" + base64.b64encode(crc24(data).to_bytes(3, "big")).decode("ascii"))
    lines.append(f"-----END {PUBLIC_KEY_BLOCK}-----")
    return "\n".join(lines) + "\n"


def packets(data: bytes, where: str = "key") -> list[tuple[int, bytes, bytes]]:
    """(tag, body, raw packet bytes) of every packet in binary OpenPGP data (old and new packet formats)."""
    out = []
    pos = 0
    while pos < len(data):
        start = pos
        header = data[pos]
        if not header & 0x80:
            raise OpenPGPKeyError(f"{where}: byte {pos} is not an OpenPGP packet header; the data is not an OpenPGP key")
        pos += 1
        if header & 0x40:
            tag = header & 0x3F
            length, pos = _new_length(data, pos, where)
        else:
            tag = (header >> 2) & 0x0F
            length_type = header & 0x03
            if length_type == 3:
                raise OpenPGPKeyError(f"{where}: a packet of indeterminate length is not valid in a key")
            size = 1 << length_type
            if pos + size > len(data):
                raise OpenPGPKeyError(f"{where}: the data ends inside a packet header (cut off?)")
            length = int.from_bytes(data[pos:pos + size], "big")
            pos += size
        if pos + length > len(data):
            raise OpenPGPKeyError(f"{where}: a packet runs past the end of the data (cut off?)")
        out.append((tag, data[pos:pos + length], data[start:pos + length]))
        pos += length
    return out


def _new_length(data: bytes, pos: int, where: str) -> tuple[int, int]:
    """A new-format packet length and the position after it."""
    if pos >= len(data):
        raise OpenPGPKeyError(f"{where}: the data ends inside a packet header (cut off?)")
    first = data[pos]
    if first < 192:
        return first, pos + 1
    if first < 224:
        if pos + 1 >= len(data):
            raise OpenPGPKeyError(f"{where}: the data ends inside a packet header (cut off?)")
        return ((first - 192) << 8) + data[pos + 1] + 192, pos + 2
    if first == 255:
        if pos + 5 > len(data):
            raise OpenPGPKeyError(f"{where}: the data ends inside a packet header (cut off?)")
        return int.from_bytes(data[pos + 1:pos + 5], "big"), pos + 5
    raise OpenPGPKeyError(f"{where}: partial-length packets are not valid in a key")


def fingerprint(body: bytes, where: str = "key") -> tuple[int, str]:
    """Version and upper-case hex fingerprint of a public key packet body (v4: SHA-1; v5, v6: SHA-256)."""
    if not body:
        raise OpenPGPKeyError(f"{where}: empty public key packet")
    version = body[0]
    if version == 4:
        digest = hashlib.sha1(b"\x99" + len(body).to_bytes(2, "big") + body).hexdigest()  # nosec - the v4 definition
    elif version in (5, 6):
        prefix = b"\x9a" if version == 5 else b"\x9b"
        digest = hashlib.sha256(prefix + len(body).to_bytes(4, "big") + body).hexdigest()
    else:
        raise OpenPGPKeyError(f"{where}: OpenPGP key version {version} is not supported; accepted: 4, 5, 6")
    return version, digest.upper()


def parse_keys(data: bytes, where: str = "key") -> list[PublicKey]:
    """Every transferable public key in binary OpenPGP data; private keys and stray packets are refused."""
    keys: list[PublicKey] = []
    current: dict[str, t.Any] | None = None

    def finish() -> None:
        if current is not None:
            keys.append(PublicKey(fingerprint=current["fpr"], version=current["version"],
                                  algorithm=current["algorithm"], user_ids=tuple(current["uids"]),
                                  subkeys=tuple(current["subkeys"]), data=b"".join(current["raw"])))

    for tag, body, raw in packets(data, where):
        if tag in (TAG_SECRET_KEY, TAG_SECRET_SUBKEY):
            raise OpenPGPKeyError(f"{where}: holds a private key; give only the public key ('gpg --export KEYID'), "
                                  "never the private one")
        if tag == TAG_PUBLIC_KEY:
            finish()
            version, fpr = fingerprint(body, where)
            current = {"fpr": fpr, "version": version, "algorithm": body[5],
                       "uids": [], "subkeys": [], "raw": [raw]}
            continue
        if current is None:
            raise OpenPGPKeyError(f"{where}: the data does not start with a public key packet (tag {tag} first); "
                                  "accepted: OpenPGP public keys as 'gpg --export' writes them")
        current["raw"].append(raw)
        if tag == TAG_USER_ID:
            current["uids"].append(body.decode("utf-8", "replace"))
        elif tag == TAG_PUBLIC_SUBKEY:
            current["subkeys"].append(fingerprint(body, where)[1])
    finish()
    if not keys:
        raise OpenPGPKeyError(f"{where}: holds no public key")
    return keys


def is_armored(blob: bytes | str) -> bool:
    """Whether key data is ASCII-armoured text (possibly with text around it) rather than binary packets."""
    if isinstance(blob, str):
        return "-----BEGIN " in blob
    head = blob.lstrip()[:1]
    # Binary OpenPGP data starts with a packet header, whose high bit is always set; text never does.
    return bool(head) and not head[0] & 0x80 and b"-----BEGIN " in blob


def load_keys(blob: bytes | str, where: str = "key") -> list[PublicKey]:
    """Public keys from armoured text (one or more blocks) or binary data (a key or a keyring)."""
    if isinstance(blob, str) or is_armored(blob):
        text = blob.decode("utf-8", "replace") if isinstance(blob, bytes) else blob
        return [key for data in dearmor(text, where) for key in parse_keys(data, where)]
    if blob and not blob[0] & 0x80:
        raise OpenPGPKeyError(f"{where}: is neither ASCII-armoured ('-----BEGIN {PUBLIC_KEY_BLOCK}-----') nor binary "
                              "OpenPGP data; accepted: public keys as 'gpg --armor --export' or 'gpg --export' write "
                              "them")
    return parse_keys(blob, where)


def unique_keys(keys: Iterable[PublicKey]) -> list[PublicKey]:
    """Keys in order, each primary fingerprint once (the first copy wins)."""
    seen: set[str] = set()
    out = []
    for key in keys:
        if key.fingerprint not in seen:
            seen.add(key.fingerprint)
            out.append(key)
    return out


def keyring(keys: Iterable[PublicKey], comments: Sequence[str] = ()) -> str:
    """One armoured block holding every key: any of them verifies, as one ``keyPath`` file of a signedBy rule."""
    return armor(b"".join(key.data for key in unique_keys(keys)), comments)
