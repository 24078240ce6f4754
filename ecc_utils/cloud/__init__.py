"""The cloud teacher (paper Section IV-A, Tables II and III).

The cloud model receives the role description of Table II, N numbered customer / agent
example pairs (N = 500 in the paper) and a customer query; its answer becomes a training
label for the end model and, later, the reference that Eq. (1) scores the end model against.

Pieces, in the order a query passes through them:

* `prompt.build_prompt` renders Table II as a `FewShotPrompt`: a fixed ``prefix`` (role +
  examples, identical for every query, so providers can cache it) and a per-query ``suffix``.
* `teacher.Teacher.label` masks each query with `ecc_utils.privacy.mask`, looks it up in the
  `cache.LabelCache` (append-only JSONL, one fsync'ed line per answer), and only on a miss
  calls a backend, one module each: `gemini` (google-genai), `openai_api` (any
  OpenAI-compatible server), `hf` (a local transformers model) or `knn` (the offline default:
  the answer of the most similar few-shot question, the degenerate in-context learner).
* ``mode="batch"`` sends the misses as one provider batch job (`batch`; gemini and openai),
  resumable from the job id persisted next to the cache file.
* Every cache line is a row of the cost ledger (`ledger`, prices in `prices.yaml`, dated):
  tokens, latency, mode and price; ``teacher.max_cost_usd`` caps the spend.
* In ``mode="replay"`` no backend is ever built: a miss is a `CacheMissError`, so a reader can
  rebuild the book from someone else's recorded run without an API key.

API keys are read from the environment only (``GEMINI_API_KEY`` / ``GOOGLE_API_KEY``,
``OPENAI_API_KEY``); they are never parameters and never written to records, cache lines,
logs or exception messages (`errors.scrub`). Backends are imported when first built, so a
machine without the cloud SDKs can still run the offline teacher.
"""

from ecc_utils.cloud.base import Backend, Completion
from ecc_utils.cloud.cache import LabelCache, cache_key
from ecc_utils.cloud.errors import (
    BatchItemsFailed,
    CacheMissError,
    MalformedResponseError,
    TeacherError,
)
from ecc_utils.cloud.factory import DEFAULT_MODELS, make_teacher, teacher_from_profile
from ecc_utils.cloud.ledger import (
    Budget,
    LabellingPlan,
    SpendCapReached,
    estimate,
    estimate_frame,
    labelling_plan,
    ledger_frame,
    summarize,
)
from ecc_utils.cloud.oracle import OracleTeacher
from ecc_utils.cloud.prices import PriceTable
from ecc_utils.cloud.prompt import FewShotPrompt, build_prompt, count_tokens
from ecc_utils.cloud.teacher import Answering, Teacher, TeacherOptions, TeacherStats
from ecc_utils.config import BACKENDS
from ecc_utils.records import LabelRecord

__all__ = [
    "BACKENDS",
    "DEFAULT_MODELS",
    "Backend",
    "BatchItemsFailed",
    "Budget",
    "LabellingPlan",
    "PriceTable",
    "SpendCapReached",
    "estimate",
    "estimate_frame",
    "ledger_frame",
    "labelling_plan",
    "summarize",
    "CacheMissError",
    "Completion",
    "FewShotPrompt",
    "LabelCache",
    "LabelRecord",
    "MalformedResponseError",
    "OracleTeacher",
    "Answering",
    "Teacher",
    "TeacherOptions",
    "TeacherError",
    "TeacherStats",
    "build_prompt",
    "cache_key",
    "count_tokens",
    "make_teacher",
    "teacher_from_profile",
]
