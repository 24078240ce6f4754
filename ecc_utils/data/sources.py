"""Where the data comes from: a data folder, the pinned ECD sample download, or the synthetic
corpus; and reading what was found (`load_corpora`).

A `DataSource` says what was used in words a reader of the book can follow: folders are named
by their environment variable or relative to the project, never by the builder's absolute path.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ecc_utils.artifacts import display_path
from ecc_utils.config import DATA_SOURCES
from ecc_utils.data.ecd import EcdFile, read_ecd
from ecc_utils.data.jddc import JddcChat, JddcDev, read_jddc, read_jddc_dev
from ecc_utils.data.lines import DataNotFoundError

if TYPE_CHECKING:
    from ecc_utils.config import DataConfig, Profile

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CACHE_DIR = REPO_ROOT / "data" / "raw"
SYNTHETIC_DIR = REPO_ROOT / "data" / "synthetic"

ECD_COMMIT = "8cc3b7c5d1fcb2eb17a3e2c220e8a4a62113bcfe"
ECD_BASE_URL = (
    f"https://raw.githubusercontent.com/cooelf/DeepUtteranceAggregation/{ECD_COMMIT}/ECD_sample/"
)
# sha256 of the files at the pinned commit (train and valid are byte-identical as published).
ECD_FILES: dict[str, str] = {
    "train": "f6612035923432e2d9f8b43e0d19e503c212fe9728c61d5ab16e61a5de90d70e",
    "valid": "f6612035923432e2d9f8b43e0d19e503c212fe9728c61d5ab16e61a5de90d70e",
    "test": "3fd9f60cda25732a19deba1bd376495713ab042849e03bc904b241ca414bebc4",
}


class DataDownloadError(RuntimeError):
    """The ECD sample could not be downloaded, or its sha256 did not match."""


@dataclass(frozen=True)
class DataSource:
    """Where this run's data came from; `description` is printed by the notebook.

    kind: "dir" (a data folder), "download" (ECD sample fetched or found in the cache),
    "synthetic" (the project's own corpus).
    """

    kind: str
    description: str
    ecd_dir: Path
    jddc_dir: Path | None = None

    @property
    def corpus(self) -> str:
        """The `Example.source` of ECD-format examples: "synthetic" or "ecd"."""
        return "synthetic" if self.kind == "synthetic" else "ecd"


def download_ecd_sample(
    dest_dir: str | os.PathLike = DEFAULT_CACHE_DIR,
    *,
    base_url: str = ECD_BASE_URL,
    files: dict[str, str] | None = None,
    opener: Callable[..., object] = urllib.request.urlopen,
    timeout: float = 10.0,
) -> Path:
    """Fetch the ECD sample into ``dest_dir/ecd_sample/`` and return that folder.

    Each file is checked against its pinned sha256; a file already cached with the right
    hash is not fetched again. A download error or a hash mismatch raises `DataDownloadError`
    and leaves no file for it in the cache. `opener(url, timeout=...)` must return a readable
    response (``urllib.request.urlopen`` by default; tests pass a fake).
    """
    files = ECD_FILES if files is None else files
    out = Path(dest_dir) / "ecd_sample"
    out.mkdir(parents=True, exist_ok=True)
    for name, sha in files.items():
        target = out / name
        if target.is_file() and _sha256(target.read_bytes()) == sha:
            continue
        url = base_url + name
        try:
            with opener(url, timeout=timeout) as resp:  # type: ignore[attr-defined]
                data = resp.read()
        except (urllib.error.URLError, OSError, TimeoutError) as e:
            raise DataDownloadError(f"could not download {url}: {e}") from e
        got = _sha256(data)
        if got != sha:
            raise DataDownloadError(
                f"sha256 mismatch for {url}: expected {sha}, got {got}; nothing was cached. "
                "The repository may have changed: check ECD_BASE_URL and ECD_FILES."
            )
        _atomic_write_bytes(target, data)
    return out


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _has_ecd(d: Path) -> bool:
    return (d / "train").is_file() and (d / "test").is_file()


def resolve_source(
    cfg: DataConfig,
    *,
    seed: int = 0,
    cache_dir: str | os.PathLike = DEFAULT_CACHE_DIR,
    opener: Callable[..., object] = urllib.request.urlopen,
    timeout: float = 10.0,
) -> DataSource:
    """Decide where the data comes from (profile section `data`) and return a `DataSource`.

    ``cfg.source``: "dir" (``cfg.data_dir`` or env ``ECC_DATA_DIR`` must hold
    ``ecd_sample/``), "ecd_sample" (that folder if present, else the cache, else download
    when ``cfg.download``), "synthetic", or "auto" (folder, cache, download, then synthetic as
    the offline fallback). A data folder that is named but holds no ECD sample is an error in
    every mode but "synthetic", never a silent fallback. JDDC (``cfg.use_jddc``) is read from ``<data_dir>/jddc_sample``
    only (the full corpus needs registration with JD). ``cfg.synthetic_contexts`` other than
    the committed fixture's size generates a corpus into `cache_dir`.
    """
    source = cfg.source
    if source not in DATA_SOURCES:
        raise ValueError(
            f"data source {source!r} is not one of {', '.join(DATA_SOURCES)} "
            "(parameter data.source of the profile)"
        )
    root = cfg.data_dir if cfg.data_dir is not None else os.environ.get("ECC_DATA_DIR")
    root_path = Path(root).expanduser() if root else None
    jddc_dir, jddc_note = _jddc_dir(cfg, root_path)
    if source == "synthetic":
        return _synthetic_source(
            cache_dir, cfg.synthetic_contexts, seed, "asked for by the profile"
        )
    if root_path is not None and _has_ecd(root_path / "ecd_sample"):
        where = display_path(root_path)
        return DataSource(
            "dir", f"ECD sample from data folder {where}" + jddc_note,
            root_path / "ecd_sample", jddc_dir,
        )  # fmt: skip
    if root_path is not None:  # a folder was named: falling back would hide a wrong path
        named = "data.data_dir" if cfg.data_dir is not None else "ECC_DATA_DIR"
        raise DataNotFoundError(
            f"{named}={root}: no ECD sample there (looked for train and test in "
            f"{root_path.resolve() / 'ecd_sample'}); point it at the data folder (the shared one holds "
            "ecd_sample/ and jddc_sample/), or unset it to use the cache, a download or the "
            "synthetic corpus"
        )
    if source == "dir":
        looked = "(data.data_dir and ECC_DATA_DIR unset)"
        raise DataNotFoundError(
            f"data folder not found: looked for ECD files train and test in {looked}; set "
            "data.data_dir in the profile or the ECC_DATA_DIR environment variable"
        )
    found, error = _cached_or_downloaded(cfg, cache_dir, opener, timeout, jddc_note)
    if found is not None:
        return DataSource("download", found[1], found[0], jddc_dir)
    if source == "ecd_sample":
        raise DataNotFoundError(
            f"ECD sample not found: looked in {root_path or 'ECC_DATA_DIR (unset)'} and "
            f"{Path(cache_dir) / 'ecd_sample'}, and {error}"
        )
    return _synthetic_source(cache_dir, cfg.synthetic_contexts, seed, f"no ECD data ({error})")


def _jddc_dir(cfg: DataConfig, root: Path | None) -> tuple[Path | None, str]:
    """(the JDDC sample folder when the profile uses JDDC and the data folder holds it, the note
    on it for the source line)."""
    if not cfg.use_jddc:
        return None, ""
    if root is not None and (root / "jddc_sample").is_dir():
        return root / "jddc_sample", f"; JDDC from {display_path(root / 'jddc_sample')}"
    return None, "; JDDC not found (needs a data folder with jddc_sample/), ECD only"


def _cached_or_downloaded(
    cfg: DataConfig,
    cache_dir: str | os.PathLike,
    opener: Callable[..., object],
    timeout: float,
    jddc_note: str,
) -> tuple[tuple[Path, str] | None, str]:
    """((the ECD sample folder, the source line) from the verified cache or a download, or
    None; why not)."""
    cached = Path(cache_dir) / "ecd_sample"
    if _has_ecd(cached) and all(
        (cached / n).is_file() and _sha256((cached / n).read_bytes()) == s
        for n, s in ECD_FILES.items()
    ):
        where = f"ECD sample (commit {ECD_COMMIT[:7]}) from the cache {display_path(cached)}"
        return (cached, where + jddc_note), ""
    if not cfg.download:
        return None, "downloading is off (data.download: false)"
    try:
        d = download_ecd_sample(cache_dir, opener=opener, timeout=timeout)
    except DataDownloadError as e:
        return None, str(e)
    where = f"ECD sample downloaded from {ECD_BASE_URL} (sha256 verified) into {display_path(d)}"
    return (d, where + jddc_note), ""


def source_from_profile(cfg: Profile) -> DataSource:
    """`resolve_source` with the profile's section `data` and seed (notebooks 01 and 04)."""
    return resolve_source(cfg.data, seed=cfg.seed)


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
