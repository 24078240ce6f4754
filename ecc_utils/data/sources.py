"""Where the data comes from: a data folder, the pinned ECD and JDDC samples (downloaded once
into the cache, `ecc_utils.data.download`), or the synthetic corpus; and reading what was found
(`load_corpora`).

A `DataSource` says what was used in words a reader of the book can follow: folders are named
by their environment variable or relative to the project, never by the builder's absolute path.
"""

from __future__ import annotations

import dataclasses
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ecc_utils.artifacts import SYNTHETIC_NOTICE, display_path
from ecc_utils.config import DATA_SOURCES
from ecc_utils.data.download import (
    DEFAULT_CACHE_DIR,
    ECD,
    JDDC,
    REPO_ROOT,
    Opener,
    Sample,
    cache_dir,
    cached,
    download,
    sha256,
)
from ecc_utils.data.ecd import EcdFile, read_ecd
from ecc_utils.data.jddc import JddcChat, JddcDev, read_jddc, read_jddc_dev
from ecc_utils.data.lines import DataDownloadError, DataNotFoundError

if TYPE_CHECKING:
    from ecc_utils.config import DataConfig, Profile

SYNTHETIC_DIR = REPO_ROOT / "data" / "synthetic"

# The ECD sample's pin, by the names the rest of the project and its README use.
ECD_COMMIT = ECD.commit
ECD_BASE_URL = ECD.base_url
ECD_FILES = ECD.files


@dataclass(frozen=True)
class DataSource:
    """Where this run's data came from; `description` is printed by the notebook.

    kind: "dir" (a data folder), "download" (the ECD sample fetched or found in the cache),
    "synthetic" (the project's own corpus). `jddc_note` says where JDDC came from, or why it
    was not used; `provenance` names the pinned public samples the run read. `fallback`: the
    run has less than the profile asked for because a download failed (the synthetic corpus
    in ECD's place, or no JDDC), so the pipeline tries again at its next run.
    """

    kind: str
    description: str
    ecd_dir: Path
    jddc_dir: Path | None = None
    jddc_note: str = ""
    fallback: bool = False

    @property
    def corpus(self) -> str:
        """The `Example.source` of ECD-format examples: "synthetic" or "ecd"."""
        return "synthetic" if self.kind == "synthetic" else "ecd"

    def provenance(self) -> list[str]:
        """One line per corpus for the data page: which public sample, at which commit, on
        whose terms (only where the files read are byte for byte the pinned ones), and a line
        saying that JDDC was not used, and why, when it was not."""
        if self.kind == "synthetic":
            return [SYNTHETIC_NOTICE, f"JDDC: not used ({self.jddc_note})."]
        lines = []
        for sample, folder in ((ECD, self.ecd_dir), (JDDC, self.jddc_dir)):
            if folder is not None and matches(sample, folder):
                lines.append(f"{sample.name}: {sample.provenance}; {sample.terms}.")
            elif folder is not None:
                lines.append(f"{sample.name}: from {display_path(folder)}, not the pinned "
                             f"sample ({sample.provenance}).")  # fmt: skip
        if self.jddc_dir is None:
            lines.append(f"JDDC: not used ({self.jddc_note or 'not asked for'}).")
        return lines


def matches(sample: Sample, folder: Path) -> bool:
    """Every file of `folder` that `sample` pins has the pinned sha256 (the ECD sample's
    valid file may be missing)."""
    names = [n for n in sample.files if (folder / n).is_file()]
    return bool(names) and all(sha256((folder / n).read_bytes()) == sample.files[n] for n in names)


def download_ecd_sample(
    dest_dir: str | os.PathLike = DEFAULT_CACHE_DIR,
    *,
    base_url: str = ECD_BASE_URL,
    files: dict[str, str] | None = None,
    opener: Opener = urllib.request.urlopen,
    timeout: float = 10.0,
) -> Path:
    """`download.download` of the ECD sample (`files` replaces its pinned files)."""
    sample = ECD if files is None else dataclasses.replace(ECD, files=files)
    return download(sample, dest_dir, base_url=base_url, opener=opener, timeout=timeout)


def _has_ecd(d: Path) -> bool:
    return (d / "train").is_file() and (d / "test").is_file()


