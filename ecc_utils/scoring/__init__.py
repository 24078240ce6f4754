"""Automated evaluation (paper Section III and IV-C), one module per concern.

* `scorers`: the SimBERT role (`Embedder`) and the RocketQA role (`Matcher`), offline e5 or
  any sentence-transformers model;
* `calibration`: raw scores mapped to [0, 1] against seeded reference pairs (`Calibrator`);
* `eq1`: Eq. (1) with the Theta rule (`final_score`) and the `Scorer` that applies it;
* `tables`: Table VI's layout and the paper's ordering claim;
* `selection`: response selection on ECD (R10@k), the scorers' validity check;
* `text`: BLEU-4 and ROUGE-L against the human replies.

``from ecc_utils import scoring`` gives every public name below.
"""

from ecc_utils.scoring.calibration import Calibrator, ScoreMap, fit_calibrator
from ecc_utils.scoring.eq1 import Scorer, final_score, score_table
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
from ecc_utils.scoring.tables import Ordering, paper_ordering, table6
from ecc_utils.scoring.text import (
    bleu,
    corpus_bleu,
    get_tokenizer,
    lcs_length,
    rouge_l,
    text_metrics,
)

__all__ = [
    "OFFLINE_EMBEDDER",
    "OFFLINE_MATCHER",
    "Calibrator",
    "Embedder",
    "Matcher",
    "Ordering",
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
    "paper_ordering",
    "rank_of_true",
    "recall_at_k",
    "rouge_l",
    "score_table",
    "selection_groups",
    "selection_recall",
    "table6",
    "text_metrics",
]
