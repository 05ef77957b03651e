# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Action plugin for the etcd role: a small CA and the member and client certificates, on the controller.

Private to the collection (used by roles/etcd). Reads the PKI directory, keeps every certificate that still fits
and issues the rest; in check mode nothing is written and new certificates exist only in the result.
"""

from __future__ import annotations

import datetime
import os
import re
import tempfile
import typing as t

from pathlib import Path

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.containerhost.platform.plugins.plugin_utils import _pki

ARGUMENT_SPEC = {
    "dir": {"type": "path", "required": True},
    "members": {"type": "list", "elements": "dict", "required": True},
    "client_name": {"type": "str", "default": "etcd-client"},
    "ca_name": {"type": "str", "default": "etcd-ca"},
    "days": {"type": "int", "default": 3650},
}
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_RESERVED = frozenset(("ca", _pki.CLIENT))


def _read_dir(directory: Path) -> dict[str, bytes]:
    """The PKI files present in the directory."""
    if not directory.is_dir():
        return {}
    return {path.name: path.read_bytes() for path in directory.iterdir()
            if path.is_file() and path.suffix in (".crt", ".key")}


def _write(directory: Path, name: str, content: bytes) -> None:
    """Write one file atomically, keys and certificates 0600 (the directory is private too)."""
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.chmod(tmp, 0o600)
        os.replace(tmp, directory / name)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class ActionModule(ActionBase):
    """Create or reuse the etcd CA and certificates on the controller; return them as PEM text."""

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(ARGUMENT_SPEC)
    _requires_connection = False
    _supports_check_mode = True

    def run(self, tmp: str | None = None, task_vars: dict[str, t.Any] | None = None) -> dict[str, t.Any]:
        """Plan the PKI directory, write it unless in check mode, and return every certificate and key."""
        result = super().run(tmp, task_vars or {})
        del tmp
        if _pki.CRYPTOGRAPHY_IMPORT_ERROR is not None:
            raise AnsibleActionFail(f"the Python package cryptography is needed on the controller: "
                                    f"{_pki.CRYPTOGRAPHY_IMPORT_ERROR}")
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        members = []
        for entry in args["members"]:
            name = str(entry.get("name", ""))
            if not _NAME_RE.match(name) or name in _RESERVED:
                raise AnsibleActionFail(f"members: {name!r} is not a usable member name (letters, digits, '.', '_', "
                                        f"'-'; not {', '.join(sorted(_RESERVED))})")
            dns, ips = _pki.split_addresses([str(a) for a in entry.get("addresses", [])])
            members.append(_pki.Member(name, dns, ips))
        if len({m.name for m in members}) != len(members):
            raise AnsibleActionFail("members: member names must be unique")

        directory = Path(args["dir"])
        now = datetime.datetime.now(datetime.timezone.utc)
        files, changed = _pki.plan(_read_dir(directory), members, args["client_name"], args["ca_name"], args["days"],
                                   now)
        if changed and not self._task.check_mode:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            for name in changed:
                _write(directory, name, files[name])

        text = {name: content.decode("ascii") for name, content in files.items()}
        result.update(
            changed=bool(changed),
            files_changed=changed,
            dir=str(directory),
            ca_cert=text[_pki.CA_CERT],
            client={"cert": text[f"{_pki.CLIENT}.crt"], "key": text[f"{_pki.CLIENT}.key"]},
            members={m.name: {"cert": text[f"{m.name}.crt"], "key": text[f"{m.name}.key"]} for m in members},
        )
        return result
