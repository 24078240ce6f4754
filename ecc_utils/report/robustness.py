"""The robustness study: do the book's verdicts survive another seed?

`bench/robustness.py` runs the profile's training, scoring and online loop once per seed in
copies of the committed tree, all on the same data splits, evaluation inputs and teacher labels
(those of the first seed), so each seed changes the training seed and data order, the sampling
and the loop's stream order. This module turns those runs into the study's CSV: one row per
(claim or loop comparison, metric, seed) with the seed's paired difference and verdict, plus a
"pooled" row: the same paired test over inputs x seeds (every seed's inputs side by side, each
input of each seed one unit of the bootstrap). Its status:

* *reproduced*: the pooled test supports the claim and no seed contradicts it;
* *seed-dependent*: the seeds' verdicts disagree (and the above does not hold);
* *not reproduced*: the pooled test contradicts it and no seed supports it;
* *inconclusive*: every seed and the pooled test are inconclusive.

A study holds for the code it ran: `code_fingerprint` hashes the notebooks of the steps it
ran or reused, the `ecc_utils` modules they import and the profile (without its seed and the
study's own setting). It also holds for later code that was shown to give the same numbers: a
build of that code at one of the study's seeds whose claims and loop tests equal that seed's
rows to the last digit (`verify_seed`; ``bench/robustness.py --verify`` records the code's
fingerprint under ``verified`` in the study's JSON). Otherwise the results page calls its
verdicts single-run.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ecc_utils import artifacts as A
from ecc_utils.config import load_profile
from ecc_utils.provenance.fingerprints import notebook_code_hash, package_hash

# The steps the study runs per seed, and those whose outputs it takes from the first seed.
STUDY_STAGES = ("00_environment", "03_train", "04_score", "06_online_evolution")
REUSED_STAGES = ("01_data", "02_cloud_labels")
REUSED_DIRS = ("data", "teacher")
COLUMNS = ("section", "key", "label", "teacher", "metric", "seed", "difference", "low", "high",
           "n", "verdict", "status")  # fmt: skip


def study_file(root: str | Path, profile: str) -> Path:
    """``bench/results/robustness_<profile>.csv`` under project root `root` (its provenance
    is the ``.json`` beside it)."""
    return A.project_file("study", root, profile)


def code_fingerprint(root: str | Path, profile: str) -> str:
    """A hash of what the study's numbers depend on in the tree at `root`: the code cells of the
    notebooks of `STUDY_STAGES` and `REUSED_STAGES` (their prose does not count), the package
    modules they import, and the profile's settings without its seed and
    ``evolve.oracle_arms`` (comments do not count)."""
    root = Path(root)
    nbs = root / "notebooks"
    h = hashlib.sha256()
    for stage in sorted((*REUSED_STAGES, *STUDY_STAGES)):
        nb = nbs / f"{stage}.ipynb"
        h.update(notebook_code_hash(nb).encode())
        h.update(package_hash(nb, root / "ecc_utils").encode())
    settings = load_profile(root / "params" / f"{profile}.yaml").to_dict()
    settings["evolve"].pop("oracle_arms", None)
    for key in ("seed", "file"):
        settings.pop(key, None)
    h.update(json.dumps(settings, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def study_profile_text(text: str, seed: int) -> str:
    """The profile file `text` with ``seed: <seed>`` and the oracle arms on (section evolve)."""
    text, n = re.subn(r"^seed:.*$", f"seed: {seed}", text, count=1, flags=re.M)
    if not n:
        raise ValueError("profile: no top-level 'seed:' line to set")
    text = re.sub(r"^\s+oracle_arms:.*\n", "", text, flags=re.M)
    text, n = re.subn(r"^evolve:\n", "evolve:\n  oracle_arms: true\n", text, count=1, flags=re.M)
    if not n:
        raise ValueError("profile: no 'evolve:' section to turn the oracle arms on in")
    return text


# --- rows of one seed -------------------------------------------------------------------


def _rows(df: pd.DataFrame, section: str, key: pd.Series, teacher: str, seed) -> pd.DataFrame:
    return pd.DataFrame({
        "section": section, "key": key.to_numpy(), "label": df["claim"].to_numpy(),
        "teacher": teacher, "metric": df["metric"].to_numpy(), "seed": str(seed),
        **{c: df[c].to_numpy() for c in ("difference", "low", "high", "n", "verdict")},
        "status": "",
    })  # fmt: skip


def seed_rows(art: str | Path, seed: int, teacher: str) -> pd.DataFrame:
    """The claims (``claims.csv``) and the loop's tests (``evolution_controls.csv``, and
    ``evolution_oracle_controls.csv`` where the oracle arms ran) of one seed's artifacts."""
    art = Path(art)
    claims = pd.read_csv(art / A.rel("claims"))
    parts = [_rows(claims, "claim", claims["key"], "", seed)]
    for file, who in (
        (A.rel("evolution_controls"), teacher),
        (A.rel("evolution_oracle_controls"), "oracle"),
    ):
        if (art / file).is_file():
            c = pd.read_csv(art / file)
            parts.append(_rows(c, "loop", c["better"] + ">" + c["other"], who, seed))
    return pd.concat(parts, ignore_index=True)


