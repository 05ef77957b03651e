"""After every step of the images scenario: no image left on the hosts, and no registry password in any output."""

from __future__ import annotations

import base64
import os
import sys
from pathlib import Path

from testinfra.utils.ansible_runner import AnsibleRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# pylint: disable=wrong-import-position
from scenario import EPHEMERAL, REGISTRY, WRONG_PASSWORD  # noqa: E402

RUNNER = AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"])
testinfra_hosts = RUNNER.get_hosts("all")

LOG = Path(os.environ.get("ANSIBLE_LOG_PATH") or EPHEMERAL / "ansible.log")
# Each password as it is typed and as an auth file stores it (base64 of user:password).
SECRETS = {
    "registry password": REGISTRY["password"],
    "wrong password": WRONG_PASSWORD,
    "registry credentials (auth file form)": base64.b64encode(
        f"{REGISTRY['username']}:{REGISTRY['password']}".encode()).decode(),
    "wrong credentials (auth file form)": base64.b64encode(
        f"{REGISTRY['username']}:{WRONG_PASSWORD}".encode()).decode(),
}


def test_no_image_is_left(host):
    assert host.check_output("podman images --all --quiet") == ""


def test_the_playbook_log_shows_the_auth_steps_but_no_password():
    text = LOG.read_text(encoding="utf-8", errors="replace")
    # The log really holds the auth steps, the failed one included: otherwise the next assertion proves nothing.
    assert "Auth | Pull with the right credentials" in text
    assert "Auth | Pull with a wrong password" in text
    leaked = [label for label, secret in SECRETS.items() if secret in text]
    assert not leaked, f"{leaked} in {LOG}"


def test_the_hosts_journal_shows_the_module_runs_but_no_password(host):
    journal = host.check_output("journalctl --no-pager --output=cat")
    # Ansible modules log their arguments to the journal, no_log ones masked: the runs with credentials are there.
    assert f"username={REGISTRY['username']}" in journal
    assert "password=NOT_LOGGING_PARAMETER" in journal
    leaked = [label for label, secret in SECRETS.items() if secret in journal]
    assert not leaked, f"{leaked} in the journal"
