"""Online evolutive learning (Section III): low scores become cloud pseudo-labels.

A stream of user queries is processed in rounds. The end model answers each query; the answer
is scored; a query that the gate escalates goes to the cloud teacher, whose (masked) answer joins
a pseudo-label buffer. After each round the end model is updated locally on the buffer plus a
replay sample of the original training data (against forgetting), with transformers' Trainer.

Two gates decide what is escalated:

* ``cloud`` (the paper): every query is also sent to the cloud so the answer can be scored with
  Eq. (1); a final score below `threshold` escalates it (its cloud answer becomes a label).
* ``match-only`` (our extension): only the query-answer match (RocketQA role) is computed on the
  device; a match below `theta` escalates, so confident answers never leave the device.

An optional simulated dissatisfaction signal escalates a query too. The loop's state (buffer,
per-round records, adapter) is saved after every round, so a failure mid-round (say, the teacher
giving up) loses nothing finished, and a re-run continues with the next round.
"""

from __future__ import annotations

import json
import random
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd

from ecc_utils.config import GATES
from ecc_utils.paper import THETA
from ecc_utils.records import Example, atomic_write_text

if TYPE_CHECKING:
    from ecc_utils.config import Profile, TrainConfig
    from ecc_utils.scoring import Scorer


class EvolveError(RuntimeError):
    """The loop stopped; the message says where and what was kept."""


class Teacher(Protocol):
    def label(self, queries: Sequence[str], ids: Sequence[str] | None = None) -> list: ...


def escalate(
    gate: str,
    *,
    final: np.ndarray | None = None,
    match: np.ndarray | None = None,
    threshold: float = 0.5,
    theta: float = THETA,
    dissatisfied: np.ndarray | None = None,
) -> np.ndarray:
    """Boolean mask of the queries a gate sends to the cloud for a pseudo-label."""
    if gate == "cloud":
        if final is None:
            raise ValueError("gate 'cloud' needs the final scores (final=)")
        mask = np.asarray(final) < threshold
    elif gate == "match-only":
        if match is None:
            raise ValueError("gate 'match-only' needs the match scores (match=)")
        mask = np.asarray(match) < theta
    else:
        raise ValueError(f"gate={gate!r}: one of {', '.join(GATES)}")
    if dissatisfied is not None:
        mask = mask | np.asarray(dissatisfied, dtype=bool)
    return mask


@dataclass
class RoundRecord:
    """One row of `evolution.csv`."""

    gate: str
    round: int
    n_queries: int
    n_escalated: int
    escalated_fraction: float
    cloud_calls: int
    cloud_input_tokens: int
    cloud_output_tokens: int
    buffer_size: int
    train_time_s: float
    probe_mean_score: float
    probe_mean_sim: float


@dataclass
class LoopState:
    """What survives between rounds (and between runs): the buffer and the records so far."""

    gate: str
    buffer: list[dict] = field(default_factory=list)  # Example dicts (teacher pseudo-labels)
    records: list[dict] = field(default_factory=list)
    escalated_ids: list[list[str]] = field(default_factory=list)
    decisions: list[dict] = field(default_factory=list)  # per query: round, id, gate score
    probe_answers: list[list[str]] = field(default_factory=list)  # per round, incl. round 0
    probe_scores: list[list[float]] = field(default_factory=list)  # final score per probe query
    run_key: str = ""  # what the state was computed from; another key starts afresh

    @property
    def rounds_done(self) -> int:
        return len(self.escalated_ids)

    def save(self, path: Path) -> None:
        atomic_write_text(path, json.dumps(asdict(self), ensure_ascii=False, indent=1))

    @classmethod
    def load(cls, path: Path, gate: str, run_key: str = "") -> LoopState:
        """The saved state, or a fresh one when there is none or it belongs to another run."""
        if path.is_file():
            state = cls(**json.loads(path.read_text(encoding="utf-8")))
            if state.run_key == run_key and state.gate == gate:
                return state
        return cls(gate, run_key=run_key)


