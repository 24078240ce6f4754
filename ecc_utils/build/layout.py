"""Where a build's files are (`Layout`), its error, and what the data stage recorded of its
data source: what the pipeline and the book build share."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ecc_utils import artifacts as A
from ecc_utils.provenance.fingerprints import PACKAGE_DIR


class PipelineError(RuntimeError):
    """A step failed or the plan cannot run; the message names the notebook and cell."""


@dataclass
class Layout:
    """Where things are for one profile under a project root."""

    root: Path
    profile: str

    @property
    def notebooks(self) -> Path:
        return self.root / "notebooks"

    @property
    def params(self) -> Path:
        return self.root / "params"

    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts" / self.profile

    @property
    def generated(self) -> Path:
        return self.root / "book" / "generated" / self.profile

    @property
    def package(self) -> Path:
        """The `ecc_utils` sources the notebooks import (this installation's)."""
        return PACKAGE_DIR


def data_source(art: Path) -> dict:
    """The data source the data stage recorded in ``data/stats.json`` ({} before it ran)."""
    stats = art / A.rel("stats")
    if not stats.is_file():
        return {}
    return json.loads(stats.read_text(encoding="utf-8")).get("source") or {}


def fell_back(art: Path) -> bool:
    """The data stage's last run has less than the profile asked for, since a download failed
    (the synthetic corpus in ECD's place, or no JDDC)."""
    return bool(data_source(art).get("fallback"))