@dataclass(frozen=True)
class _Fetch:
    """How a run may fetch the samples: the cache folder, the opener and its timeout."""

    cache_dir: Path
    opener: Opener
    timeout: float

    def get(self, sample: Sample, allowed: bool, off: str) -> tuple[Path | None, str]:
        """(the sample's folder from the verified cache or a download, and how it came; or
        None and why not). `allowed`: the profile lets it download; `off` names the setting."""
        d = cached(sample, self.cache_dir)
        if d is not None:
            where = f"{sample.name} (commit {sample.commit[:7]}) from the cache {display_path(d)}"
            return d, where
        if not allowed:
            return None, f"not in the cache and downloading is off ({off})"
        try:
            d = download(sample, self.cache_dir, opener=self.opener, timeout=self.timeout)
        except DataDownloadError as e:
            return None, str(e)
        url = sample.base_url
        return d, f"{sample.name} downloaded from {url} (sha256 verified) into {display_path(d)}"


def resolve_source(
    cfg: DataConfig,
    *,
    seed: int = 0,
    cache_dir: str | os.PathLike = DEFAULT_CACHE_DIR,
    opener: Opener = urllib.request.urlopen,
    timeout: float = 10.0,
) -> DataSource:
    """Decide where the data comes from (profile section `data`) and return a `DataSource`.

    ``cfg.source``: "dir" (``cfg.data_dir`` or env ``ECC_DATA_DIR`` must hold
    ``ecd_sample/``), "ecd_sample" (that folder if present, else the cache, else download
    when ``cfg.download``), "synthetic", or "auto" (folder, cache, download, then synthetic as
    the offline fallback). A data folder that is named but holds no ECD sample is an error in
    every mode but "synthetic", never a silent fallback. JDDC (``cfg.use_jddc``) comes from the
    data folder's ``jddc_sample/`` when a folder is named, else, beside the ECD sample, from the
    cache or the pinned excerpt's download (``cfg.download`` and ``cfg.download_jddc``).
    ``cfg.synthetic_contexts`` other than the committed fixture's size generates a corpus into
    `cache_dir`.
    """
    source = cfg.source
    if source not in DATA_SOURCES:
        raise ValueError(
            f"data source {source!r} is not one of {', '.join(DATA_SOURCES)} "
            "(parameter data.source of the profile)"
        )
    root = cfg.data_dir if cfg.data_dir is not None else os.environ.get("ECC_DATA_DIR")
    root_path = Path(root).expanduser() if root else None
    if source == "synthetic":
        return _synthetic_source(
            cache_dir, cfg.synthetic_contexts, seed, "asked for by the profile"
        )
    if root_path is not None:
        return _folder_source(cfg, str(root), root_path)
    if source == "dir":
        looked = "(data.data_dir and ECC_DATA_DIR unset)"
        raise DataNotFoundError(
            f"data folder not found: looked for ECD files train and test in {looked}; set "
            "data.data_dir in the profile or the ECC_DATA_DIR environment variable"
        )
    fetch = _Fetch(Path(cache_dir), opener, timeout)
    ecd_dir, how = fetch.get(ECD, cfg.download, "data.download: false")
    if ecd_dir is not None:
        jddc_dir, note = _fetched_jddc(cfg, fetch)
        missed = cfg.use_jddc and jddc_dir is None and cfg.download and cfg.download_jddc
        return DataSource("download", f"{how}; {note}", ecd_dir, jddc_dir, note, missed)
    if source == "ecd_sample":
        raise DataNotFoundError(
            f"ECD sample not found: looked in {root_path or 'ECC_DATA_DIR (unset)'} and "
            f"{Path(cache_dir) / 'ecd_sample'}, and {how}"
        )
    fell_back = _synthetic_source(cache_dir, cfg.synthetic_contexts, seed, f"no ECD data ({how})")
    return dataclasses.replace(fell_back, fallback=cfg.download)


def _folder_source(cfg: DataConfig, root: str, root_path: Path) -> DataSource:
    """The data folder named by ``data.data_dir`` or ``ECC_DATA_DIR`` (`root`, as given): its
    ECD sample and JDDC; a folder without an ECD sample is an error, since falling back would
    hide a wrong path."""
    if _has_ecd(root_path / "ecd_sample"):
        jddc_dir, note = _folder_jddc(cfg, root_path)
        where = display_path(root_path)
        return DataSource("dir", f"ECD sample from data folder {where}; {note}",
                          root_path / "ecd_sample", jddc_dir, note)  # fmt: skip
    named = "data.data_dir" if cfg.data_dir is not None else "ECC_DATA_DIR"
    raise DataNotFoundError(
        f"{named}={root}: no ECD sample there (looked for train and test in "
        f"{root_path.resolve() / 'ecd_sample'}); point it at the data folder (the shared one holds "
        "ecd_sample/ and jddc_sample/), or unset it to use the cache, a download or the "
        "synthetic corpus"
    )


