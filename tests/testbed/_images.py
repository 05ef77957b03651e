"""Test images built from Debian packages, and pushing them to the testbed's registries.

An image is busybox-static's binary (extracted from the package, fetched with ``apt-get download`` into the image
cache) with its applet links, a small /etc and a file naming the image's variant, so every variant has its own
digest. It is imported into the controller's podman storage as localhost/chtest/busybox:<variant>, with labels,
environment, an exposed port and a command, and rebuilt only when its recipe changes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from _rootfs import CACHE_DIR, log, recipe_digest, run

IMAGE_REPO = "localhost/chtest/busybox"
PACKAGE = "busybox-static"
DEB_DIR = CACHE_DIR / "debs"
# Bump when the build steps change in a way the recipe does not show.
BUILD_VERSION = 1
RECIPE_LABEL = "io.containerhost.chtest.recipe"
VARIANT_LABEL = "io.containerhost.chtest.variant"
VARIANT_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
# Files of the image besides busybox and its links.
ETC_FILES = {
    "etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    "etc/group": "root:x:0:\nnogroup:x:65534:\n",
}


def check_variant(variant: str) -> str:
    """A variant name usable as an image tag and a file's content, or SystemExit."""
    if not VARIANT_PATTERN.match(variant):
        raise SystemExit(f"testbed: image variant {variant!r} must match {VARIANT_PATTERN.pattern}")
    return variant


def image_ref(variant: str) -> str:
    """The controller's local name of a variant."""
    return f"{IMAGE_REPO}:{check_variant(variant)}"


def changes(variant: str, recipe: str) -> list[str]:
    """The ``podman import --change`` instructions of a variant: labels, environment, port, directory, command."""
    return [
        f"LABEL {VARIANT_LABEL}={variant}",
        f"LABEL {RECIPE_LABEL}={recipe}",
        "LABEL org.opencontainers.image.title=chtest-busybox",
        f"ENV CHTEST_VARIANT={variant}",
        "ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin",
        "EXPOSE 8080/tcp",
        "WORKDIR /",
        'CMD ["/bin/cat", "/etc/chtest/variant"]',
    ]


def applet_links(listing: str) -> list[str]:
    """Relative paths of busybox's applet links from ``busybox --list-full`` (busybox itself and /linuxrc left out)."""
    paths = []
    for line in listing.splitlines():
        path = line.strip().lstrip("/")
        if path and "/" in path and path != "bin/busybox" and ".." not in path.split("/"):
            paths.append(path)
    return sorted(set(paths))


def package_file() -> Path:
    """busybox-static's .deb in the cache, fetched with apt-get download when none is there."""
    DEB_DIR.mkdir(parents=True, exist_ok=True)
    found = sorted(DEB_DIR.glob(f"{PACKAGE}_*.deb"))
    if not found:
        log(f"apt-get download {PACKAGE}")
        result = run(["apt-get", "download", PACKAGE], check=False, capture_output=True, cwd=DEB_DIR)
        if result.returncode != 0:
            # A fresh machine may have no package lists yet: fetch them once and try again.
            log("apt-get download failed; apt-get update and one more try")
            run(["apt-get", "update", "-q"], check=False, capture_output=True)
            result = run(["apt-get", "download", PACKAGE], check=False, capture_output=True, cwd=DEB_DIR)
        found = sorted(DEB_DIR.glob(f"{PACKAGE}_*.deb"))
        if not found:
            raise SystemExit(f"testbed: apt-get download {PACKAGE} failed:\n{result.stderr.strip()[-1000:]}")
    return found[-1]


