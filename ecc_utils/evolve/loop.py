"""The rounds of the online loop, shared by every arm (a gate or a control).

A stream of user queries is processed in rounds. In round k an arm's *policy* decides which
queries of the batch are escalated (their masked query goes to the cloud teacher, whose answer
joins the pseudo-label buffer); then the end model is updated locally on the buffer plus a
replay sample of the original training pairs, and answers the fixed probe set, scored with
Eq. (1) against the cloud's answers, and also against the dialogues' human replies (Eq. (1)
with the human reply in the cloud's place, and the perplexity of the human replies), since
training on the teacher's answers raises the first by construction. Round 0 is the starting
adapter.

Pairing: round k samples every answer with seed ``profile.seed + k`` in every arm, so the arms'
probe answers at a round differ only through their weights (at round 0 they are identical),
and the update of round k uses the same training seed and replay sample in every arm.

The state (buffer, per-round records, probe scores, threshold, adapter) is saved after every
round, so a failure mid-round (say, the teacher giving up) loses nothing finished, and a re-run
continues with the next round.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ecc_utils.config import GATES
from ecc_utils.evolve.gates import escalate, gate_threshold
from ecc_utils.evolve.state import (
    EvolveError,
    LoopState,
    ProbeResult,
    QueryDecision,
    RoundRecord,
    load_adapter_weights,
    save_adapter_weights,
)
from ecc_utils.evolve.update import UpdateSettings, local_update, update_examples
from ecc_utils.records import Example

if TYPE_CHECKING:
    from ecc_utils.config import Profile
    from ecc_utils.endmodel.generate import Sampling
    from ecc_utils.scoring import Scorer


class Teacher(Protocol):
    def label_examples(self, examples: Sequence[Example]) -> list: ...


class TeacherFailure(RuntimeError):
    """The teacher raised inside a policy (wrapped so the loop can say what was kept)."""


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


@dataclass(frozen=True)
class Loop:
    """What one arm runs with besides its policy: the trainable PEFT model it updates, the
    tokenizer, the cloud teacher (None for an arm that never asks), the scorer, the inputs
    and the profile (sections evolve, generation, train, seed)."""

    model: Any
    tokenizer: Any
    teacher: Teacher | None
    scorer: Scorer
    inputs: LoopInputs
    cfg: Profile
    # What the starting adapter computes, shared by arms that start from the same adapter
    # (`run_arms` gives them one dict; None: nothing shared).
    shared: dict | None = field(default=None, compare=False, repr=False)
    # The merged answering copy, kept between answers and arms (`answering_copy`'s `reuse`).
    copies: dict = field(default_factory=dict, compare=False, repr=False)

    def answer(self, examples: Sequence[Example], sampling: Sampling) -> list[str]:
        """The end model's answers to `examples` as trained so far: sampled from a merged copy
        in the profile's inference dtype (`endmodel.generate.answering_copy`), as the scoring
        page answers, not from the float32 training model with its adapter unmerged."""
        from ecc_utils.endmodel.generate import answering_copy, generate
        from ecc_utils.endmodel.load import resolve_inference_dtype

        e = self.cfg.end_model
        device = str(next(self.model.parameters()).device)
        dtype = resolve_inference_dtype(e.inference_dtype, e.dtype, device)
        with answering_copy(self.model, dtype, reuse=self.copies) as m:
            return generate(m, self.tokenizer, examples, sampling)

    def answer_and_likelihood(
        self, examples: Sequence[Example], sampling: Sampling
    ) -> tuple[list[str], np.ndarray, np.ndarray]:
        """`answer`, and each example's human reply scored by the same merged copy: its summed
        log-probability and token count (cut to ``train.max_output_length``, as page 04)."""
        from ecc_utils.endmodel.generate import answering_copy, generate
        from ecc_utils.endmodel.load import resolve_inference_dtype
        from ecc_utils.endmodel.reply_likelihood import reply_logprobs

        e = self.cfg.end_model
        device = str(next(self.model.parameters()).device)
        dtype = resolve_inference_dtype(e.inference_dtype, e.dtype, device)
        with answering_copy(self.model, dtype, reuse=self.copies) as m:
            answers = generate(m, self.tokenizer, examples, sampling)
            scores = reply_logprobs(
                m, self.tokenizer, [(x.context, x.query) for x in examples],
                [[x.response] for x in examples], max_input_length=sampling.max_input_length,
                max_reply_tokens=self.cfg.train.max_output_length,
            )  # fmt: skip
        logprob = np.array([float(s.logprob[0]) for s in scores])
        return answers, logprob, np.array([int(s.tokens[0]) for s in scores])

    def once(self, key: tuple, compute: Callable[[], Any], *, starting: bool) -> Any:
        """``compute()``, or its result from an earlier arm when the model is still the
        starting adapter (`starting`): the arms answer with the same weights and seed there, so
        the answers are the same, and are computed once."""
        if self.shared is None or not starting:
            return compute()
        if key not in self.shared:
            self.shared[key] = compute()
        return self.shared[key]


@dataclass
class Decision:
    """What an arm's policy decided for one round's batch."""

    mask: np.ndarray  # escalated queries
    called: list = field(default_factory=list)  # the teacher's records this round (cost)
    cloud: list[str] = field(default_factory=list)  # teacher answer per query ("" if not asked)
    answers: list[str] | None = None  # the end model's answers, where the policy made them
    gate_score: np.ndarray | None = None


# (state so far, round number k >= 1, the round's batch) -> Decision
Policy = Callable[[LoopState, int, list[Example]], Decision]


def round_sampling(cfg: Profile, k: int) -> Sampling:
    """Section `generation` of the profile, seeded ``seed + k`` for round `k` (every arm)."""
    from ecc_utils.endmodel.generate import Sampling

    return dataclasses.replace(Sampling.from_profile(cfg), seed=cfg.seed + k)


def ask_teacher(teacher: Teacher | None, examples: Sequence[Example]) -> list:
    """The teacher's records for `examples` (their queries, ids and dialogue; none asked:
    none); its failure a `TeacherFailure`."""
    if not examples:
        return []
    if teacher is None:
        raise ValueError("this arm escalates queries but was given no teacher")
    try:
        return list(teacher.label_examples(list(examples)))
    except Exception as e:
        raise TeacherFailure(f"{type(e).__name__}: {e}") from e


def answers_of(called: Sequence, batch: Sequence[Example], mask: np.ndarray) -> list[str]:
    """The teacher's answer per query of `batch` ("" where it was not escalated)."""
    by_id = {rec.id: rec.answer for rec in called}
    return [by_id[e.id] if m else "" for e, m in zip(batch, mask, strict=True)]


