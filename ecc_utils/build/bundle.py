"""A finished build's results as one archive, for readers without the time to train.

``python -m ecc_utils.build.bundle pack --profile quick`` (``make bundle``) packs
``artifacts/<profile>/`` (the manifest with every step's fingerprint included) and the executed
notebooks of ``book/generated/<profile>/`` into ``dist/ecc-<profile>-<commit>.tar.gz``, with
``BUNDLE.json``: the profile, the commit, and the sha256 of every file. It packs only a
finished build (every step of the plan ran and is up to date) of a clean checkout, so the
commit names the code that computed it.

``python -m ecc_utils.build.bundle unpack SRC --profile quick`` (``make book BUNDLE=SRC``)
takes a path or a URL, refuses a bundle of another profile or commit (saying which), checks
every file's hash, and puts the results in place (an existing build is kept as
``artifacts/<profile>.previous``); the pipeline then finds every step up to date and only
builds the book.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from pathlib import Path, PurePosixPath

from ecc_utils.build.layout import Layout

INDEX = "BUNDLE.json"


class BundleError(RuntimeError):
    """A bundle that cannot be packed or used; the message says why."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def commit_of(root: Path) -> tuple[str, bool]:
    """(HEAD's commit, whether the tracked files differ from it) of the checkout at `root`."""

    def git(*args: str) -> str:
        r = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
        if r.returncode:
            raise BundleError(f"{root}: not a git checkout ({r.stderr.strip()})")
        return r.stdout.strip()

    return git("rev-parse", "HEAD"), bool(git("status", "--porcelain", "--untracked-files=no"))


def _members(layout: Layout) -> dict[str, Path]:
    """The files a bundle holds, by their path relative to the project root."""
    out = {}
    for folder in (layout.artifacts, layout.generated):
        for f in sorted(p for p in folder.rglob("*") if p.is_file()):
            out[f.relative_to(layout.root).as_posix()] = f
    return out


def pack(layout: Layout, out_dir: Path) -> Path:
    """Write the bundle of `layout`'s finished build into `out_dir`; returns its path."""
    from ecc_utils.build.pipeline import stale_steps

    commit, dirty = commit_of(layout.root)
    if dirty:
        raise BundleError("the checkout has uncommitted changes: commit them and build again, "
                          "so that the bundle's commit names the code that computed it")  # fmt: skip
    stale = stale_steps(layout)
    if stale:
        raise BundleError(f"the {layout.profile} build is not finished: {stale[0][0]} would run "
                          f"({'; '.join(stale[0][1])}); run make book first")  # fmt: skip
    files = _members(layout)
    index = {"profile": layout.profile, "commit": commit,
             "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
             "files": {name: _sha256(f) for name, f in files.items()}}  # fmt: skip
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"ecc-{layout.profile}-{commit[:12]}.tar.gz"
    tmp = target.with_name(target.name + ".tmp")
    with tarfile.open(tmp, "w:gz") as tar:
        data = json.dumps(index, indent=1).encode()
        info = tarfile.TarInfo(INDEX)
        info.size, info.mtime = len(data), int(time.time())
        tar.addfile(info, io.BytesIO(data))
        for name, f in files.items():
            tar.add(f, arcname=name, recursive=False)
    tmp.replace(target)
    return target


def fetch(src: str, dest: Path) -> Path:
    """`src` (a path, or a ``file:``, ``http:`` or ``https:`` URL) as a local file."""
    if "://" not in src:
        p = Path(src).expanduser()
        if not p.is_file():
            raise BundleError(f"BUNDLE={src}: no such file")
        return p
    target = dest / "bundle.tar.gz"
    try:
        with urllib.request.urlopen(src, timeout=60) as r, target.open("wb") as f:
            shutil.copyfileobj(r, f)
    except OSError as e:
        raise BundleError(f"BUNDLE={src}: could not download it ({e})") from e
    return target


def _safe(name: str) -> bool:
    p = PurePosixPath(name)
    return not p.is_absolute() and ".." not in p.parts


def unpack(src: str, layout: Layout) -> dict:
    """Check the bundle at `src` against this checkout and profile and put its files in
    place; returns its index. Nothing is changed when a check fails."""
    commit, _ = commit_of(layout.root)
    with tempfile.TemporaryDirectory(dir=layout.root) as d:
        tmp = Path(d)
        with tarfile.open(fetch(src, tmp), "r:gz") as tar:
            try:
                index = json.loads(tar.extractfile(INDEX).read())  # type: ignore[union-attr]
            except (KeyError, AttributeError, json.JSONDecodeError) as e:
                raise BundleError(f"BUNDLE={src}: no readable {INDEX} in it") from e
            if index.get("profile") != layout.profile:
                raise BundleError(f"BUNDLE={src}: a bundle of profile {index.get('profile')!r}, "
                                  f"not {layout.profile!r}")  # fmt: skip
            if index.get("commit") != commit:
                raise BundleError(f"BUNDLE={src}: made at commit {str(index.get('commit'))[:12]}, "
                                  f"this checkout is at {commit[:12]}: check out that commit, "
                                  "or build the book here")  # fmt: skip
            names = [m.name for m in tar.getmembers() if m.isfile() and m.name != INDEX]
            if sorted(names) != sorted(index["files"]) or not all(map(_safe, names)):
                raise BundleError(f"BUNDLE={src}: its files are not those {INDEX} lists")
            tar.extractall(tmp / "x", members=[tar.getmember(n) for n in names], filter="data")
        for name, digest in index["files"].items():
            if _sha256(tmp / "x" / name) != digest:
                raise BundleError(f"BUNDLE={src}: {name} does not match its sha256 in {INDEX}")
        for folder in (layout.artifacts, layout.generated):
            if folder.exists():
                previous = folder.with_name(folder.name + ".previous")
                shutil.rmtree(previous, ignore_errors=True)
                folder.rename(previous)
            new = tmp / "x" / folder.relative_to(layout.root)
            folder.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(new), str(folder))
    return index


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ecc_utils.build.bundle",
                                 description=__doc__.splitlines()[0])  # fmt: skip
    ap.add_argument("action", choices=("pack", "unpack"))
    ap.add_argument("src", nargs="?", help="unpack: the bundle's path or URL")
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--root", default=".", help="project root (default: current folder)")
    ap.add_argument("--out", default="dist", help="pack: the folder to write it in")
    a = ap.parse_args(argv)
    layout = Layout(Path(a.root).resolve(), a.profile)
    try:
        if a.action == "pack":
            path = pack(layout, Path(a.out))
            print(f"{path} (sha256 {_sha256(path)})")
        else:
            if not a.src:
                ap.error("unpack needs the bundle's path or URL")
            index = unpack(a.src, layout)
            print(f"unpacked {len(index['files'])} files of the {a.profile} build at commit "
                  f"{index['commit'][:12]} ({index['created']})")  # fmt: skip
    except BundleError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
