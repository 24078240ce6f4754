"""Local Sphinx extension of the book: fixes of Jupyter Book 1's HTML that the browser test
of the book would otherwise report.

* sphinx-thebe's configuration script is registered twice under Jupyter Book 1, and the
  second copy throws "Identifier 'THEBE_JS_URL' has already been declared" on every page: each
  page's scripts are de-duplicated here (same file, same inline body, same attributes).
* ``static/ecc_book.css``: notebook outputs' tables at 7/8 of the text's size, so that a
  table of seven columns fits the page column instead of scrolling its last one out of view.
* A notice every page opens with, right under its title: the pipeline passes it in the
  environment variable ``ECC_BOOK_NOTICE`` (a book built on the synthetic corpus says so on
  every page); when it changes, every page is read again, prose pages included.
"""

from __future__ import annotations

import os
from pathlib import Path

from docutils import nodes

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


def add_static(app) -> None:
    app.config.html_static_path.append(str(STATIC))


def setup(app):
    app.connect("builder-inited", add_static)
    app.add_css_file("ecc_book.css")
    app.connect("html-page-context", dedupe_scripts, priority=900)
    app.connect("env-get-outdated", reread_all_on_new_notice)
    app.connect("doctree-read", add_notice)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
