"""Fine-tuning the end model (paper Section IV-B, Table IV), one module per concern.

* the prompt format and the token ids of one pair live in `endmodel.format` (shared with
  generation and the likelihood) and are re-exported here;
* `pairs`: natural and teacher-labelled pairs mixed, encoded and padded into batches;
* `trainer`: `train_method` (transformers' Trainer, milestone checkpoints, exact resume);
* `run`: training as a profile says, and the CLI ``python -m ecc_utils.train``.
"""

from ecc_utils.artifacts import TrainLog, milestone_checkpoints, read_train_log
from ecc_utils.endmodel.format import (
    IGNORE_INDEX,
    PLAIN_ROLES,
    conversation_messages,
    encode_example,
    encode_prompt,
    encode_response,
)
from ecc_utils.train.pairs import (
    PadCollator,
    PairDataset,
    TrainingPairs,
    accepts_logits_to_keep,
    mix_training_pairs,
    read_teacher_labels,
)
from ecc_utils.train.run import load_training_data, run_from_profile
from ecc_utils.train.trainer import TrainOptions, TrainResult, train_method

__all__ = [
    "IGNORE_INDEX",
    "PLAIN_ROLES",
    "PadCollator",
    "PairDataset",
    "TrainLog",
    "TrainOptions",
    "TrainResult",
    "TrainingPairs",
    "accepts_logits_to_keep",
    "conversation_messages",
    "encode_example",
    "encode_prompt",
    "encode_response",
    "load_training_data",
    "milestone_checkpoints",
    "mix_training_pairs",
    "read_teacher_labels",
    "read_train_log",
    "run_from_profile",
    "train_method",
]
