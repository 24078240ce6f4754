"""Where the scoring page's time goes: page 04 (`notebooks/04_score.ipynb`) run phase by phase
on a built profile's artifacts, each call of the code it runs timed where it is made.

The page's own functions run unchanged (`scoring.validity_table`, `Scorer` with its
calibration, `scoring.evaluate_models`, `scoring.score_table`, the interval tables); the
calls inside `evaluate_models` are timed by wrapping, for the length of the run, the
functions it calls: merging each adapter, answering with the profile's (guarded) sampling,
answering again with the paper's plain sampling, the replies' likelihood, the candidate
groups' selection scores. Nothing is computed twice and no setting differs from the page's,
so the phases add up to about the page's wall time (the manifest's, less its kernel start
and its tables and figures). Not a benchmark of one path against another: a profile, to say
which phase to speed up first.

Writes ``profile_score_<profile>_<tag>.csv`` under `--out`, one row per (phase, model)::

    ECC_DATA_DIR=../shared/data python bench/profile_score.py --profile quick --tag cpu-epyc-avx2
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from common import RESULTS, machine, write_csv  # noqa: E402

from ecc_utils import data, scoring  # noqa: E402
from ecc_utils.artifacts import Artifacts  # noqa: E402
from ecc_utils.config import load_profile  # noqa: E402
from ecc_utils.endmodel import generate as generation  # noqa: E402
from ecc_utils.endmodel.load import load_end_model  # noqa: E402
from ecc_utils.scoring import evaluation  # noqa: E402

MERGE = "merge the adapter / ready the model"


class Phases:
    """Wall times per (phase, model), in the order they were first seen."""

    def __init__(self) -> None:
        self.seconds: dict[tuple[str, str], float] = {}
        self.model = ""

    def add(self, phase: str, seconds: float, model: str | None = None) -> None:
        key = (phase, self.model if model is None else model)
        self.seconds[key] = self.seconds.get(key, 0.0) + seconds

    @contextmanager
    def timed(self, phase: str, model: str = ""):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.add(phase, time.perf_counter() - t0, model)

    def wrap(self, phase: Callable[..., str], fn: Callable[..., Any]) -> Callable[..., Any]:
        """`fn` timed under the phase name `phase(*args, **kwargs)` gives."""

        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.add(phase(*args, **kwargs), time.perf_counter() - t0)

        return timed


class TimedContext:
    """A context manager whose entering (where `adapter_applied` merges) counts as `MERGE`."""

    def __init__(self, ctx: Any, phases: Phases) -> None:
        self.ctx, self.phases = ctx, phases

    def __enter__(self) -> Any:
        with self.phases.timed(MERGE, self.phases.model):
            return self.ctx.__enter__()

    def __exit__(self, *exc: object) -> Any:
        return self.ctx.__exit__(*exc)


@contextmanager
def patched(target: Any, name: str, value: Any):
    old = getattr(target, name)
    setattr(target, name, value)
    try:
        yield
    finally:
        setattr(target, name, old)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--artifacts", default=None, help="artifacts/<profile> (built by make book)")
    ap.add_argument("--tag", default="cpu")
    ap.add_argument("--out", default=str(RESULTS))
    a = ap.parse_args()
    cfg = load_profile(f"params/{a.profile}.yaml")
    art = Artifacts(a.artifacts or f"artifacts/{cfg.name}")
    if not (art.root / "runs").is_dir():
        raise SystemExit(f"{art.root}: no trained adapters (runs/); run make book first")
    ph = Phases()
    start = time.perf_counter()

    eval_set = art.read_split("eval")
    teacher = art.teacher_answers(eval_set)
    cloud = [r.answer for r in teacher]
    queries = [r.query for r in teacher]
    groups = scoring.groups_from_candidates(art.candidates, eval_set)
    with ph.timed("load the end model"):
        base, tokenizer = load_end_model(cfg, inference=True, art=art)
    with ph.timed("scorer validity (R10@k of encoders and the end model)"):
        scoring.validity_table(data.source_from_profile(cfg), cfg, end_model=(base, tokenizer),
                               n_groups=cfg.scoring.n_selection_groups)  # fmt: skip
    with ph.timed("load the scorers and calibrate"):
        scorer = scoring.Scorer.from_config(cfg.scoring)
        if cfg.scoring.calibrate:
            train = art.read_split("train")
            scorer.calibrator = scoring.fit_calibrator(
                scorer.embedder, scorer.matcher, [e.query for e in train],
                [e.response for e in train], n_pairs=cfg.scoring.n_reference_pairs,
                seed=cfg.seed,
            )  # fmt: skip

    sampling = generation.Sampling.from_profile(cfg)
    checkpoints = art.checkpoints_by_model(cfg.train.methods, cfg.train.milestones)
    labels = {str(v): k for k, v in checkpoints.items()}

    def on_model(ctx_factory, name: Callable[..., str]):
        def opened(*args: Any, **kwargs: Any) -> TimedContext:
            ph.model = name(*args, **kwargs)
            with ph.timed(MERGE, ph.model):  # _as_is readies the model here
                ctx = ctx_factory(*args, **kwargs)
            return TimedContext(ctx, ph)

        return opened

    def answering(model, tokenizer, inputs, sp, *rest, **kw) -> str:
        return "answer (profile's sampling)" if sp == sampling else "answer (plain sampling)"

    with ExitStack() as stack:
        for target, name, value in (
            (generation, "adapter_applied",
             on_model(generation.adapter_applied, lambda base, ckpt, **kw: labels[str(ckpt)])),
            (evaluation, "_as_is", on_model(evaluation._as_is, lambda model: labels["None"])),
            (generation, "generate", ph.wrap(answering, generation.generate)),
            (evaluation, "reply_logprobs",
             ph.wrap(lambda *a, **k: "likelihood of the human and teacher replies",
                     evaluation.reply_logprobs)),
            (evaluation, "selection_scores",
             ph.wrap(lambda *a, **k: "selection scores of the candidate groups",
                     evaluation.selection_scores)),
        ):  # fmt: skip
            stack.enter_context(patched(target, name, value))
        evaluations = scoring.evaluate_models(
            base, tokenizer, checkpoints, scoring.EvaluationSet(eval_set, cloud, groups),
            sampling=sampling,
            max_output_length=cfg.train.max_output_length,
        )  # fmt: skip
    answers = {m: ev.answers for m, ev in evaluations.items()}
    with ph.timed("Eq. (1) scores (encoders)"):
        scores = scoring.score_table(eval_set, queries, cloud, answers, scorer)
    with ph.timed("per-input tables and bootstrap intervals"):
        tables = {
            "input": scoring.per_input_table(evaluations, eval_set, scores),
            "group": scoring.per_group_table(evaluations, groups),
        }
        scoring.metric_intervals(tables, list(checkpoints), seed=cfg.seed)
        scoring.decide_claims(scoring.claims_of(cfg.train), tables, seed=cfg.seed)
    total = time.perf_counter() - start

    manifest = json.loads(art.manifest.read_text()) if art.manifest.is_file() else {}
    page = manifest.get("steps", {}).get("04_score", {}).get("wall_time_s", "")
    rows = [
        dict(phase=p, model=m, seconds=round(s, 2), share=round(s / total, 4),
             profile=cfg.name, inputs=len(eval_set), groups=len(groups),
             models=len(checkpoints), page_wall_time_s=page, device=machine())
        for (p, m), s in ph.seconds.items()
    ]  # fmt: skip
    by_phase: dict[str, float] = {}
    for (p, _), s in ph.seconds.items():
        by_phase[p] = by_phase.get(p, 0.0) + s
    for p, s in sorted(by_phase.items(), key=lambda kv: -kv[1]):
        print(f"{s:8.1f} s {s / total:6.1%}  {p}")
    print(f"{total:8.1f} s total (the page's manifest wall time: {page or 'not recorded'} s)")
    write_csv(rows, Path(a.out) / f"profile_score_{cfg.name}_{a.tag}.csv")


if __name__ == "__main__":
    main()
