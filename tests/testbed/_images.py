"""Test images built from Debian packages, and pushing them to the testbed's registries.

busybox: busybox-static's binary (extracted from the package, fetched with ``apt-get download`` into the image
cache) with its applet links, a small /etc and a file naming the image's variant, so every variant has its own
digest. It is imported into the controller's podman storage as localhost/chtest/busybox:<variant>, with labels,
environment, an exposed port and a command, and rebuilt only when its recipe changes.

etcd: Debian's etcd-server (/usr/bin/etcd) with the C library it links against (libc6) and busybox-static for a
shell, imported as localhost/chtest/etcd:<variant>. It is a system container image in atomic's layout:
/exports/config.json.template (a partial OCI runtime config whose ``$NAME`` values are filled in at install) and
/exports/manifest.json (their default values). A variant whose name starts with ``bad`` has an entrypoint and a
template command that exit 1 at once, for failed-start tests.
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
ETCD_REPO = "localhost/chtest/etcd"
REPOS = {"busybox": IMAGE_REPO, "etcd": ETCD_REPO}
PACKAGE = "busybox-static"
# etcd is linked against the C library, and busybox gives the image a shell for tests (sh, touch, cat).
ETCD_PACKAGES = ("etcd-server", "libc6", PACKAGE)
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


def image_ref(variant: str, kind: str = "busybox") -> str:
    """The controller's local name of a variant of the busybox or etcd image."""
    if kind not in REPOS:
        raise SystemExit(f"testbed: unknown test image {kind!r}; known: {', '.join(REPOS)}")
    return f"{REPOS[kind]}:{check_variant(variant)}"


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


def package_file(package: str = PACKAGE) -> Path:
    """A package's .deb in the cache (busybox-static by default), fetched with apt-get download when none is there."""
    DEB_DIR.mkdir(parents=True, exist_ok=True)
    found = sorted(DEB_DIR.glob(f"{package}_*.deb"))
    if not found:
        log(f"apt-get download {package}")
        result = run(["apt-get", "download", package], check=False, capture_output=True, cwd=DEB_DIR)
        if result.returncode != 0:
            # A fresh machine may have no package lists yet: fetch them once and try again.
            log("apt-get download failed; apt-get update and one more try")
            run(["apt-get", "update", "-q"], check=False, capture_output=True)
            result = run(["apt-get", "download", package], check=False, capture_output=True, cwd=DEB_DIR)
        found = sorted(DEB_DIR.glob(f"{package}_*.deb"))
        if not found:
            raise SystemExit(f"testbed: apt-get download {package} failed:\n{result.stderr.strip()[-1000:]}")
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


def build(variant: str, kind: str = "busybox") -> str:
    """Build (or reuse) one variant of the busybox or etcd image in the controller's storage; returns its name."""
    image_ref(variant, kind)
    if kind == "etcd":
        return build_etcd(variant)
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
        import_tree(root, ref, f"chtest busybox {variant}", changes(variant, digest))
    return ref


def import_tree(root: Path, ref: str, message: str, instructions: list[str]) -> None:
    """Import a directory tree as a one-layer image (a reproducible tar: sorted names, fixed owners and times)."""
    tar = subprocess.Popen(["tar", "-C", str(root), "--sort=name", "--mtime=@0", "--owner=0", "--group=0",
                            "--numeric-owner", "-c", "."], stdout=subprocess.PIPE)
    argv = ["podman", "import", "--quiet", "--message", message]
    for change in instructions:
        argv += ["--change", change]
    run([*argv, "-", ref], stdin=tar.stdout, capture_output=True)
    assert tar.stdout is not None
    tar.stdout.close()
    if tar.wait() != 0:
        raise SystemExit(f"testbed: tar of image {ref} failed")


# ---------------------------------------------------------------------------------------------------------------------
# etcd as a system container image