def _folder_jddc(cfg: DataConfig, root: Path) -> tuple[Path | None, str]:
    """(the data folder's JDDC sample when the profile uses JDDC and the folder holds it, the
    note on it for the source line)."""
    if not cfg.use_jddc:
        return None, "JDDC not used (data.use_jddc: false)"
    if (root / "jddc_sample").is_dir():
        return root / "jddc_sample", f"JDDC from {display_path(root / 'jddc_sample')}"
    return None, "JDDC not used: the data folder has no jddc_sample/ (ECD only)"


def _fetched_jddc(cfg: DataConfig, fetch: _Fetch) -> tuple[Path | None, str]:
    """(the JDDC excerpt from the cache or its download, the note on it), beside the ECD
    sample that came the same way."""
    if not cfg.use_jddc:
        return None, "JDDC not used (data.use_jddc: false)"
    allowed = cfg.download and cfg.download_jddc
    off = "data.download: false" if not cfg.download else "data.download_jddc: false"
    d, how = fetch.get(JDDC, allowed, off)
    return (d, how) if d is not None else (None, f"JDDC not used (ECD only): {how}")


def source_from_profile(cfg: Profile) -> DataSource:
    """`resolve_source` with the profile's section `data` and seed (notebooks 01 and 04), the
    samples cached in `download.cache_dir` (the built project's ``data/raw/``)."""
    return resolve_source(cfg.data, seed=cfg.seed, cache_dir=cache_dir())


def _synthetic_source(
    cache_dir: str | os.PathLike, n_contexts: int | None, seed: int, why: str
) -> DataSource:
    from ecc_utils.data import synthetic

    n = synthetic.DEFAULT_CONTEXTS if n_contexts is None else n_contexts
    if (
        n == synthetic.DEFAULT_CONTEXTS
        and seed == synthetic.DEFAULT_SEED
        and _has_ecd(SYNTHETIC_DIR)
    ):
        d = SYNTHETIC_DIR
    else:
        d = Path(cache_dir) / f"synthetic-n{n}-seed{seed}"
        synthetic.write_corpus(d, seed=seed, n_contexts=n)
    return DataSource(
        "synthetic",
        f"the project's synthetic ECD-format corpus ({n} training contexts, seed {seed}) "
        f"in {display_path(d)}; {why}",
        d,
        None,
        "the synthetic corpus stands in for ECD only",
    )


@dataclass
class Corpora:
    """Everything read from a `DataSource`; JDDC parts are None when not used."""

    source: DataSource
    ecd_train: EcdFile
    ecd_test: EcdFile
    jddc_chat: JddcChat | None = None
    jddc_dev: JddcDev | None = None

    def customer_turns(self) -> tuple[list[str], list[str]]:
        """(the customer turns of the JDDC chat log, empty without it; the distinct customer
        turns of the ECD test contexts, sorted): what the data page measures the mask on."""
        jddc = [t.text for s in self.jddc_chat.sessions for t in s.turns
                if t.speaker == "customer"] if self.jddc_chat is not None else []  # fmt: skip
        ecd = sorted({t.text for g in self.ecd_test.groups for t in g.context
                      if t.speaker == "customer"})  # fmt: skip
        return jddc, ecd


def load_corpora(source: DataSource, *, use_jddc: bool = False, strict: bool = True) -> Corpora:
    """Read the ECD train and test files (and JDDC when asked for and present)."""
    ecd_train = read_ecd(source.ecd_dir / "train", strict=strict)
    ecd_test = read_ecd(source.ecd_dir / "test", strict=strict)
    chat = dev = None
    if use_jddc and source.jddc_dir is not None:
        chats = sorted(source.jddc_dir.glob("chat*.txt"))
        if not chats:
            raise DataNotFoundError(
                f"JDDC chat log not found: looked for chat*.txt in {source.jddc_dir}"
            )
        chat = read_jddc(chats[0], strict=strict)
        if (source.jddc_dir / "dev_question.txt").is_file():
            dev = read_jddc_dev(source.jddc_dir / "dev_question.txt", strict=strict)
    return Corpora(source, ecd_train, ecd_test, chat, dev)
