"""The saved work a step resumes from (training checkpoints, the online loop's arms), and
when it may: only a run of the same step for the same work.

A step's notebook resumes from whatever it finds in its `Step.resumable` folders: the trainer
from its last checkpoint (at the last milestone it trains nothing), the loop after its last
finished round. That is right after an interruption and wrong after a change: adapters trained
on other data, with other settings or by other code would be reused as they are. So the
pipeline records, before a step runs, the key of the work it is about to save (`work_key`: the
step's fingerprint, with the notebook counted by its code cells only, so that editing its prose
keeps the saved work, and without the files the page only shows, such as the robustness study),
and removes saved work whose recorded key differs (`clear_stale`).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

from ecc_utils.build.plan import Step
from ecc_utils.provenance.fingerprints import external_key, notebook_code_hash


def work_key(fp: dict, notebook: Path, shown: Iterable[str] = ()) -> str:
    """What the saved work of a run depends on: fingerprint `fp` of the step, its notebook
    counted by the code cells only, without the external files the page only `shown`s."""
    shown = {external_key(x, notebook.parent.parent) for x in shown}
    external = {k: v for k, v in fp.get("external", {}).items() if k not in shown}
    key = dict(fp, notebook=notebook_code_hash(notebook), external=external)
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def saved(step: Step, art: Path) -> list[str]:
    """The step's resumable paths (relative to `art`) that exist."""
    return [rel for rel in step.resumable if (art / rel).exists()]


def remove(step: Step, art: Path, echo: Callable[[str], None], why: str) -> None:
    """Delete the step's saved work, saying `why` for each path removed."""
    for rel in saved(step, art):
        path = art / rel
        shutil.rmtree(path) if path.is_dir() else path.unlink()
        echo(f"  removed {path}: {why}")


def is_stale(record: dict | None, fp: dict, key: str) -> bool:
    """Whether saved work left by the run that `record` (the step's manifest entry) describes
    was made for other work than `key` (fingerprint `fp`). Without a record nothing tells: the
    work is kept. A record older than work keys compares whole fingerprints."""
    if not record:
        return False
    if "work_key" in record:
        return record["work_key"] != key
    return record.get("fingerprint") != fp


def clear_stale(
    step: Step, art: Path, record: dict | None, fp: dict, key: str, echo: Callable[[str], None]
) -> None:
    """Remove the step's saved work when `is_stale`: its inputs, settings or code changed since
    it was saved, so resuming from it would keep results of the old ones."""
    if saved(step, art) and is_stale(record, fp, key):
        remove(step, art, echo, "saved for other inputs, settings or code than this run's")
