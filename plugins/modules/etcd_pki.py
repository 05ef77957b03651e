# Copyright: contributors to containerhost.platform
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Documentation only: the work is done on the controller by plugins/action/etcd_pki.py.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: etcd_pki
short_description: A small CA and etcd member and client certificates on the controller
version_added: 0.1.0
description:
  - Creates (or reuses) a CA, one certificate per etcd member (server and client authentication, for clients and
    peers) and one client certificate, in a directory on the controller, with Python C(cryptography).
  - A stored certificate is kept while it is signed by the stored CA, matches its key, names the member's addresses
    and stays valid for more than 30 days; otherwise it is reissued. A new CA reissues everything.
  - Used by the C(containerhost.platform.etcd) role; the host is never contacted.
author:
  - containerhost.platform maintainers (@containerhost)
requirements:
  - cryptography (Python library, on the controller; a dependency of ansible-core)
options:
  dir:
    description: Directory on the controller for the files (created 0700; files 0600).
    type: path
    required: true
  members:
    description:
      - The members, each a dict with C(name) (the certificate's common name and file name) and C(addresses) (IP
        addresses and DNS names for the subject alternative names). Other keys are ignored.
    type: list
    elements: dict
    required: true
  client_name:
    description: Common name of the client certificate.
    type: str
    default: etcd-client
  ca_name:
    description: Common name of a new CA.
    type: str
    default: etcd-ca
  days:
    description: Validity of new certificates in days.
    type: int
    default: 3650
extends_documentation_fragment:
  - containerhost.platform._attributes
  - containerhost.platform._attributes.ACTION_PLUGIN
attributes:
  check_mode:
    support: full
    details: Writes nothing; certificates that would be made exist only in the result.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: Fitting certificates are reused byte for byte.
  platform:
    support: full
    platforms: all
    details: Runs on the controller only.
"""

EXAMPLES = r"""
- name: Certificates for the etcd group
  containerhost.platform.etcd_pki:
    dir: "{{ inventory_dir }}/.etcd-pki"
    members:
      - name: h1
        addresses: [10.0.0.11, 127.0.0.1, localhost]
  run_once: true
  no_log: true
  register: etcd_pki
"""

RETURN = r"""
files_changed:
  description: Names of the files written (or that would be written in check mode).
  returned: always
  type: list
  elements: str
dir:
  description: The directory.
  returned: always
  type: str
ca_cert:
  description: The CA certificate (PEM).
  returned: always
  type: str
members:
  description: Per member name, C(cert) and C(key) (PEM).
  returned: always
  type: dict
client:
  description: The client C(cert) and C(key) (PEM).
  returned: always
  type: dict
"""