@dataclass
class Dissatisfaction:
    """A simulated unhappy user, from the data's labels (ECD's true and false candidates).

    The user of query `id` is dissatisfied when the end model's answer is closer (by the
    embedder) to one of the corpus's false replies for that context than to the true one.
    Queries without candidates never complain. Call it as ``d(batch, answers) -> bool array``.
    """

    candidates: dict[str, tuple[list[str], int]]  # id -> (candidate replies, true index)
    embedder: Any

    @classmethod
    def from_jsonl(cls, path: str | Path, embedder: Any) -> Dissatisfaction:
        from ecc_utils.records import iter_jsonl

        rows = iter_jsonl(path) if Path(path).is_file() else []
        return cls({r["id"]: (r["candidates"], int(r["true_index"])) for r in rows}, embedder)

    def __call__(self, batch: Sequence[Example], answers: Sequence[str]) -> np.ndarray:
        out = np.zeros(len(batch), dtype=bool)
        for i, (e, a) in enumerate(zip(batch, answers, strict=True)):
            if e.id in self.candidates:
                cands, true = self.candidates[e.id]
                sims = self.embedder.similarity([a] * len(cands), cands)
                out[i] = int(np.argmax(sims)) != true
        return out


def local_update(
    model: Any,
    tokenizer: Any,
    examples: Sequence[Example],
    cfg: TrainConfig,
    *,
    steps: int,
    seed: int = 0,
    work_dir: str | Path,
) -> float:
    """Fine-tune the (trainable PEFT) `model` in place for `steps` steps at a constant rate;
    learning rate, batch size and lengths from profile section `train` (`cfg`). Returns seconds."""
    from transformers import Trainer, TrainingArguments, set_seed

    from ecc_utils.train.pairs import PadCollator, PairDataset

    if not examples:
        return 0.0
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    set_seed(seed)
    args = TrainingArguments(
        output_dir=str(work_dir),
        max_steps=steps,
        learning_rate=cfg.learning_rate,
        per_device_train_batch_size=cfg.batch_size,
        lr_scheduler_type="constant",
        save_strategy="no",
        report_to="none",
        logging_strategy="no",
        seed=seed,
        data_seed=seed,
        remove_unused_columns=False,
        label_names=["labels"],
        use_cpu=next(model.parameters()).device.type == "cpu",
        disable_tqdm=True,
    )
    dataset = PairDataset(tokenizer, examples, cfg.max_input_length, cfg.max_output_length)
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=dataset,
        data_collator=PadCollator(tokenizer.pad_token_id),
    )
    t0 = time.perf_counter()
    trainer.train()
    model.eval()
    return time.perf_counter() - t0


def _tokens(records, attr: str) -> int:
    return int(sum(getattr(r, attr, 0) or 0 for r in records))


@dataclass(frozen=True)
class LoopInputs:
    """What the loop reads: the query stream, the probe set with its references (the cloud's
    answers), the replay pool of original training pairs, and optionally the simulated
    dissatisfaction signal (`Dissatisfaction`)."""

    stream: Sequence[Example]
    probe: Sequence[Example]
    probe_references: Sequence[str]
    replay: Sequence[Example]
    dissatisfied: Any = None


