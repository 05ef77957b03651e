"""Debian root filesystems for testbed hosts, built with debootstrap and cached by recipe digest."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import subprocess
from pathlib import Path

SUITE = "bookworm"
CACHE_DIR = Path(os.environ.get("CHTB_CACHE", "/var/cache/containerhost-testbed"))
# Several testbeds can run side by side on one machine under different instance names
# (CHTB_INSTANCE, with their own CHTB_SUBNET and CHTB_VM_PORT_BASE); images are shared.
INSTANCE = os.environ.get("CHTB_INSTANCE", "chtb")


def log(msg: str) -> None:
    """Progress line on stderr, so stdout stays machine-readable."""
    print(f"testbed: {msg}", file=sys.stderr, flush=True)


def run(argv: list[str], check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    """Run a command, failing loudly with its stderr."""
    kwargs.setdefault("text", True)
    try:
        return subprocess.run(argv, check=check, **kwargs)
    except subprocess.CalledProcessError as exc:
        detail = (exc.stderr or exc.stdout or "").strip()[-2000:]
        raise SystemExit(f"testbed: command failed ({exc.returncode}): {' '.join(argv)}\n{detail}") from None


def apt_sources_text() -> str:
    """Concatenated apt source definitions of this machine."""
    texts = []
    for path in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        if path.is_file() and path.suffix in ("", ".list", ".sources"):
            texts.append(path.read_text(errors="replace"))
    return "\n".join(texts)


def parse_debian_mirror(sources: str, suite: str = SUITE) -> str | None:
    """The first plain Debian archive URI serving ``suite`` main, from one-line or deb822 sources."""
    for line in sources.splitlines():
        match = re.match(r"^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s+(.*)$", line)
        if match and match.group(2) == suite and "main" in match.group(3).split():
            return match.group(1)
    for stanza in re.split(r"\n\s*\n", sources):
        fields = {}
        for line in stanza.splitlines():
            if ":" in line and not line.lstrip().startswith("#"):
                key, value = line.split(":", 1)
                fields[key.strip().lower()] = value.strip()
        if "deb" in fields.get("types", "").split() and suite in fields.get("suites", "").split() \
                and "main" in fields.get("components", "").split():
            return fields["uris"].split()[0]
    return None


def mirror() -> str:
    """The Debian mirror debootstrap uses: CHTB_MIRROR, else this machine's own apt sources."""
    found = os.environ.get("CHTB_MIRROR") or parse_debian_mirror(apt_sources_text())
    if not found:
        raise SystemExit(f"testbed: no apt source for Debian {SUITE} main found; set CHTB_MIRROR")
    return found


def recipe_digest(recipe: dict) -> str:
    """Short stable digest of a build recipe: a changed recipe means a rebuild."""
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def debootstrap(target: Path, include: list[str], variant: str = "minbase") -> None:
    """Build a Debian root filesystem into ``target`` (replaced atomically on success)."""
    partial = target.with_name(target.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    partial.parent.mkdir(parents=True, exist_ok=True)
    log(f"debootstrap {SUITE} into {target} ({len(include)} extra packages)")
    run(["debootstrap", f"--variant={variant}", f"--include={','.join(include)}", SUITE, str(partial), mirror()],
        capture_output=True)
    # Keep the image small and the first boot quiet.
    run(["chroot", str(partial), "apt-get", "clean"], capture_output=True)
    for leftover in ("etc/machine-id", "var/lib/dbus/machine-id"):
        path = partial / leftover
        if path.exists() or path.is_symlink():
            path.unlink()
    (partial / "etc/machine-id").write_text("")
    if target.exists():
        shutil.rmtree(target)
    partial.rename(target)


def cached_rootfs(kind: str, include: list[str], extra_recipe: dict | None = None) -> tuple[Path, str]:
    """A cached rootfs for ``kind`` built from its recipe; returns its path and recipe digest."""
    recipe = {"suite": SUITE, "include": sorted(include), "kind": kind, **(extra_recipe or {})}
    digest = recipe_digest(recipe)
    target = CACHE_DIR / f"{kind}-{digest}" / "rootfs"
    if not (target / "usr/bin/python3").exists():
        debootstrap(target, include)
        (target.parent / "recipe.json").write_text(json.dumps(recipe, indent=2, sort_keys=True))
    return target, digest
