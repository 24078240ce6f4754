"""Sweep: the online loop's local update, judged with perfect labels. Run by hand.

For each setting of the grid, the cloud gate runs the profile's rounds from the loop's starting
adapter with the oracle teacher (the dialogue's human reply as the cloud's answer) on the
validation split (``data/validation.jsonl``, natural pairs no other pool uses, so apart from the
loop's probe and stream): its first ``rounds x queries_per_round`` pairs are the stream, the next
``--n-probe`` the probe. Every setting starts from the same adapter and answers with the same
seeds, so round 0 is shared and the settings differ only through their updates. It writes one
row per (setting, round) to ``params/sweeps/<profile>_update.csv``
(`ecc_utils.evolve.selection`: the human-reply perplexity, its ratio to round 0 and Eq. (1)
against the human replies, with intervals); the loop page shows it with the pick, which the
profile's ``evolve.update_*`` settings should follow. It reads ``artifacts/<profile>``
(notebooks 01-04 must have run). The committed table's grid, in two parts::

    ECC_DATA_DIR=../shared/data python bench/sweep_update.py --profile quick \\
        --lr-scale 0.03,0.1,0.3,1 --replay-ratio 1,3 --with-previous
    ECC_DATA_DIR=../shared/data python bench/sweep_update.py --profile quick \\
        --lr-scale 0.03,0.1 --replay-ratio 3 --epochs 2 --merge
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ecc_utils import evolve, scoring  # noqa: E402
from ecc_utils.artifacts import Artifacts  # noqa: E402
from ecc_utils.cloud.oracle import OracleTeacher  # noqa: E402
from ecc_utils.config import load_profile  # noqa: E402
from ecc_utils.endmodel.load import load_end_model  # noqa: E402
from ecc_utils.evolve.selection import (  # noqa: E402
    PREVIOUS_UPDATE,
    UPDATE_KEYS,
    pick,
    selection_file,
    selection_rows,
    setting_label,
)


def floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise SystemExit(f"{text!r} is not a comma-separated list of numbers") from None


def grid(args) -> list[dict]:
    """The settings to run: each combination of the lists given, every one an update on the
    round's new labels for `--epochs` passes with a rate decayed to zero and replay drawn from
    the whole training split; the previous update first with ``--with-previous``."""
    out = [dict(PREVIOUS_UPDATE)] if args.with_previous else []
    for scale, ratio, epochs in itertools.product(args.lr_scale, args.replay_ratio, args.epochs):
        out.append({"update_lr_scale": scale, "update_schedule": args.schedule,
                    "update_warmup_ratio": args.warmup, "update_on": "new",
                    "update_epochs": epochs, "steps_per_round": None, "replay_ratio": ratio,
                    "replay_size": None})  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--artifacts", type=Path, help="default: artifacts/<profile>")
    ap.add_argument("--lr-scale", type=floats, default=[0.1])
    ap.add_argument("--replay-ratio", type=floats, default=[1.0])
    ap.add_argument("--epochs", type=floats, default=[1.0])
    ap.add_argument("--schedule", default="linear", choices=("constant", "linear", "cosine"))
    ap.add_argument("--warmup", type=float, default=0.0)
    ap.add_argument("--with-previous", action="store_true", help="also the update used before")
    ap.add_argument("--n-probe", type=int, default=64)
    ap.add_argument("--out", type=Path, help="default: params/sweeps/<profile>_update.csv")
    ap.add_argument("--merge", action="store_true",
                    help="add these settings' rows to the table in --out (a setting run again "
                         "replaces its rows)")  # fmt: skip
    args = ap.parse_args(argv)

    cfg = load_profile(ROOT / "params" / f"{args.profile}.yaml")
    art = Artifacts(args.artifacts or ROOT / "artifacts" / args.profile)
    ev = cfg.evolve
    validation = art.read_split("validation")
    n_stream = ev.rounds * ev.queries_per_round
    if len(validation) < n_stream + args.n_probe:
        raise SystemExit(
            f"{art.split('validation')}: {len(validation)} pairs, need rounds x queries_per_round "
            f"+ --n-probe = {n_stream + args.n_probe}: raise data.n_validation of the profile "
            "(notebook 01 writes the split) or lower --n-probe"
        )
    stream, probe = validation[:n_stream], validation[n_stream : n_stream + args.n_probe]
    method, step = cfg.loop_start()
    start = art.checkpoint(method, step)
    base, tokenizer = load_end_model(cfg, art=art)
    calibrator = scoring.Calibrator.load(art.calibration) if cfg.scoring.calibrate else None
    scorer = scoring.Scorer.from_config(cfg.scoring, calibrator)
    train = art.read_split("train")
    shared: dict = {}  # round 0 and the first answers: the same for every setting
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, setting in enumerate(grid(args)):
            run_cfg = dataclasses.replace(cfg, evolve=dataclasses.replace(
                ev, gates=("cloud",), controls=(), **setting))  # fmt: skip
            replay = evolve.replay_sample(train, setting["replay_size"], seed=cfg.seed)
            inputs = evolve.LoopInputs(stream, probe, [e.response for e in probe], replay)
            loop = evolve.Loop(base, tokenizer, OracleTeacher(), scorer, inputs, run_cfg)
            t0 = time.perf_counter()
            states = evolve.run_arms(loop, Artifacts(tmp), start=start, arms=("cloud",),
                                     tag=f"setting{k}-", shared=shared)  # fmt: skip
            rows += selection_rows(states["cloud"], setting, seed=cfg.seed)
            print(f"{setting_label(setting)}: {time.perf_counter() - t0:.0f} s, perplexity "
                  + " -> ".join(f"{r.probe_human_perplexity:.2f}"
                                for r in states["cloud"].records), flush=True)  # fmt: skip
    table = pd.DataFrame(rows)
    out = args.out or selection_file(ROOT / "params", args.profile)
    if args.merge and out.is_file():
        old = pd.read_csv(out)
        table = pd.concat([old[~old["setting"].isin(table["setting"])], table], ignore_index=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    chosen = pick(table)
    print(f"wrote {out}; the pick: {chosen.name}")
    print("  " + ", ".join(f"{k}: {chosen[k]}" for k in UPDATE_KEYS))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
