# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Private to the collection: not a public API and may change without notice.

from __future__ import annotations


class ModuleDocFragment:
    """How the etcd modules reach etcd (module_utils/_etcdctl.py CONNECTION_OPTIONS)."""

    DOCUMENTATION = r"""
options:
  endpoints:
    description: The etcd client URLs to talk to.
    type: list
    elements: str
    default: [http://127.0.0.1:2379]
  ca_cert:
    description: CA certificate file that signed the servers' certificates (C(etcdctl --cacert)).
    type: path
  client_cert:
    description: Client certificate file for client-certificate authentication (C(etcdctl --cert)).
    type: path
  client_key:
    description: Private key file of O(client_cert) (C(etcdctl --key)).
    type: path
  executable:
    description: The etcdctl binary, a name looked up in C(PATH) or a path.
    type: str
    default: etcdctl
  dial_timeout:
    description: Seconds to wait for a connection to an endpoint (C(etcdctl --dial-timeout)).
    type: int
    default: 5
  command_timeout:
    description: Seconds one etcdctl request may take (C(etcdctl --command-timeout)).
    type: int
    default: 15
"""
