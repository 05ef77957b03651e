"""Stand-in for ansible-test's downloaded pip bootstrap: the same job from the standard library.

ansible-test fetches ``get-pip.py`` from a host this machine cannot reach; this script bootstraps
pip with ``ensurepip`` and then installs the pinned pip (and friends) that ansible-test asks for.
"""

from __future__ import annotations

import ensurepip
import os
import subprocess
import sys

# get-pip.py's own flags say what not to install; pip itself does not know them.
OWN_FLAGS = {"--no-setuptools", "--no-wheel"}

ensurepip.bootstrap(upgrade=True)
args = [arg for arg in sys.argv[1:] if arg not in OWN_FLAGS]
# ansible-test runs this with a trimmed environment: keep trusting the system's CA bundle.
SYSTEM_CA = "/etc/ssl/certs/ca-certificates.crt"
if "PIP_CERT" not in os.environ and os.path.exists(SYSTEM_CA):
    args = ["--cert", SYSTEM_CA, *args]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", "--upgrade", *args]))