def run_arm(
    arm: str,
    policy: Policy,
    loop: Loop,
    state_dir: str | Path,
    *,
    run_key: str = "",
    progress: bool = True,
) -> LoopState:
    """Run (or continue) one arm: `policy` decides each round's escalations, the rest (buffer,
    replay, local update, probe, records, saving) is the same for every arm.

    Rounds, queries per round and local steps come from section `evolve`; the local update's
    learning rate, batch size and lengths from section `train`, resolved for the method the loop
    starts from (`Profile.loop_start`, `TrainConfig.for_method`). State and adapter are saved
    under `state_dir` after each round; a re-run with the same `state_dir` and `run_key`
    continues after the last finished round; another `run_key` starts afresh.
    """
    from tqdm.auto import tqdm

    ev = loop.cfg.evolve
    _check_stream(loop)
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    state_file, adapter = state_dir / "state.json", state_dir / "adapter"
    state = LoopState.load(state_file, arm, run_key)
    if state.rounds_done:
        load_adapter_weights(loop.model, adapter)
    if not state.records:  # round 0: before any local update
        probe = _probe(loop, state, 0, starting=True)
        state.records.append(RoundRecord.start(arm, **probe))
        state.save(state_file)
    label = f"gate {arm}" if arm in GATES else f"control {arm}"
    q = ev.queries_per_round
    for r in tqdm(range(state.rounds_done, ev.rounds), desc=label, disable=not progress):
        batch = list(loop.inputs.stream[r * q : (r + 1) * q])
        try:
            d = policy(state, r + 1, batch)
        except TeacherFailure as e:
            raise EvolveError(
                f"{label}, round {r + 1}: the teacher failed ({e}); {state.rounds_done} finished "
                f"rounds and a buffer of {len(state.buffer)} pseudo-labels are kept in "
                f"{state_dir}; re-run to continue"
            ) from e.__cause__
        _finish_round(loop, state, r + 1, batch, d, state_dir)
        save_adapter_weights(loop.model, adapter)
        state.save(state_file)
    return state


def _check_stream(loop: Loop) -> None:
    ev = loop.cfg.evolve
    need = ev.rounds * ev.queries_per_round
    if len(loop.inputs.stream) < need:
        raise ValueError(
            f"stream: {len(loop.inputs.stream)} queries, but rounds x queries_per_round = "
            f"{need}; raise data.n_eval or lower evolve.rounds / evolve.queries_per_round"
        )


