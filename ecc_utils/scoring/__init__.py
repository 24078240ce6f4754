"""Automated evaluation (paper Section III and IV-C), one module per concern.

* `scorers`: the SimBERT role (`Embedder`) and the RocketQA role (`Matcher`), offline e5 or
  any sentence-transformers model;
* `calibration`: raw scores mapped to [0, 1] against seeded reference pairs (`Calibrator`);
* `eq1`: Eq. (1) with the Theta rule (`final_score`) and the `Scorer` that applies it;
* `tables`: Table VI's layout;
* `selection`: response selection on ECD (R10@k);
* `text`: BLEU-4 and ROUGE-L against the human replies, degenerate answers, distinct-n;
* `likelihood`: the end model's own likelihood of a reply (perplexity, response selection);
* `validity`: every candidate scorer measured for the SimBERT and RocketQA roles;
* `uncertainty`: seeded bootstrap intervals and paired tests;
* `evaluation`: every model on the same inputs, per-input tables and the reported metrics;
* `claims`: the paper's claims decided by paired tests, and the agreement with human metrics.

``from ecc_utils import scoring`` gives every public name below.
"""

from ecc_utils.scoring.calibration import Calibrator, ScoreMap, fit_calibrator
from ecc_utils.scoring.claims import (
    CLAIM_METRICS,
    Claim,
    agreement,
    claim_status,
    claims_of,
    decide_claims,
    name_problems,
    paper_claims,
    summary_sentence,
)
from ecc_utils.scoring.eq1 import Scorer, final_score, score_table
from ecc_utils.scoring.evaluation import (
    METRICS,
    CandidateGroup,
    EvaluationSet,
    diversity,
    evaluate_models,
    groups_from_candidates,
    interval_text,
    measured_metrics,
    metric_intervals,
    per_group_table,
    per_input_table,
    perplexity_by_source,
    selector_table,
)
from ecc_utils.scoring.model_as_judge import LikelihoodMatcher, reply_logprobs, selection_scores
from ecc_utils.scoring.scorers import (
    OFFLINE_EMBEDDER,
    OFFLINE_MATCHER,
    Embedder,
    Matcher,
    make_scorers,
)
from ecc_utils.scoring.selection import (
    SelectionGroup,
    chance_recall,
    evaluate_selection,
    rank_of_true,
    recall_at_k,
    selection_groups,
    selection_recall,
)
from ecc_utils.scoring.tables import table6_from_scores
from ecc_utils.scoring.text import (
    bleu,
    corpus_bleu,
    distinct_n,
    get_tokenizer,
    is_degenerate,
    lcs_length,
    rouge_l,
)
from ecc_utils.scoring.uncertainty import (
    Interval,
    bootstrap,
    mean_interval,
    paired_test,
    spearman,
    verdict,
)
from ecc_utils.scoring.validity import (
    Candidate,
    best,
    measure,
    separation_sets,
    validity_table,
)

__all__ = [
    "CLAIM_METRICS",
    "METRICS",
    "Candidate",
    "CandidateGroup",
    "EvaluationSet",
    "Claim",
    "Interval",
    "LikelihoodMatcher",
    "agreement",
    "best",
    "bootstrap",
    "claim_status",
    "decide_claims",
    "distinct_n",
    "diversity",
    "evaluate_models",
    "groups_from_candidates",
    "validity_table",
    "interval_text",
    "is_degenerate",
    "mean_interval",
    "measure",
    "measured_metrics",
    "metric_intervals",
    "paired_test",
    "claims_of",
    "name_problems",
    "paper_claims",
    "per_group_table",
    "per_input_table",
    "perplexity_by_source",
    "selector_table",
    "reply_logprobs",
    "selection_scores",
    "separation_sets",
    "spearman",
    "summary_sentence",
    "verdict",
    "OFFLINE_EMBEDDER",
    "OFFLINE_MATCHER",
    "Calibrator",
    "Embedder",
    "Matcher",
    "ScoreMap",
    "Scorer",
    "SelectionGroup",
    "bleu",
    "chance_recall",
    "corpus_bleu",
    "evaluate_selection",
    "final_score",
    "fit_calibrator",
    "get_tokenizer",
    "lcs_length",
    "make_scorers",
    "rank_of_true",
    "recall_at_k",
    "rouge_l",
    "score_table",
    "selection_groups",
    "selection_recall",
    "table6_from_scores",
]
