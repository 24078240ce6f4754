"""Profiles load, and bad ones fail with the file, the line and the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ecc_utils import paper
from ecc_utils.config import METHODS, ProfileError, load_profile, profile_path


@pytest.mark.parametrize("name", ["smoke", "quick", "paper"])
def test_shipped_profiles_load(root, name):
    p = load_profile(root / "params" / f"{name}.yaml")
    assert p.name == name
    assert set(p.train.methods) == set(METHODS)
    for m in p.train.methods:
        assert p.train.milestones[m][-1] <= p.train.max_steps


def test_paper_profile_is_table_iv(root):
    """params/paper.yaml spells out the paper's settings (ecc_utils.paper, itself checked
    against the paper's text in test_paper.py)."""
    p = load_profile(root / "params" / "paper.yaml")
    t, t4 = p.train, paper.TABLE4
    assert (t.max_input_length, t.max_output_length) == (t4.max_input_length, t4.max_output_length)
    assert (t.max_steps, t.learning_rate, t.batch_size) == (
        t4.max_steps,
        t4.learning_rate,
        t4.per_device_train_batch_size,
    )
    assert t.num_virtual_tokens == t4.num_virtual_tokens
    assert (t.lora_r, t.lora_alpha, t.lora_dropout) == (t4.lora_r, t4.lora_alpha, t4.lora_dropout)
    assert t.milestones == paper.PAPER_MILESTONES
    assert (p.generation.top_p, p.generation.temperature) == (t4.top_p, t4.temperature)
    assert (p.scoring.alpha, p.scoring.theta) == (paper.ALPHA, paper.THETA)
    assert p.teacher.n_shots == paper.N_SHOTS
    assert p.end_model.spec == "THUDM/chatglm3-6b" and p.end_model.trust_remote_code


def test_a_profile_that_omits_a_setting_gets_the_papers_value(tmp_path):
    path = tmp_path / "bare.yaml"
    path.write_text("name: bare\n", encoding="utf-8")
    p = load_profile(path)
    assert (p.scoring.alpha, p.scoring.theta, p.teacher.n_shots) == (
        paper.ALPHA,
        paper.THETA,
        paper.N_SHOTS,
    )
    assert p.train.milestones == paper.PAPER_MILESTONES
    assert p.train.learning_rate == paper.TABLE4.learning_rate
    assert p.loop_start() == ("lora", paper.PAPER_MILESTONES["lora"][-1])


def _write(tmp_path: Path, root: Path, old: str, new: str) -> Path:
    text = (root / "params" / "smoke.yaml").read_text(encoding="utf-8")
    assert old in text, old
    p = tmp_path / "bad.yaml"
    p.write_text(text.replace(old, new, 1), encoding="utf-8")
    return p


def _line_of(path: Path, needle: str) -> int:
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError(needle)


@pytest.mark.parametrize(
    "old, new, needle, message",
    [
        (
            "  alpha: 0.8",
            "  alhpa: 0.8",
            "alhpa",
            "scoring.alhpa: unknown key (did you mean 'alpha'?)",
        ),
        ("  alpha: 0.8", "  alpha: 1.5", "alpha: 1.5", "scoring.alpha: must be in [0, 1], got 1.5"),
        ("  theta: 0.2", "  theta: -0.1", "theta: -0.1", "scoring.theta: must be in [0, 1]"),
        ("  max_steps: 12", "  max_steps: twelve", "twelve", "train.max_steps: expected int"),
        ("  source: auto", "  source: web", "source: web", "data.source: must be one of"),
        ("  backend: knn", "  backend: gpt", "backend: gpt", "teacher.backend: must be one of"),
        ("  calibrate: true", "  calibrate: 1", "calibrate: 1", "scoring.calibrate: expected bool"),
        (
            "    lora: [2, 3, 6]",
            "    lora: [3, 2]",
            "lora: [3, 2]",
            "train.milestones.lora: must be increasing",
        ),
        ("    lora: [2, 3, 6]", "    lora: [2, 99]", "lora: [2, 99]", "<= train.max_steps"),
        (
            "  gates: [cloud, match-only]",
            "  gates: [cloud, vote]",
            "gates:",
            "evolve.gates: must be a list of",
        ),
        ("train:\n", "trian:\n", "trian:", "trian: unknown key (did you mean 'train'?)"),
        (
            "  batch_size: 1\n  max_input_length",
            "  batch_size: 1\n  learning_rates: {lora: 1.0e-3, loar: 1.0e-3}\n  max_input_length",
            "learning_rates",
            "train.learning_rates: must be a mapping from",
        ),
        (
            "  batch_size: 1\n  max_input_length",
            "  batch_size: 1\n  batch_sizes: {prefix: 0}\n  max_input_length",
            "batch_sizes",
            "train.batch_sizes: must be a mapping from",
        ),
        (
            "  max_new_tokens: 12",
            "  max_new_tokens: 12\n  repetition_penalty: 0.5",
            "repetition_penalty",
            "generation.repetition_penalty: must be >= 1",
        ),  # fmt: skip
    ],
)
def test_bad_profile_names_file_line_and_key(tmp_path, root, old, new, needle, message):
    p = _write(tmp_path, root, old, new)
    with pytest.raises(ProfileError) as e:
        load_profile(p)
    msg = str(e.value)
    assert msg.startswith(f"{p}:{_line_of(p, needle)}: "), msg
    assert message in msg


