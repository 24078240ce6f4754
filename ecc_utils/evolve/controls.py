"""The controls of the online loop, and every arm run in turn.

A gain of a gate's probe score could come from sampling noise, or from any update on cloud
answers, rather than from escalating the *low-scoring* queries. Two controls separate these,
each run like a gate (same stream, probe, seeds and local update; see `ecc_utils.evolve.loop`):

* ``no-update``: the starting adapter answers the probe each round (same per-round seeds), with
  no escalation and no local update; its gain is sampling noise.
* ``random``: each round escalates as many queries as the first gate of ``evolve.gates`` (the
  cloud gate in the shipped profiles) did that round, chosen at random (seeded by round), and
  updates exactly as the gate does; so it gets as many cloud pseudo-labels and training steps.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ecc_utils.config import CONTROLS, GATES
from ecc_utils.evolve.loop import (
    Decision,
    Loop,
    Policy,
    answers_of,
    ask_teacher,
    run_arm,
    run_gate,
)
from ecc_utils.evolve.state import LoopState, run_key
from ecc_utils.evolve.update import trainable_adapter
from ecc_utils.records import Example

if TYPE_CHECKING:
    from ecc_utils.artifacts import Artifacts


def random_picks(n: int, count: int, seed: int, k: int) -> np.ndarray:
    """Indices of `count` of `n` queries (all of them if fewer), drawn at random with a
    generator seeded by (`seed`, round `k`), in increasing order."""
    rng = np.random.default_rng([seed, k])
    return np.sort(rng.choice(n, size=min(count, n), replace=False))


def escalation_counts(state: LoopState) -> list[int]:
    """How many queries an arm escalated in each finished round (round 1 first)."""
    return [len(ids) for ids in state.escalated_ids]


def no_update_policy() -> Policy:
    """Escalate nothing, so the buffer stays empty and the adapter is never updated."""

    def decide(state: LoopState, k: int, batch: list[Example]) -> Decision:
        return Decision(np.zeros(len(batch), dtype=bool))

    return decide


def random_policy(loop: Loop, counts: Sequence[int]) -> Policy:
    """Escalate ``counts[k - 1]`` queries of round k's batch, picked by `random_picks`."""

    def decide(state: LoopState, k: int, batch: list[Example]) -> Decision:
        mask = np.zeros(len(batch), dtype=bool)
        mask[random_picks(len(batch), counts[k - 1], loop.cfg.seed, k)] = True
        picked = [e for e, m in zip(batch, mask, strict=True) if m]
        called = ask_teacher(loop.teacher, picked)
        return Decision(mask, called, answers_of(called, batch, mask))

    return decide


def run_control(
    control: str,
    loop: Loop,
    state_dir: str | Path,
    *,
    counts: Sequence[int] = (),
    run_key: str = "",
    progress: bool = True,
) -> LoopState:
    """Run (or continue) one control arm; ``random`` needs the reference gate's per-round
    escalation `counts` (`escalation_counts`), one per round of section `evolve`."""
    if control == "no-update":
        policy = no_update_policy()
    elif control == "random":
        if len(counts) < loop.cfg.evolve.rounds:
            raise ValueError(
                f"control random: {len(counts)} escalation counts for "
                f"{loop.cfg.evolve.rounds} rounds; run the reference gate first"
            )
        policy = random_policy(loop, counts)
    else:
        raise ValueError(f"control={control!r}: one of {', '.join(CONTROLS)}")
    return run_arm(control, policy, loop, state_dir, run_key=run_key, progress=progress)


def run_arms(
    loop: Loop,
    art: Artifacts,
    *,
    start: Path,
    progress: bool = True,
    arms: Sequence[str] | None = None,
    tag: str = "",
    shared: dict | None = None,
) -> dict[str, LoopState]:
    """Every arm of section `evolve` (or those of `arms`), the gates first, then the controls,
    each from the adapter saved in `start` on `loop`'s model (the base model), its state under
    ``art.evolve_dir(tag + arm)``. What the starting adapter answers (the probe at round 0, the
    gates' answers at round 1) is computed once for all arms, and for later calls that pass
    the same `shared` dict. An arm's run key covers the settings, the inputs, the starting
    adapter, the `tag` and (``random``) the reference gate's counts, so a re-run continues
    exactly the arms whose inputs are unchanged. ``random`` matches the first gate run here.
    """
    from ecc_utils.endmodel.generate import unload_adapter

    cfg, base = loop.cfg, loop.model
    ev = cfg.evolve
    order = [a for a in (*ev.gates, *ev.controls) if arms is None or a in arms]
    if arms is not None and (extra := [a for a in arms if a not in (*GATES, *CONTROLS)]):
        raise ValueError(f"arms: unknown {extra}; one of {', '.join((*GATES, *CONTROLS))}")
    if arms is not None:
        order = [a for a in (*GATES, *CONTROLS) if a in arms]
    gates = [a for a in order if a in GATES]
    if "random" in order and not gates:
        raise ValueError("control random is matched to a gate's counts: run a gate with it")
    ids = [e.id for e in [*loop.inputs.probe, *loop.inputs.stream]]
    train = cfg.train.for_method(cfg.loop_start()[0])
    settings = (ev, cfg.generation, cfg.scoring, train, cfg.seed, ids, tag)
    files = sorted(Path(start).glob("adapter_*"))
    states: dict[str, LoopState] = {}
    shared = {} if shared is None else shared  # every arm starts from `start`: done once
    for arm in order:
        counts = escalation_counts(states[gates[0]]) if arm == "random" else []
        key = run_key(arm, *settings, counts, files=files)
        arm_loop = dataclasses.replace(loop, model=trainable_adapter(base, start), shared=shared)
        where = art.evolve_dir(tag + arm)
        if arm in GATES:
            _, states[arm] = run_gate(arm, arm_loop, where, run_key=key, progress=progress)
        else:
            states[arm] = run_control(arm, arm_loop, where, counts=counts, run_key=key,
                                      progress=progress)  # fmt: skip
        base = unload_adapter(arm_loop.model)
    return states