# --- pooled over seeds ------------------------------------------------------------------


def pooled_claims(arts: Mapping[int, Path], claims: Sequence, seed: int = 0) -> pd.DataFrame:
    """`scoring.decide_claims` over every seed's per-input and per-group tables side by side
    (an input of seed s is the unit ``s:id``)."""
    from ecc_utils.scoring import decide_claims

    tables = {}
    for name, file, key in (
        ("input", A.rel("per_input"), "id"),
        ("group", A.rel("per_group"), "group"),
    ):
        parts = []
        for s, art in arts.items():
            df = pd.read_csv(Path(art) / file)
            parts.append(df.assign(**{key: f"{s}:" + df[key].astype(str)}))
        tables[name] = pd.concat(parts, ignore_index=True)
    return decide_claims(claims, tables, seed=seed)


def pooled_loop(arts: Mapping[int, Path], seed: int = 0) -> list[tuple[str, pd.DataFrame]]:
    """(teacher tag, `evolve.compare_controls` over every seed's probe queries side by side),
    for the profile's teacher ("") and, where every seed ran them, the oracle arms."""
    from ecc_utils.evolve import LoopState, ProbeResult, compare_controls

    def load(art: Path, arm: str) -> LoopState | None:
        f = art / "evolve" / arm / "state.json"
        return (
            LoopState.from_dict(json.loads(f.read_text(encoding="utf-8"))) if f.is_file() else None
        )

    def pool(states: list[LoopState]) -> LoopState:
        k = min(len(s.probes) for s in states)
        probes = [ProbeResult.concat([s.probes[j] for s in states]) for j in range(k)]
        return LoopState(states[0].arm, escalated_ids=[[] for _ in range(k - 1)], probes=probes)

    out = []
    for tag, arms in (("", ("cloud", "match-only", "no-update", "random")),
                      ("oracle-", ("cloud", "random"))):  # fmt: skip
        states = {}
        for arm in arms:
            got = [load(Path(a), tag + arm) for a in arts.values()]
            if all(g is not None for g in got):
                states[arm] = pool(got)
        if tag and states:  # the oracle's gate against the same no-update control
            no_update = [load(Path(a), "no-update") for a in arts.values()]
            if all(g is not None for g in no_update):
                states["no-update"] = pool(no_update)
        if states:
            out.append((tag, compare_controls(states, seed=seed)))
    return out


def status(verdicts: Sequence[str], pooled: str) -> str:
    """The study's word for a claim from its seeds' verdicts and the pooled verdict."""
    v = set(verdicts)
    if pooled == "supported" and "contradicted" not in v:
        return "reproduced"
    if pooled == "contradicted" and "supported" not in v:
        return "not reproduced" if len(v) == 1 else "seed-dependent"
    if len(v) > 1:
        return "seed-dependent"
    return "inconclusive"


def study_table(arts: Mapping[int, Path], claims: Sequence, teacher: str) -> pd.DataFrame:
    """The study's CSV: every seed's rows (`seed_rows`) and the pooled rows with statuses."""
    per_seed = pd.concat([seed_rows(a, s, teacher) for s, a in arts.items()], ignore_index=True)
    pc = pooled_claims(arts, claims)
    pooled = [_rows(pc, "claim", pc["key"], "", "pooled")]
    for tag, c in pooled_loop(arts):
        pooled.append(_rows(c, "loop", c["better"] + ">" + c["other"],
                            "oracle" if tag else teacher, "pooled"))  # fmt: skip
    pooled = pd.concat(pooled, ignore_index=True)
    for i, r in pooled.iterrows():
        same = per_seed[(per_seed["section"] == r["section"]) & (per_seed["key"] == r["key"])
                        & (per_seed["teacher"] == r["teacher"])
                        & (per_seed["metric"] == r["metric"])]  # fmt: skip
        pooled.loc[i, "status"] = status(same["verdict"].tolist(), r["verdict"])
    return pd.concat([per_seed, pooled], ignore_index=True)[list(COLUMNS)]


def current_for(meta: Mapping, root: str | Path, profile: str) -> dict | None:
    """What makes the study described by `meta` (its JSON) hold for the code of the tree at
    `root`: ``{"how": "ran"}`` when it ran for that code, the ``verified`` entry (how:
    "verified") when a build of that code reproduced one of its seeds exactly
    (`verify_seed`), else None (also where the tree lacks the notebooks or profile to tell)."""
    try:
        fp = code_fingerprint(root, profile)
    except FileNotFoundError:
        return None
    if meta.get("fingerprint") == fp:
        return {"how": "ran", "fingerprint": fp}
    hit = next((v for v in meta.get("verified", []) if v.get("fingerprint") == fp), None)
    return None if hit is None else {"how": "verified", **hit}