ETCD_DATA_DIR = "/var/lib/etcd"
# Values the template uses and their defaults (atomic's /exports/manifest.json "defaultValues"): a single member
# on loopback, which host networking makes reachable from the host.
ETCD_DEFAULT_VALUES = {
    "ETCD_NAME": "default",
    "ETCD_CLIENT_URLS": "http://127.0.0.1:2379",
    "ETCD_PEER_URLS": "http://127.0.0.1:2380",
}
ETCD_ETC_FILES = {
    **ETC_FILES,
    "etc/nsswitch.conf": "passwd: files\ngroup: files\nhosts: files dns\n",
    "etc/hosts": "127.0.0.1 localhost\n::1 localhost\n",
}
BAD_COMMAND = ["/bin/sh", "-c", "echo 'chtest etcd: this image is broken on purpose' >&2; exit 1"]


def is_bad(variant: str) -> bool:
    """Whether a variant is the one that fails to start."""
    return variant.startswith("bad")


def etcd_command(variant: str) -> list[str]:
    """What the container runs: etcd, or a command that exits 1 for a bad variant."""
    return list(BAD_COMMAND) if is_bad(variant) else ["/usr/bin/etcd"]


def etcd_template(variant: str) -> dict:
    """/exports/config.json.template: the process of an etcd system container, configured by values.

    etcd reads its settings from ETCD_* variables; a flag and a variable for the same setting make it refuse to start,
    so the template sets variables only.
    """
    return {
        "process": {
            "args": etcd_command(variant),
            "env": [
                "ETCD_NAME=$ETCD_NAME",
                f"ETCD_DATA_DIR={ETCD_DATA_DIR}",
                "ETCD_LISTEN_CLIENT_URLS=$ETCD_CLIENT_URLS",
                "ETCD_ADVERTISE_CLIENT_URLS=$ETCD_CLIENT_URLS",
                "ETCD_LISTEN_PEER_URLS=$ETCD_PEER_URLS",
                "ETCD_INITIAL_ADVERTISE_PEER_URLS=$ETCD_PEER_URLS",
                "ETCD_INITIAL_CLUSTER=$ETCD_NAME=$ETCD_PEER_URLS",
            ],
            "cwd": "/",
        },
        "annotations": {VARIANT_LABEL: variant},
    }


def etcd_manifest() -> dict:
    """/exports/manifest.json: the default values of the template."""
    return {"version": "1.0", "defaultValues": dict(ETCD_DEFAULT_VALUES)}


def etcd_changes(variant: str, recipe_text: str) -> list[str]:
    """The ``podman import --change`` instructions of an etcd variant (used as is by engines without the template)."""
    defaults = ETCD_DEFAULT_VALUES
    return [
        f"LABEL {VARIANT_LABEL}={variant}",
        f"LABEL {RECIPE_LABEL}={recipe_text}",
        "LABEL org.opencontainers.image.title=chtest-etcd",
        "LABEL atomic.type=system",
        "ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin",
        f"ENV CHTEST_VARIANT={variant}",
        f"ENV ETCD_NAME={defaults['ETCD_NAME']}",
        f"ENV ETCD_DATA_DIR={ETCD_DATA_DIR}",
        f"ENV ETCD_LISTEN_CLIENT_URLS={defaults['ETCD_CLIENT_URLS']}",
        f"ENV ETCD_ADVERTISE_CLIENT_URLS={defaults['ETCD_CLIENT_URLS']}",
        f"ENV ETCD_LISTEN_PEER_URLS={defaults['ETCD_PEER_URLS']}",
        f"ENV ETCD_INITIAL_ADVERTISE_PEER_URLS={defaults['ETCD_PEER_URLS']}",
        f"ENV ETCD_INITIAL_CLUSTER={defaults['ETCD_NAME']}={defaults['ETCD_PEER_URLS']}",
        "EXPOSE 2379/tcp",
        "EXPOSE 2380/tcp",
        "WORKDIR /",
        f"ENTRYPOINT {json.dumps(etcd_command(variant))}",
    ]


