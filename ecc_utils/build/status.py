"""Why a step of the plan would run: what changed since its last run, in words. The one rule
of up to date: `pipeline.is_up_to_date` is "no reason", ``python -m ecc_utils.build --dry-run``
prints the reasons."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ecc_utils.build.layout import fell_back
from ecc_utils.build.plan import Step


def _changed(old: Mapping, new: Mapping) -> list[str]:
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))


def _module_changes(old: Mapping, new: Mapping) -> str:
    """The `ecc_utils` modules edited, newly imported and no longer imported between two
    fingerprints' module hashes, in words ("" when the old one has none: an older manifest)."""
    if not old:
        return ""
    parts = (
        ("ecc_utils changed", sorted(k for k in old.keys() & new.keys() if old[k] != new[k])),
        ("now imports", sorted(set(new) - set(old))),
        ("no longer imports", sorted(set(old) - set(new))),
    )
    return "; ".join(f"{what}: {', '.join(mods)}" for what, mods in parts if mods)


def why_stale(step: Step, fp: dict, record: Mapping | None, art: Path, out_nb: Path) -> list[str]:
    """What makes `step` run, given its fingerprint now (`fp`) and the manifest's record of
    its last run (`record`; None when it never ran): empty when it is up to date."""
    if not record:
        return ["it never ran"]
    if record.get("status") != "ok":
        return [f"its last run ended {record.get('status')}"]
    old = record.get("fingerprint") or {}
    reasons = []
    if old.get("notebook") != fp.get("notebook"):
        reasons.append("its notebook's code changed")
    if old.get("parameters") != fp.get("parameters"):
        reasons.append("the profile or the step's parameters changed")
    if old.get("ecc_utils") != fp.get("ecc_utils"):
        mods = _module_changes(old.get("modules") or {}, fp.get("modules") or {})
        reasons.append(mods or "the ecc_utils modules it imports changed")
    for part, what in (("inputs", "inputs"), ("external", "files outside the artifacts")):
        changed = _changed(old.get(part) or {}, fp.get(part) or {})
        if changed:
            reasons.append(f"{what} changed: {', '.join(changed)}")
    if not reasons and old != fp:  # a part this version does not name (an older manifest)
        reasons.append("its fingerprint was recorded by another version of the pipeline")
    missing = [o for o in step.outputs if not (art / o).exists()]
    if missing or not out_nb.is_file():
        reasons.append(f"outputs missing: {', '.join(missing) or out_nb.name}")
    if step.retries_fallback and fell_back(art):
        reasons.append("its last run fell back (a download failed): trying again")
    return reasons
