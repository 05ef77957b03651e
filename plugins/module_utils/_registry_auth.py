# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Private to the collection: not a public API and may change without notice.

"""Registry credentials for podman and skopeo without putting them on a command line.

A username and password become a temporary auth file (containers-auth.json(5) format) readable by root only,
in a private directory that is removed when the task ends; the engines get ``--authfile``. The password and its
base64 ``user:password`` form are registered as no_log values so that no output shows them.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import tempfile
import typing as t

from ansible_collections.containerhost.platform.plugins.module_utils._podman import RegistryOptions

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from ansible.module_utils.basic import AnsibleModule


def basic_auth(username: str, password: str) -> str:
    """The ``auth`` value of an auth file: base64 of ``username:password``."""
    return base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


def secret_values(username: str | None, password: str | None) -> list[str]:
    """Strings no output may show: the password and the base64 form of the credentials (also URL-safe)."""
    if not password:
        return []
    values = [password]
    if username is not None:
        encoded = basic_auth(username, password)
        values += [encoded, encoded.rstrip("="), base64.urlsafe_b64encode(f"{username}:{password}".encode()).decode()]
    return list(dict.fromkeys(values))


def auth_file_content(registries: Iterable[str], username: str, password: str) -> str:
    """The auth file JSON giving the same credentials for every registry (``host[:port]``)."""
    auth = basic_auth(username, password)
    return json.dumps({"auths": {registry: {"auth": auth} for registry in sorted(set(registries))}}, indent=2) + "\n"


class TemporaryAuthFile:
    """A 0600 auth file in a 0700 directory of its own, removed on exit (also when the task fails)."""

    def __init__(self, registries: Iterable[str], username: str, password: str, tmpdir: str | None = None) -> None:
        self.registries = sorted(set(registries))
        self._content = auth_file_content(self.registries, username, password)
        self._tmpdir = tmpdir
        self.directory: str | None = None
        self.path: str | None = None

    def __enter__(self) -> TemporaryAuthFile:
        self.directory = tempfile.mkdtemp(prefix="containerhost-auth-", dir=self._tmpdir)
        os.chmod(self.directory, 0o700)
        self.path = os.path.join(self.directory, "auth.json")
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(self._content)
        return self

    def __exit__(self, *exc_info: t.Any) -> None:
        self.cleanup()

    def cleanup(self) -> None:
        """Remove the file and its directory."""
        if self.directory:
            shutil.rmtree(self.directory, ignore_errors=True)
        self.directory = self.path = None


def registry_argument_spec() -> dict[str, t.Any]:
    """The registry access options the image modules share."""
    return {
        "auth_file": {"type": "path"},
        "username": {"type": "str"},
        "password": {"type": "str", "no_log": True},
        "validate_certs": {"type": "bool", "default": True},
        "ca_cert_dir": {"type": "path"},
    }


REGISTRY_MUTUALLY_EXCLUSIVE = [("auth_file", "username"), ("auth_file", "password")]
REGISTRY_REQUIRED_TOGETHER = [("username", "password")]


def access_problems(params: Mapping[str, t.Any]) -> list[str]:
    """Paths of the registry options that do not exist on the host, as messages (checked before anything runs)."""
    problems = []
    if params.get("auth_file") and not os.path.isfile(params["auth_file"]):
        problems.append(f"auth_file: {params['auth_file']} is not a file on the host")
    if params.get("ca_cert_dir") and not os.path.isdir(params["ca_cert_dir"]):
        problems.append(f"ca_cert_dir: {params['ca_cert_dir']} is not a directory on the host (it holds *.crt CA "
                        "files, and client *.cert/*.key pairs)")
    return problems


class RegistryAccess:
    """Registry options for a task: the given auth file, or a temporary one from username and password.

    Use as a context manager; the secrets are registered with ``module.no_log_values`` on creation.
    """

    def __init__(self, module: AnsibleModule, registries: Iterable[str]) -> None:
        self.module = module
        params = module.params
        self.username = params.get("username")
        self.password = params.get("password")
        module.no_log_values.update(secret_values(self.username, self.password))
        self.registries = sorted(set(registries))
        self._temporary: TemporaryAuthFile | None = None
        self.options = RegistryOptions(params.get("auth_file"), params.get("validate_certs", True),
                                       params.get("ca_cert_dir"))

    def __enter__(self) -> RegistryOptions:
        if self.username is not None and self.password is not None:
            self._temporary = TemporaryAuthFile(self.registries, self.username, self.password)
            self._temporary.__enter__()
            self.options.auth_file = self._temporary.path
        return self.options

    def __exit__(self, *exc_info: t.Any) -> None:
        if self._temporary is not None:
            self._temporary.cleanup()
            self._temporary = None
