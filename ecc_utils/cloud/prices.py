"""The dated price table of the teacher's models (``prices.yaml``), and the cost of one call."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

DEFAULT_PRICE_FILE = Path(__file__).with_name("prices.yaml")
MODES = ("live", "batch")
# Backends that run on the reader's machine: no provider bill.
LOCAL_BACKENDS = ("knn", "hf")


@dataclass(frozen=True)
class Rates:
    """US dollars per million tokens."""

    input: float
    cached_input: float
    output: float

    def cost(self, input_tokens: int, cached_tokens: int, output_tokens: int) -> float:
        """Dollars for one call; `input_tokens` includes `cached_tokens`, as both providers
        report them (Gemini ``prompt_token_count``, OpenAI ``prompt_tokens``)."""
        fresh = max(int(input_tokens) - int(cached_tokens), 0)
        return (
            fresh * self.input + int(cached_tokens) * self.cached_input
            + int(output_tokens) * self.output
        ) / 1e6  # fmt: skip


FREE = Rates(0.0, 0.0, 0.0)


@dataclass(frozen=True)
class ModelPrice:
    live: Rates
    batch: Rates | None = None
    cache_storage_per_hour: float = 0.0

    def rates(self, mode: str) -> Rates:
        """The rates of `mode` ("live" | "batch"); a model without batch rates has live ones."""
        if mode not in MODES:
            raise ValueError(f"mode={mode!r}: must be one of {', '.join(MODES)}")
        return self.batch if mode == "batch" and self.batch is not None else self.live


LOCAL = ModelPrice(FREE, FREE)


class PriceError(ValueError):
    """The price file is unreadable or a row is malformed; the message names file and model."""


@dataclass(frozen=True)
class PriceTable:
    """Prices per ``<backend>/<model>``, as of `as_of` (an ISO date), read from `path`."""

    as_of: str
    currency: str
    models: dict[str, ModelPrice]
    path: Path

    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> PriceTable:
        """Read a price file (default: the packaged ``prices.yaml``)."""
        p = Path(path) if path else DEFAULT_PRICE_FILE
        if not p.is_file():
            raise PriceError(f"price file {p} does not exist (teacher.price_file)")
        try:
            raw = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f"{p}:{mark.line + 1}" if mark else str(p)
            raise PriceError(f"{where}: not valid YAML ({getattr(e, 'problem', e)})") from None
        if "as_of" not in raw or not isinstance(raw.get("models"), dict):
            raise PriceError(f"{p}: needs 'as_of' (the date of the prices) and a 'models' map")
        models = {str(k): _model_price(p, str(k), v) for k, v in raw["models"].items()}
        return cls(str(raw["as_of"]), str(raw.get("currency", "USD")), models, p)

    def lookup(self, backend: str, model: str) -> ModelPrice | None:
        """The price of `model` on `backend`; `LOCAL` for local backends, None if not listed."""
        if backend in LOCAL_BACKENDS:
            return LOCAL
        return self.models.get(f"{backend}/{model}")


def _model_price(path: Path, name: str, row: object) -> ModelPrice:
    def rates(section: str, required: bool) -> Rates | None:
        v = row.get(section) if isinstance(row, dict) else None
        if v is None and not required:
            return None
        try:
            r = Rates(float(v["input"]), float(v["cached_input"]), float(v["output"]))
        except (TypeError, KeyError, ValueError):
            raise PriceError(
                f"{path}: models.{name}.{section} needs numbers input, cached_input and output "
                f"(dollars per million tokens), got {v!r}"
            ) from None
        if min(r.input, r.cached_input, r.output) < 0:
            raise PriceError(f"{path}: models.{name}.{section} has a negative price: {v!r}")
        return r

    live = rates("live", True)
    assert live is not None
    storage = row.get("cache_storage_per_hour", 0.0) if isinstance(row, dict) else 0.0
    return ModelPrice(live, rates("batch", False), float(storage or 0.0))
