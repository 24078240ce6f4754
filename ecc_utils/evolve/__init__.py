"""Online evolutive learning (Section III): low scores become cloud pseudo-labels.

The end model answers a stream of user queries in rounds; a *gate* escalates the queries whose
answer scores low (their masked query goes to the cloud teacher, whose answer becomes a
pseudo-label) and the end model is updated locally on them plus a replay sample of its training
pairs. Two *controls* run beside the gates so the page can say whether escalating the
low-scoring queries is what helps.

| module | role |
|---|---|
| `gates` | the two gates, the threshold rule (`gate_threshold`), simulated dissatisfaction |
| `loop` | the rounds shared by every arm (`run_arm`), `run_gate`, the stream split |
| `controls` | the no-update and random-escalation controls, `run_arms` (every arm in turn) |
| `update` | the local update (Trainer) and its settings per round, the replay, the trainable adapter |
| `state` | per-round records and saved state (resume), adapter weights, run keys |
| `report` | the page's tables: per-round gain with intervals, tests against the controls |
| `cost` | cloud calls and escalations per arm and round, the match-only gate's saving |
| `selection` | the update settings chosen with perfect labels (`bench/sweep_update.py`'s table) |
| `sanity` | the oracle check, every arm's probe perplexity, the tests' minimum detectable effect |
"""

from ecc_utils.evolve.controls import (
    escalation_counts,
    no_update_policy,
    random_picks,
    random_policy,
    run_arms,
    run_control,
)
from ecc_utils.evolve.cost import cost_sentence, cost_table
from ecc_utils.evolve.gates import Dissatisfaction, escalate, gate_threshold, threshold_rule
from ecc_utils.evolve.loop import (
    Decision,
    Loop,
    LoopInputs,
    Teacher,
    gate_policy,
    round_sampling,
    run_arm,
    run_gate,
    split_stream,
)
from ecc_utils.evolve.report import (
    arm_totals,
    compare_controls,
    controls_sentence,
    escalated_shares,
    escalation_table,
    evolution_summary,
    evolution_table,
    human_sentence,
    probe_gain,
    study_loop_table,
    teachers_sentence,
    thresholds,
)
from ecc_utils.evolve.sanity import (
    detectable,
    detectable_sentence,
    oracle_sentence,
    perplexity_table,
)
from ecc_utils.evolve.selection import (
    agreement,
    pick,
    previous_sentence,
    read_selection,
    selection_file,
    selection_rows,
    selection_view,
    update_rule,
)
from ecc_utils.evolve.state import (
    EvolveError,
    LoopState,
    ProbeResult,
    QueryDecision,
    RoundRecord,
    run_key,
)
from ecc_utils.evolve.update import (
    UpdateSettings,
    local_update,
    replay_sample,
    trainable_adapter,
    update_examples,
)

__all__ = [
    "Decision",
    "Dissatisfaction",
    "EvolveError",
    "Loop",
    "LoopInputs",
    "LoopState",
    "ProbeResult",
    "QueryDecision",
    "RoundRecord",
    "Teacher",
    "UpdateSettings",
    "agreement",
    "compare_controls",
    "controls_sentence",
    "cost_sentence",
    "cost_table",
    "detectable",
    "detectable_sentence",
    "escalate",
    "escalation_counts",
    "escalation_table",
    "evolution_table",
    "evolution_summary",
    "escalated_shares",
    "arm_totals",
    "gate_policy",
    "gate_threshold",
    "human_sentence",
    "local_update",
    "no_update_policy",
    "oracle_sentence",
    "perplexity_table",
    "pick",
    "previous_sentence",
    "probe_gain",
    "random_picks",
    "random_policy",
    "read_selection",
    "replay_sample",
    "round_sampling",
    "run_arm",
    "run_arms",
    "run_control",
    "run_gate",
    "run_key",
    "selection_file",
    "selection_rows",
    "selection_view",
    "split_stream",
    "study_loop_table",
    "teachers_sentence",
    "threshold_rule",
    "thresholds",
    "trainable_adapter",
    "update_examples",
    "update_rule",
]