def _finish_round(
    loop: Loop, state: LoopState, k: int, batch: list[Example], d: Decision, state_dir: Path
) -> None:
    """Round `k` after the policy's decision `d`: the escalated queries join the buffer, a
    replay sample of the training pairs joins them in the local update, the probe is scored
    and the round recorded in `state`."""
    cfg, ev, r = loop.cfg, loop.cfg.evolve, k - 1
    masked = {rec.id: rec.query for rec in d.called}  # the query as the teacher saw it
    new = [Example(id=f"pseudo-{e.id}", source="teacher", context=list(e.context),
                   query=masked[e.id], response=d.cloud[i])
           for i, e in enumerate(batch) if d.mask[i]]  # fmt: skip
    state.buffer.extend(new)
    rng = random.Random(cfg.seed * 1000 + r)
    examples = update_examples(new, state.buffer, loop.inputs.replay, ev, rng)
    train = cfg.train.for_method(cfg.loop_start()[0])
    update = UpdateSettings.for_round(ev, train, len(examples))
    secs = local_update(loop.model, loop.tokenizer, examples, train, update, seed=cfg.seed + r,
                        work_dir=state_dir / "trainer")  # fmt: skip
    probe = _probe(loop, state, k, starting=False)
    mask = np.asarray(d.mask, dtype=bool)
    record = RoundRecord(
        arm=state.arm, round=k, n_queries=len(batch), n_escalated=int(mask.sum()),
        escalated_fraction=float(mask.mean()), cloud_calls=len(d.called),
        cloud_input_tokens=_tokens(d.called, "input_tokens"),
        cloud_output_tokens=_tokens(d.called, "output_tokens"), buffer_size=len(state.buffer),
        train_time_s=round(secs, 3), **probe, threshold=state.threshold,
        update_steps=update.steps if examples else 0,
    )  # fmt: skip
    state.records.append(record)
    for rec in state.records:  # round 0's row shows the threshold fixed at round 1
        rec.threshold = state.threshold
    state.escalated_ids.append([e.id for e, m in zip(batch, mask, strict=True) if m])
    state.decisions.extend(
        QueryDecision(round=k, id=e.id, query=e.query,
                      answer=None if d.answers is None else d.answers[i],
                      gate_score=None if d.gate_score is None else float(d.gate_score[i]),
                      escalated=bool(mask[i]))
        for i, e in enumerate(batch)
    )  # fmt: skip


def _probe(loop: Loop, state: LoopState, k: int, *, starting: bool) -> dict[str, float]:
    """Answer and score the probe set at round `k` (once for every arm when the model is the
    `starting` adapter); keep its `ProbeResult` in `state` and return the round record's probe
    columns: Eq. (1) and similarity against the teacher's answers, Eq. (1) against the human
    replies, the human replies' perplexity."""
    probe = list(loop.inputs.probe)

    def answer_and_score() -> tuple[ProbeResult, float]:
        answers, logprob, tokens = loop.answer_and_likelihood(probe, round_sampling(loop.cfg, k))
        queries = [e.query for e in probe]
        teacher = loop.scorer.score(queries, answers, list(loop.inputs.probe_references))
        human = loop.scorer.score(queries, answers, [e.response for e in probe])
        result = ProbeResult(answers, [float(x) for x in teacher["final_score"]],
                             [float(x) for x in human["final_score"]],
                             [float(-x) for x in logprob], [int(x) for x in tokens])  # fmt: skip
        return result, float(np.mean([float(x) for x in teacher["sim"]]))

    result, mean_sim = loop.once(("probe", k), answer_and_score, starting=starting)
    state.probes.append(result)
    return {"probe_mean_score": float(np.mean(result.teacher)), "probe_mean_sim": mean_sim,
            "probe_human_score": float(np.mean(result.human)),
            "probe_human_perplexity": result.perplexity()}  # fmt: skip


def _tokens(records: Sequence, attr: str) -> int:
    return int(sum(getattr(r, attr, 0) or 0 for r in records))


def gate_policy(gate: str, loop: Loop) -> Policy:
    """The policy of a gate (see `ecc_utils.evolve.gates`): answer the batch, score it, fix
    the threshold at round 1, escalate below it (or on dissatisfaction)."""
    if gate not in GATES:
        raise ValueError(f"gate={gate!r}: one of {', '.join(GATES)}")

    def decide(state: LoopState, k: int, batch: list[Example]) -> Decision:
        queries = [e.query for e in batch]
        answers = loop.once(
            ("answers", k, tuple(e.id for e in batch)),
            lambda: loop.answer(batch, round_sampling(loop.cfg, k)),
            starting=not state.rounds_done,  # round 1: every gate still has the start's weights
        )
        unhappy = loop.inputs.dissatisfied
        unhappy = unhappy(batch, answers) if unhappy is not None else None
        if gate == "cloud":  # the paper: the cloud answers every query, to score the end model
            called = ask_teacher(loop.teacher, batch)
            score = loop.scorer.score(queries, answers, [x.answer for x in called])
            score = score["final_score"].to_numpy()
        else:  # match-only: the device decides; only escalated queries reach the cloud
            score = np.asarray(loop.scorer.match(queries, answers), dtype=float)
        if state.threshold is None:
            state.threshold = gate_threshold(gate, loop.cfg.evolve, score, loop.scorer.theta)
        mask = escalate(score, state.threshold, dissatisfied=unhappy)
        if gate == "cloud":
            cloud = [x.answer if m else "" for x, m in zip(called, mask, strict=True)]
        else:
            picked = np.flatnonzero(mask)
            called = ask_teacher(loop.teacher, [batch[i] for i in picked])
            cloud = answers_of(called, batch, mask)
        return Decision(mask, called, cloud, answers, score)

    return decide


def run_gate(
    gate: str, loop: Loop, state_dir: str | Path, *, run_key: str = "", progress: bool = True
) -> tuple[list[RoundRecord], LoopState]:
    """Run (or continue) the loop for one gate on `loop`'s trainable PEFT model (see
    `run_arm`); returns the per-round records (round 0 first) and the state."""
    state = run_arm(
        gate, gate_policy(gate, loop), loop, state_dir, run_key=run_key, progress=progress
    )
    return state.round_records(), state


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