def file_digest(path: Path) -> str:
    """sha256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def recipe(variant: str, deb: Path) -> str:
    """Digest of everything that goes into a variant."""
    return recipe_digest({"variant": variant, "deb": file_digest(deb), "files": ETC_FILES,
                          "changes": changes(variant, ""), "version": BUILD_VERSION})


def existing_recipe(ref: str) -> str | None:
    """The recipe label of a local image, or None when it does not exist."""
    result = run(["podman", "image", "inspect", "--format", f'{{{{ index .Labels "{RECIPE_LABEL}" }}}}', ref],
                 check=False, capture_output=True)
    return result.stdout.strip() if result.returncode == 0 else None


def build(variant: str) -> str:
    """Build (or reuse) one variant in the controller's storage; returns its local name."""
    ref = image_ref(variant)
    deb = package_file()
    digest = recipe(variant, deb)
    if existing_recipe(ref) == digest:
        return ref
    log(f"building image {ref}")
    with tempfile.TemporaryDirectory(prefix="chtest-", dir=CACHE_DIR) as workdir:
        extracted = Path(workdir) / "deb"
        run(["dpkg-deb", "-x", str(deb), str(extracted)], capture_output=True)
        root = Path(workdir) / "rootfs"
        for directory, mode in (("bin", 0o755), ("etc/chtest", 0o755), ("root", 0o700), ("tmp", 0o1777)):
            (root / directory).mkdir(parents=True, exist_ok=True)
            (root / directory).chmod(mode)
        shutil.copy2(extracted / "bin/busybox", root / "bin/busybox")
        listing = run([str(root / "bin/busybox"), "--list-full"], capture_output=True).stdout
        for rel in applet_links(listing):
            link = root / rel
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.exists():
                link.symlink_to("/bin/busybox")
        for rel, content in ETC_FILES.items():
            (root / rel).write_text(content)
        (root / "etc/chtest/variant").write_text(f"{variant}\n")
        # A reproducible tar: sorted names, fixed owners and times.
        tar = subprocess.Popen(["tar", "-C", str(root), "--sort=name", "--mtime=@0", "--owner=0", "--group=0",
                                "--numeric-owner", "-c", "."], stdout=subprocess.PIPE)
        argv = ["podman", "import", "--quiet", "--message", f"chtest busybox {variant}"]
        for change in changes(variant, digest):
            argv += ["--change", change]
        run([*argv, "-", ref], stdin=tar.stdout, capture_output=True)
        assert tar.stdout is not None
        tar.stdout.close()
        if tar.wait() != 0:
            raise SystemExit(f"testbed: tar of image {ref} failed")
    return ref


def auth_file_text(registry: str, username: str, password: str) -> str:
    """A containers-auth.json(5) document with one registry's credentials."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return json.dumps({"auths": {registry: {"auth": token}}}) + "\n"


def push(variant: str, destination: str, registry: dict, *, auth: bool = False, work_dir: Path) -> dict:
    """Copy a variant from the controller's storage to ``registry``/``destination`` with skopeo.

    ``registry`` is the testbed_registry description; ``destination`` is repository:tag inside the registry.
    The copy uses a policy of its own (accept anything) and no registries.d, so the controller's configuration
    does not matter. Returns the pushed reference and manifest digest.
    """
    if not re.match(r"^[a-z0-9]+([._/-][a-z0-9]+)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$", destination):
        raise SystemExit(f"testbed: destination {destination!r} must be repository[:tag] inside the registry")
    source = build(variant)
    address = registry["auth_registry"] if auth else registry["tls_registry"]
    reference = f"{address}/{destination}"
    work_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    with tempfile.TemporaryDirectory(prefix="push-", dir=work_dir) as tmp:
        policy = Path(tmp) / "policy.json"
        policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}) + "\n")
        registries_d = Path(tmp) / "registries.d"
        registries_d.mkdir()
        digest_file = Path(tmp) / "digest"
        argv = ["skopeo", "--policy", str(policy), "--registries.d", str(registries_d), "copy", "--quiet",
                "--dest-cert-dir", registry["cert_dir"], "--digestfile", str(digest_file)]
        if auth:
            auth_path = Path(tmp) / "auth.json"
            fd = os.open(auth_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(auth_file_text(address, registry["username"], registry["password"]))
            argv += ["--dest-authfile", str(auth_path)]
        run([*argv, f"containers-storage:{source}", f"docker://{reference}"], capture_output=True)
        digest = digest_file.read_text().strip()
    return {"variant": variant, "source": source, "reference": reference, "digest": digest}
