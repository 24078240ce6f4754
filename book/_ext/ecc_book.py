"""Local Sphinx extension of the book: fixes of Jupyter Book 1's HTML that the browser test
of the book would otherwise report.

* sphinx-thebe's configuration script is registered twice under Jupyter Book 1, and the
  second copy throws "Identifier 'THEBE_JS_URL' has already been declared" on every page: each
  page's scripts are de-duplicated here (same file, same inline body, same attributes).
* ``static/ecc_book.css``: notebook outputs' tables at 7/8 of the text's size, so that a
  table of seven columns fits the page column instead of scrolling its last one out of view.
"""

from __future__ import annotations

from pathlib import Path

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


def add_static(app) -> None:
    app.config.html_static_path.append(str(STATIC))


def setup(app):
    app.connect("builder-inited", add_static)
    app.add_css_file("ecc_book.css")
    app.connect("html-page-context", dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