# --- a later code's build against the study ---------------------------------------------

VERIFIED_COLUMNS = ("difference", "low", "high", "n", "verdict")
# What names one row of a seed: a claim or loop comparison, its teacher ("" for claims), metric.
ROW_KEY = ["section", "key", "teacher", "metric"]


def verify_seed(art: str | Path, study: pd.DataFrame, seed: int, teacher: str) -> list[str]:
    """How the build in `art` (run with the study's `seed`) differs from the study's rows of
    that seed: every claim and loop comparison the build has must be in the study with the
    same difference, interval, n and verdict to the last digit (the study may hold more: the
    oracle arms). An empty list: the build reproduces that seed exactly, so the code it ran
    gives the study's numbers (same machine arithmetic: a CPU of another family samples other
    answers and cannot verify)."""
    return verify_rows(seed_rows(art, seed, teacher), study, seed)


def keyed(rows: pd.DataFrame) -> pd.DataFrame:
    """`rows` with claims' empty teacher as "", so that `ROW_KEY` matches across files."""
    return rows.assign(teacher=rows["teacher"].fillna(""))


def verify_rows(mine: pd.DataFrame, study: pd.DataFrame, seed: int) -> list[str]:
    """`verify_seed` for a build's rows `mine` (`seed_rows`)."""
    theirs = study[study["seed"].astype(str) == str(seed)]
    if theirs.empty:
        return [f"the study has no rows for seed {seed} (its seeds: "
                f"{', '.join(sorted(set(study['seed'].astype(str)) - {'pooled'}))})"]  # fmt: skip
    theirs = keyed(theirs).set_index(ROW_KEY)
    problems = []
    for _, r in keyed(mine).iterrows():
        k = tuple(r[c] for c in ROW_KEY)
        if k not in theirs.index:
            problems.append(f"{' / '.join(map(str, k))}: not in the study")
            continue
        t = theirs.loc[k]
        for c in VERIFIED_COLUMNS:
            a, b = r[c], t[c]
            same = a == b if c == "verdict" else np.isclose(float(a), float(b), rtol=1e-12,
                                                            atol=0, equal_nan=True)  # fmt: skip
            if not same:
                problems.append(f"{' / '.join(map(str, k))}: {c} {a} here, {b} in the study")
    return problems


# The loop's measures take the tolerance of the claims' measure they share (the spread between
# CPU features is measured on the claims).
SPREAD_AS = {"probe gain (Eq. 1)": "final score (Eq. 1)",
             "probe gain (Eq. 1 vs human reply)": "final score (Eq. 1)",
             "probe perplexity change (human reply)": "perplexity, human reply"}  # fmt: skip


def spread_tolerance(spread: pd.DataFrame) -> dict[str, float]:
    """Per metric, the largest change of a claim's paired difference between two builds of the
    same code on other CPU features (`reproducibility.read_spread`: the Reproducibility page's
    measurement), as the tolerance within which a build agrees with the study."""
    claims = spread[spread["kind"] == "claim verdict"]
    metric = claims["item"].str.rsplit(": ", n=1).str[-1]
    tol = claims.groupby(metric)["abs_diff"].max().to_dict()
    return tol | {loop: tol[claim] for loop, claim in SPREAD_AS.items() if claim in tol}


def within_spread(
    mine: pd.DataFrame, study: pd.DataFrame, seed: int, tolerance: Mapping[str, float]
) -> tuple[int, int, int]:
    """(how many of a build's rows `mine` lie within `tolerance` of the study's rows of `seed`,
    how many have the same verdict, how many were compared: those in both with a tolerance)."""
    theirs = keyed(study[study["seed"].astype(str) == str(seed)])
    both = keyed(mine).merge(theirs, on=ROW_KEY, suffixes=("", "_study"))
    both = both[both["metric"].isin(list(tolerance))]
    gap = (both["difference"].astype(float) - both["difference_study"].astype(float)).abs()
    within = int((gap <= both["metric"].map(tolerance)).sum())
    return within, int((both["verdict"] == both["verdict_study"]).sum()), len(both)


def load_study(root: str | Path, profile: str) -> tuple[pd.DataFrame, dict] | None:
    """(the study's CSV, its provenance) as committed under `root`, or None."""
    f = study_file(root, profile)
    if not (f.is_file() and f.with_suffix(".json").is_file()):
        return None
    meta = json.loads(f.with_suffix(".json").read_text(encoding="utf-8"))
    study = pd.read_csv(f, dtype={"seed": str}, keep_default_na=False, na_values=[""])
    study["teacher"] = study["teacher"].fillna("")
    study["status"] = study["status"].fillna("")
    return study, meta


def finite(df: pd.DataFrame) -> pd.DataFrame:
    """Rows whose difference and interval are finite numbers."""
    return df[np.isfinite(df[["difference", "low", "high"]].astype(float)).all(axis=1)]