def etcd_recipe(variant: str, debs: list[Path]) -> str:
    """Digest of everything that goes into an etcd variant."""
    return recipe_digest({"kind": "etcd", "variant": variant, "debs": [file_digest(deb) for deb in debs],
                          "files": ETCD_ETC_FILES, "template": etcd_template(variant), "manifest": etcd_manifest(),
                          "changes": etcd_changes(variant, ""), "version": BUILD_VERSION})


def build_etcd(variant: str) -> str:
    """Build (or reuse) one etcd variant in the controller's storage; returns its local name."""
    ref = image_ref(variant, "etcd")
    debs = [package_file(package) for package in ETCD_PACKAGES]
    digest = etcd_recipe(variant, debs)
    if existing_recipe(ref) == digest:
        return ref
    log(f"building image {ref}")
    with tempfile.TemporaryDirectory(prefix="chtest-", dir=CACHE_DIR) as workdir:
        extracted = {}
        for package, deb in zip(ETCD_PACKAGES, debs):
            extracted[package] = Path(workdir) / package
            run(["dpkg-deb", "-x", str(deb), str(extracted[package])], capture_output=True)
        root = Path(workdir) / "rootfs"
        for directory, mode in (("bin", 0o755), ("usr/bin", 0o755), ("etc/chtest", 0o755), ("exports", 0o755),
                                ("root", 0o700), ("tmp", 0o1777), ("run", 0o755), ("var/lib/etcd", 0o700),
                                ("proc", 0o555), ("sys", 0o555), ("dev", 0o755)):
            (root / directory).mkdir(parents=True, exist_ok=True)
            (root / directory).chmod(mode)
        shutil.copy2(extracted["etcd-server"] / "usr/bin/etcd", root / "usr/bin/etcd")
        # The dynamic loader and the libraries of libc6 (lib/ and lib64/ of the package, not its locale data).
        for top in ("lib", "lib64"):
            if (extracted["libc6"] / top).is_dir():
                shutil.copytree(extracted["libc6"] / top, root / top, symlinks=True, dirs_exist_ok=True)
        shutil.copy2(extracted[PACKAGE] / "bin/busybox", root / "bin/busybox")
        listing = run([str(root / "bin/busybox"), "--list-full"], capture_output=True).stdout
        for rel in applet_links(listing):
            link = root / rel
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.exists() and not link.is_symlink():
                link.symlink_to("/bin/busybox")
        for rel, content in ETCD_ETC_FILES.items():
            (root / rel).write_text(content)
        (root / "etc/chtest/variant").write_text(f"{variant}\n")
        (root / "exports/config.json.template").write_text(json.dumps(etcd_template(variant), indent=2) + "\n")
        (root / "exports/manifest.json").write_text(json.dumps(etcd_manifest(), indent=2) + "\n")
        import_tree(root, ref, f"chtest etcd {variant}", etcd_changes(variant, digest))
    return ref


def auth_file_text(registry: str, username: str, password: str) -> str:
    """A containers-auth.json(5) document with one registry's credentials."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return json.dumps({"auths": {registry: {"auth": token}}}) + "\n"


def push(variant: str, destination: str, registry: dict, *, auth: bool = False, work_dir: Path,
         kind: str = "busybox") -> dict:
    """Copy a variant (of the busybox or etcd image) from the controller's storage to ``registry``/``destination``.

    ``registry`` is the testbed_registry description; ``destination`` is repository:tag inside the registry.
    The copy uses a policy of its own (accept anything) and no registries.d, so the controller's configuration
    does not matter. Returns the pushed reference and manifest digest.
    """
    if not re.match(r"^[a-z0-9]+([._/-][a-z0-9]+)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$", destination):
        raise SystemExit(f"testbed: destination {destination!r} must be repository[:tag] inside the registry")
    source = build(variant, kind)
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
