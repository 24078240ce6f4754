"""The results bundle: a finished build packed with its commit and hashes, unpacked from a local
URL into a fresh clone where every step is then up to date, and refused for another commit or
profile, or when a file does not match its hash."""

from __future__ import annotations

import functools
import http.server
import io
import shutil
import subprocess
import tarfile
import threading
from pathlib import Path

import pytest

from ecc_utils.build.bundle import BundleError, pack, unpack
from ecc_utils.build.layout import Layout
from ecc_utils.build.pipeline import stale_steps


def _git(root: Path, *args: str) -> str:
    cmd = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(root), *args]
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def built_checkout(smoke_run, tmp_path):
    """A git checkout of the smoke project with its finished build (results git-ignored)."""
    root, _, _ = smoke_run
    proj = tmp_path / "proj"
    shutil.copytree(root, proj, ignore=shutil.ignore_patterns("ecc_utils", "_build", "*.log"))
    (proj / ".gitignore").write_text("artifacts/\nbook/generated/\n_build/\ndist/\n")
    _git(proj, "init", "-q")
    _git(proj, "add", "-A")
    _git(proj, "commit", "-qm", "build")
    return proj


@pytest.mark.slow
def test_a_bundle_from_a_url_leaves_nothing_to_compute_and_is_refused_elsewhere(
    built_checkout, tmp_path
):
    proj = built_checkout
    bundle = pack(Layout(proj, "smoke"), tmp_path / "dist")
    assert bundle.name == f"ecc-smoke-{_git(proj, 'rev-parse', 'HEAD')[:12]}.tar.gz"
    clone = tmp_path / "clone"
    _git(tmp_path, "clone", "-q", str(proj), str(clone))
    layout = Layout(clone, "smoke")
    assert stale_steps(layout)  # a fresh clone would compute everything
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(bundle.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/{bundle.name}"
        with pytest.raises(BundleError, match="profile 'smoke', not 'quick'"):
            unpack(url, Layout(clone, "quick"))
        index = unpack(url, layout)
    finally:
        server.shutdown()
    assert stale_steps(layout) == []  # the book is all that is left to build
    assert (layout.artifacts / "table6.csv").read_bytes() == (
        proj / "artifacts" / "smoke" / "table6.csv"
    ).read_bytes()
    assert len(index["files"]) == sum(1 for _ in layout.artifacts.rglob("*") if _.is_file()) + sum(
        1 for _ in layout.generated.rglob("*") if _.is_file()
    )
    # Another commit: refused, saying which, and nothing changed.
    (clone / "params" / "smoke.yaml").write_text(
        (clone / "params" / "smoke.yaml").read_text() + "\n"
    )
    _git(clone, "commit", "-qam", "edit")
    with pytest.raises(BundleError, match=r"made at commit \w{12}, this checkout is at \w{12}"):
        unpack(str(bundle), layout)
    assert (layout.artifacts / "table6.csv").is_file()


@pytest.mark.slow
def test_a_bundle_whose_file_was_altered_or_a_dirty_checkout_is_refused(built_checkout, tmp_path):
    proj = built_checkout
    bundle = pack(Layout(proj, "smoke"), tmp_path / "dist")
    altered = tmp_path / "altered.tar.gz"
    with tarfile.open(bundle) as src, tarfile.open(altered, "w:gz") as dst:
        for m in src.getmembers():
            data = src.extractfile(m).read() if m.isfile() else None
            if m.name.endswith("table6.csv"):
                data = data.replace(b"0.", b"1.", 1)
                m.size = len(data)
            dst.addfile(m, io.BytesIO(data) if data is not None else None)
    with pytest.raises(BundleError, match=r"table6\.csv does not match its sha256"):
        unpack(str(altered), Layout(proj, "smoke"))
    (proj / "params" / "smoke.yaml").write_text("# edited\n", encoding="utf-8")
    with pytest.raises(BundleError, match="uncommitted changes"):
        pack(Layout(proj, "smoke"), tmp_path / "dist")