def run_gate(
    gate: str,
    model: Any,
    tokenizer: Any,
    teacher: Teacher,
    scorer: Scorer,
    inputs: LoopInputs,
    cfg: Profile,
    state_dir: str | Path,
    *,
    run_key: str = "",
    progress: bool = True,
) -> tuple[list[RoundRecord], LoopState]:
    """Run (or continue) the loop for one gate on a trainable PEFT `model`.

    Rounds, queries per round, the threshold and the local steps come from the profile's
    section `evolve`; sampling from `generation`; the local update's learning rate and lengths
    from `train`. Round 0 is the starting point (probe score before any update). The adapter
    and the state are saved under `state_dir` after each round; a re-run with the same
    `state_dir` and `run_key` (say, a hash of the settings and the starting adapter) loads
    them and continues after the last finished round; a different `run_key` starts afresh.
    """
    from tqdm.auto import tqdm

    from ecc_utils.generate import Sampling, generate

    if gate not in GATES:
        raise ValueError(f"gate={gate!r}: one of {', '.join(GATES)}")
    ev, seed = cfg.evolve, cfg.seed
    rounds, queries_per_round = ev.rounds, ev.queries_per_round
    stream, probe, replay = inputs.stream, inputs.probe, inputs.replay
    need = rounds * queries_per_round
    if len(stream) < need:
        raise ValueError(
            f"stream: {len(stream)} queries, but rounds x queries_per_round = {need}; "
            "raise data.n_eval or lower evolve.rounds / evolve.queries_per_round"
        )
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    state_file = state_dir / "state.json"
    state = LoopState.load(state_file, gate, run_key)
    gen = Sampling.from_profile(cfg)
    if state.rounds_done:
        _load_adapter_weights(model, state_dir / "adapter")

    def probe_scores() -> pd.DataFrame:
        answers = generate(model, tokenizer, list(probe), gen)
        state.probe_answers.append(answers)
        scores = scorer.score([e.query for e in probe], answers, list(inputs.probe_references))
        state.probe_scores.append([float(x) for x in scores["final_score"]])
        return scores

    if not state.records:  # round 0: before any local update
        p = probe_scores()
        state.records.append(asdict(RoundRecord(gate, 0, 0, 0, 0.0, 0, 0, 0, 0, 0.0, *_means(p))))
        state.save(state_file)

    bar = tqdm(range(state.rounds_done, rounds), desc=f"gate {gate}", disable=not progress)
    for r in bar:
        batch = list(stream[r * queries_per_round : (r + 1) * queries_per_round])
        queries = [e.query for e in batch]
        ids = [e.id for e in batch]
        answers = generate(model, tokenizer, batch, gen)
        unhappy = inputs.dissatisfied(batch, answers) if inputs.dissatisfied is not None else None
        try:
            if gate == "cloud":  # the paper: the cloud answers every query, to score the end model
                labels = teacher.label(queries, ids)
                cloud = [x.answer for x in labels]
                gate_score = scorer.score(queries, answers, cloud)["final_score"].to_numpy()
                mask = escalate(
                    gate, final=gate_score, threshold=ev.threshold, dissatisfied=unhappy
                )
                called = labels
            else:  # match-only: the device decides; only escalated queries reach the cloud
                gate_score = scorer.match(queries, answers)
                mask = escalate(gate, match=gate_score, theta=scorer.theta, dissatisfied=unhappy)
                picked = [i for i, m in enumerate(mask) if m]
                called = teacher.label([queries[i] for i in picked], [ids[i] for i in picked])
                cloud = [""] * len(batch)
                for i, rec in zip(picked, called, strict=True):
                    cloud[i] = rec.answer
        except Exception as e:
            raise EvolveError(
                f"gate {gate}, round {r + 1}: the teacher failed ({type(e).__name__}: {e}); "
                f"{state.rounds_done} finished rounds and a buffer of {len(state.buffer)} "
                f"pseudo-labels are kept in {state_dir}; re-run to continue"
            ) from e
        masked = {rec.id: rec.query for rec in called}  # the query as the teacher saw it
        new = [
            Example(
                id=f"pseudo-{e.id}",
                source="teacher",
                context=list(e.context),
                query=masked[e.id],
                response=cloud[i],
            ).to_dict()
            for i, e in enumerate(batch)
            if mask[i]
        ]
        state.buffer.extend(new)
        rng = random.Random(seed * 1000 + r)
        replay_part = rng.sample(list(replay), min(len(replay), len(state.buffer)))
        train_set = [Example.from_dict(d) for d in state.buffer] + replay_part
        secs = local_update(
            model,
            tokenizer,
            train_set,
            cfg.train,
            steps=ev.steps_per_round,
            seed=seed + r,
            work_dir=state_dir / "trainer",
        )
        p = probe_scores()
        rec = RoundRecord(
            gate,
            r + 1,
            len(batch),
            int(mask.sum()),
            float(mask.mean()),
            len(called),
            _tokens(called, "input_tokens"),
            _tokens(called, "output_tokens"),
            len(state.buffer),
            round(secs, 3),
            *_means(p),
        )
        state.records.append(asdict(rec))
        state.escalated_ids.append([ids[i] for i in range(len(batch)) if mask[i]])
        state.decisions.extend(
            {
                "round": r + 1,
                "id": ids[i],
                "query": queries[i],
                "answer": answers[i],
                "gate_score": float(gate_score[i]),
                "escalated": bool(mask[i]),
            }
            for i in range(len(batch))
        )
        _save_adapter_weights(model, state_dir / "adapter")
        state.save(state_file)
    return [RoundRecord(**d) for d in state.records], state


