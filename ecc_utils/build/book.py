"""The book: the profile's table of contents, its pages, and Jupyter Book's build, skipped
when its sources did not change."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ecc_utils import artifacts as A
from ecc_utils.build.layout import Layout, PipelineError, data_source
from ecc_utils.build.plan import Step
from ecc_utils.provenance.fingerprints import hash_paths
from ecc_utils.records import atomic_write_text


def render_toc(layout: Layout, plan: list[Step]) -> Path:
    """Write the profile's table of contents from the template `book/_toc.yml`.

    The template names executed notebooks as `generated/{profile}/<key>`; a step that is not in
    this profile's plan (say, a PEFT method the profile leaves out) is dropped from the toc.
    """
    import yaml

    template = yaml.safe_load((layout.root / "book" / "_toc.yml").read_text(encoding="utf-8"))
    keys = {s.key for s in plan}
    prefix = "generated/{profile}/"

    pages = {Path(name).stem for name in PROFILE_PAGES}

    def keep(entry) -> bool:
        f = entry.get("file", "")
        return not f.startswith(prefix) or f[len(prefix) :] in keys | pages

    def fill(node):
        if isinstance(node, dict):
            out = {}
            for k, v in node.items():
                if k in ("chapters", "sections"):
                    v = [fill(e) for e in v if keep(e)]
                    if not v:
                        continue
                elif isinstance(v, str):
                    v = v.replace("{profile}", layout.profile)
                else:
                    v = fill(v)
                out[k] = v
            return out
        if isinstance(node, list):
            return [fill(e) for e in node if not isinstance(e, dict) or keep(e)]
        return node

    toc = fill(template)
    path = layout.generated / "_toc.yml"
    atomic_write_text(path, yaml.safe_dump(toc, sort_keys=False, allow_unicode=True))
    return path


# Pages written once for every profile that link to its executed notebooks: the pipeline
# copies them from book/ next to those notebooks (book/generated/<profile>/).
PROFILE_PAGES = ("course.md", "paper_scale.md")


def copy_profile_pages(layout: Layout) -> None:
    for name in PROFILE_PAGES:
        text = (layout.root / "book" / name).read_text(encoding="utf-8")
        atomic_write_text(layout.generated / name, text)


def book_sources(layout: Layout) -> list[Path]:
    """What the profile's HTML is built from: the pages and extension under book/ (of the
    generated pages, this profile's only), _config.yml, and the figure files that pages show
    by ``{artifact-figure}`` (drawn by another step than the page's)."""
    book = layout.root / "book"
    pages = [p for p in sorted(book.iterdir()) if p.name != "generated"]
    figures = layout.artifacts / A.rel("figures")
    return [*pages, layout.generated, layout.root / "_config.yml", figures]


def data_notice(art: Path) -> str:
    """What every page of the book says first about the run's data (`book/_ext`): the
    synthetic corpus's notice when the data stage used it, else nothing."""
    return A.SYNTHETIC_NOTICE if data_source(art).get("kind") == "synthetic" else ""


def build_book(layout: Layout, plan: list[Step], *, force: bool = False) -> tuple[Path, bool]:
    """Build the book with Jupyter Book 1 (strict: warnings are errors); returns the HTML dir
    and whether it was built. The HTML is kept when it was last built for this profile from
    sources with the same content hash (`book_sources`) and `force` is not set."""
    copy_profile_pages(layout)
    toc = render_toc(layout, plan)
    html = layout.root / "_build" / "html"
    stamp = layout.root / "_build" / "ecc_book_sources.json"
    notice = data_notice(layout.artifacts)
    sources = {"profile": layout.profile, "notice": notice,
               "sources": hash_paths(book_sources(layout), base=layout.root)}  # fmt: skip
    if not force and (html / "index.html").is_file() and stamp.is_file():
        try:
            if json.loads(stamp.read_text(encoding="utf-8")) == sources:
                return html, False
        except json.JSONDecodeError:
            pass
    stamp.unlink(missing_ok=True)
    cmd = [
        sys.executable,
        "-c",
        "from jupyter_book.cli.main import main; main()",
        "build",
        str(layout.root / "book"),
        "--config",
        str(layout.root / "_config.yml"),
        "--toc",
        str(toc),
        "--path-output",
        str(layout.root),
        "-W",
        "-n",
        "--keep-going",
    ]
    env = dict(os.environ, ECC_BOOK_NOTICE=notice)  # every page opens with it (book/_ext)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-40:])
        raise PipelineError(f"book build failed (jupyter-book exit {proc.returncode}):\n{tail}")
    atomic_write_text(stamp, json.dumps(sources))
    return html, True