def test_missing_milestones_for_listed_method(tmp_path, root):
    p = _write(tmp_path, root, "    prefix: [2]\n", "")
    with pytest.raises(ProfileError, match="no milestones for method 'prefix'"):
        load_profile(p)


def test_invalid_yaml_and_missing_file(tmp_path):
    bad = tmp_path / "x.yaml"
    bad.write_text("name: x\ndata: [unclosed\n", encoding="utf-8")
    with pytest.raises(ProfileError, match=r"x\.yaml:\d+: not valid YAML"):
        load_profile(bad)
    with pytest.raises(ProfileError, match="profile not found"):
        load_profile(tmp_path / "none.yaml")


def test_profile_path_lists_known_profiles(root):
    with pytest.raises(ProfileError, match="profiles in .*paper, quick, quick-live, smoke"):
        profile_path("does-not-exist", root / "params")


def test_cli_errors_are_one_line_without_traceback(tmp_path, root):
    def run(*args):
        return subprocess.run(
            [sys.executable, "-m", "ecc_utils.build", *args],
            capture_output=True,
            text=True,
            cwd=root,
        )

    r = run("--profile", "does-not-exist")
    assert r.returncode == 1
    assert r.stderr.strip().count("\n") == 0 and "does-not-exist" in r.stderr
    assert "Traceback" not in r.stderr
    (tmp_path / "params").mkdir()
    _write(tmp_path / "params", root, "  alpha: 0.8", "  alhpa: 0.8").rename(
        tmp_path / "params" / "bad.yaml"
    )
    r = run("--root", str(tmp_path), "--profile", "bad")
    assert r.returncode == 1
    assert r.stderr.strip().count("\n") == 0, r.stderr
    assert "bad.yaml:" in r.stderr and "alhpa" in r.stderr and "Traceback" not in r.stderr


def test_evaluation_pool_must_hold_the_online_loop(tmp_path, root):
    p = _write(tmp_path, root, "  n_eval: 18", "  n_eval: 12")
    with pytest.raises(ProfileError, match=r"data\.n_eval: 12 is too small .* = 18"):
        load_profile(p)


def test_per_method_settings_override_the_common_ones(tmp_path, root):
    p = _write(tmp_path, root, "  batch_size: 1\n  max_input_length",
               "  batch_size: 1\n  learning_rates: {prefix: 2.0e-2}\n  batch_sizes: {lora: 4}\n"
               "  max_input_length")  # fmt: skip
    t = load_profile(p).train
    assert (t.for_method("prefix").learning_rate, t.for_method("prefix").batch_size) == (2e-2, 1)
    assert (t.for_method("lora").learning_rate, t.for_method("lora").batch_size) == (1e-3, 4)
    assert t.for_method("ptuning_v2").learning_rate == t.learning_rate == 1e-3
    assert t.for_method("lora").max_steps == t.max_steps == 12
    p2 = _write(
        tmp_path, root, "  max_steps: 12", "  max_steps: 12\n  decay_to_last_milestone: true"
    )
    t2 = load_profile(p2).train
    assert [t2.for_method(m).max_steps for m in METHODS] == [2, 2, 6]  # smoke's last milestones


def test_a_profile_can_start_from_another_and_errors_name_the_file_that_set_the_key(tmp_path):
    from ecc_utils.config import ProfileError, load_profile
    from tests.conftest import ROOT

    live = load_profile(ROOT / "params" / "quick-live.yaml")
    quick = load_profile(ROOT / "params" / "quick.yaml")
    assert (live.name, live.teacher.backend) == ("quick-live", "gemini")
    assert live.teacher.n_shots == quick.teacher.n_shots  # the base's, where not overridden
    assert (live.train, live.evolve, live.scoring) == (quick.train, quick.evolve, quick.scoring)
    (tmp_path / "base.yaml").write_text((ROOT / "params" / "smoke.yaml").read_text())
    child = tmp_path / "child.yaml"
    child.write_text("base: base.yaml\nname: child\nscoring:\n  alpha: 2.5\n")
    with pytest.raises(ProfileError, match=r"child\.yaml:4"):
        load_profile(child)
    child.write_text("base: base.yaml\nname: child\n")
    base_text = (tmp_path / "base.yaml").read_text().replace("alpha: 0.8", "alpha: 2.5")
    (tmp_path / "base.yaml").write_text(base_text)
    with pytest.raises(ProfileError, match=r"base\.yaml:\d+"):
        load_profile(child)
    (tmp_path / "loop.yaml").write_text("base: loop.yaml\nname: loop\n")
    with pytest.raises(ProfileError, match="includes itself"):
        load_profile(tmp_path / "loop.yaml")