def _means(p: pd.DataFrame) -> tuple[float, float]:
    return float(p["final_score"].mean()), float(p["sim"].mean())


def _save_adapter_weights(model: Any, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp))
    shutil.rmtree(path, ignore_errors=True)
    tmp.rename(path)


def _load_adapter_weights(model: Any, path: Path) -> None:
    from peft import set_peft_model_state_dict
    from peft.utils import load_peft_weights

    set_peft_model_state_dict(model, load_peft_weights(str(path)))


def evolution_table(records: Sequence[RoundRecord]) -> pd.DataFrame:
    """The rows of `evolution.csv`, one per (gate, round)."""
    return pd.DataFrame([asdict(r) for r in records])


def split_stream(
    pool: Sequence[Example], *, n_probe: int, n_stream: int, seed: int = 0
) -> tuple[list[Example], list[Example]]:
    """(probe, stream) from held-out evaluation items, never the six Table VI inputs."""
    items = [e for e in pool if e.label is None]
    need = n_probe + n_stream
    if len(items) < need:
        raise ValueError(
            f"evaluation pool: {len(items)} held-out items besides the Table VI inputs, "
            f"need n_probe + rounds x queries_per_round = {need}; raise data.n_eval"
        )
    rng = random.Random(seed)
    items = rng.sample(items, need)
    return items[:n_probe], items[n_probe:]


def trainable_adapter(base_model: Any, checkpoint_dir: str | Path) -> Any:
    """`base_model` with the adapter of `checkpoint_dir` loaded for further training."""
    from peft import PeftModel

    return PeftModel.from_pretrained(base_model, str(checkpoint_dir), is_trainable=True)


def run_key(*parts: Any, files: Sequence[Path] = ()) -> str:
    """A short hash of settings and file contents, for `run_gate(run_key=...)`."""
    import hashlib

    h = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode())
    for f in sorted(Path(x) for x in files):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def replay_sample(train: Sequence[Example], n: int, seed: int = 0) -> list[Example]:
    """A seeded sample of `n` original training pairs, replayed beside the pseudo-labels."""
    return random.Random(seed).sample(list(train), min(n, len(train)))


def probe_gain(states: dict[str, LoopState], seed: int = 0) -> pd.DataFrame:
    """Per gate: the probe set's mean final score before the first and after the last local
    update, and their paired difference over the probe queries with a 95 % interval."""
    from ecc_utils.scoring.uncertainty import mean_interval, verdict

    rows = []
    for gate, state in states.items():
        first, last = np.array(state.probe_scores[0]), np.array(state.probe_scores[-1])
        diff = mean_interval(last - first, seed=seed)
        rows.append({"gate": gate, "rounds": state.rounds_done, "start": float(first.mean()),
                     "end": float(last.mean()), "difference": diff.estimate, "low": diff.low,
                     "high": diff.high, "n": diff.n, "verdict": verdict(diff)})  # fmt: skip
    return pd.DataFrame(rows)
