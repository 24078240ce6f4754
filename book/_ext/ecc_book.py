"""Local Sphinx extension of the book: fixes of Jupyter Book 1's HTML that the browser test
of the book would otherwise report, and the figures that computing pages show.

* sphinx-thebe's configuration script is registered twice under Jupyter Book 1, and the
  second copy throws "Identifier 'THEBE_JS_URL' has already been declared" on every page: each
  page's scripts are de-duplicated here (same file, same inline body, same attributes).
* ``static/ecc_book.css``: notebook outputs' tables at 7/8 of the text's size, so that a
  table of seven columns fits the page column instead of scrolling its last one out of view.
* A notice every page opens with, right under its title: the pipeline passes it in the
  environment variable ``ECC_BOOK_NOTICE`` (a book built on the synthetic corpus says so on
  every page); when it changes, every page is read again, prose pages included.
* ``{artifact-figure} <stem>``: a figure file of the build's artifacts
  (``artifacts/<profile>/figures/<stem>.png``) where a page discusses it. The pages that
  compute (scoring, the online loop) do not draw: their figures are drawn from the saved tables
  by a figure step of their own, so that editing a figure re-runs no scoring or loop, and the
  computing page shows the file here. The options and caption are those of ``{figure}``; a
  missing file is an error that names the stem, the file and the page.
"""

from __future__ import annotations

import os
from pathlib import Path

from docutils import nodes
from sphinx.directives.patches import Figure

STATIC = Path(__file__).parent / "static"


def _key(script) -> tuple:
    """What makes two scripts the same: the file (None and "" both mean inline) and the
    attributes, inline body included."""
    attrs = getattr(script, "attributes", {}) or {}
    name = getattr(script, "filename", script) or ""
    return (str(name), tuple(sorted((k, str(v)) for k, v in attrs.items())))


def dedupe_scripts(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for s in scripts:
        k = _key(s)
        if k not in seen:
            seen.add(k)
            kept.append(s)
    scripts[:] = kept


def _notice() -> str:
    return os.environ.get("ECC_BOOK_NOTICE", "").strip()


def reread_all_on_new_notice(app, env, added, changed, removed) -> list[str]:
    """Every page, when the notice differs from the one the saved environment was read with."""
    if getattr(env, "ecc_notice", None) == _notice():
        return []
    env.ecc_notice = _notice()
    return sorted(env.found_docs - added - changed - removed)


def add_notice(app, doctree) -> None:
    """The notice as a warning right under the page's title (first on a page without one)."""
    text = _notice()
    if not text:
        return
    box = nodes.warning("", nodes.paragraph(text=text), classes=["ecc-notice"])
    section = next(iter(doctree.findall(nodes.section)), None)
    if section is None:
        doctree.insert(0, box)
        return
    titled = bool(section.children) and isinstance(section[0], nodes.title)
    section.insert(1 if titled else 0, box)


def figure_file(srcdir: str | Path, docname: str, stem: str) -> Path:
    """The figure `stem` of the build that page `docname` (``generated/<profile>/<page>``)
    belongs to: ``artifacts/<profile>/figures/<stem>.png`` beside the book's folder."""
    parts = docname.split("/")
    if len(parts) != 3 or parts[0] != "generated":
        raise ValueError(f"{docname}: an artifact figure belongs on a generated page")
    return Path(srcdir).parent / "artifacts" / parts[1] / "figures" / f"{stem}.png"


class ArtifactFigure(Figure):
    """``{artifact-figure} <stem>``: ``{figure}`` of the build's figure file `stem`."""

    def run(self):
        env = self.state.document.settings.env
        stem = self.arguments[0].strip()
        try:
            path = figure_file(env.srcdir, env.docname, stem)
        except ValueError as e:
            raise self.error(str(e)) from None
        if not path.is_file():
            raise self.error(
                f"{env.docname}: figure {stem!r}: no file {path} (the figure step that draws it "
                "did not run or failed)"
            )
        page_dir = Path(env.doc2path(env.docname)).parent
        self.arguments = [os.path.relpath(path, page_dir)]
        return super().run()


def add_static(app) -> None:
    app.config.html_static_path.append(str(STATIC))


def setup(app):
    app.connect("builder-inited", add_static)
    app.add_css_file("ecc_book.css")
    app.connect("html-page-context", dedupe_scripts, priority=900)
    app.connect("env-get-outdated", reread_all_on_new_notice)
    app.connect("doctree-read", add_notice)
    app.add_directive("artifact-figure", ArtifactFigure)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
