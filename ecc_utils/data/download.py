"""The public samples of ECD and JDDC, pinned at a commit of the repository that publishes them,
downloaded once and checked against their sha256 before anything is cached.

Both land side by side in the cache (``data/raw/ecd_sample/``, ``data/raw/jddc_sample/``), the
layout of a data folder, so a run from the cache reads exactly what a run from the shared data
folder reads.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ecc_utils.data.lines import DataDownloadError

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CACHE_DIR = REPO_ROOT / "data" / "raw"
# The pipeline names the cache of the project it builds (``--root``: its ``data/raw/``), which
# need not be the folder this package was installed from.
CACHE_ENV = "ECC_DATA_CACHE"


def cache_dir() -> Path:
    """Where downloaded samples are cached: ``$ECC_DATA_CACHE`` when set (the pipeline sets it
    to its project's ``data/raw/``), else ``data/raw/`` of the checkout holding this package."""
    return Path(os.environ[CACHE_ENV]) if os.environ.get(CACHE_ENV) else DEFAULT_CACHE_DIR


Opener = Callable[..., object]  # (url, timeout=...) -> a readable response (urlopen)


@dataclass(frozen=True)
class Sample:
    """A corpus sample published in a public repository: the cache folder it lands in
    (``folder``), where its files are, pinned at ``commit``, and each file's sha256."""

    name: str
    folder: str
    repository: str
    path: str  # the folder inside the repository
    commit: str
    files: dict[str, str]
    terms: str  # whose data it is and on what terms, in a sentence for the data page

    @property
    def base_url(self) -> str:
        """The raw-file address of the sample's folder at its commit (ends with "/")."""
        return f"https://raw.githubusercontent.com/{self.repository}/{self.commit}/{self.path}/"

    @property
    def provenance(self) -> str:
        """Where the sample comes from, as the data page says it."""
        return f"github.com/{self.repository}, folder {self.path}/, commit {self.commit[:7]}"


ECD = Sample(
    name="ECD sample",
    folder="ecd_sample",
    repository="cooelf/DeepUtteranceAggregation",
    path="ECD_sample",
    commit="8cc3b7c5d1fcb2eb17a3e2c220e8a4a62113bcfe",
    # train and valid are byte-identical as published
    files={
        "train": "f6612035923432e2d9f8b43e0d19e503c212fe9728c61d5ab16e61a5de90d70e",
        "valid": "f6612035923432e2d9f8b43e0d19e503c212fe9728c61d5ab16e61a5de90d70e",
        "test": "3fd9f60cda25732a19deba1bd376495713ab042849e03bc904b241ca414bebc4",
    },
    terms="the sample that the authors of the ECD corpus (Zhang et al., 2018) publish with "
    "their code; the full corpus is linked from that repository",
)

JDDC = Sample(
    name="JDDC excerpt",
    folder="jddc_sample",
    repository="EndlessLethe/jddc2019-3th-retrieve-model",
    path="data",
    commit="2d443d1679cc3d00022d0ff1697eb0e4cbeedb01",
    files={
        "chat_0.1per.txt": "600a136f9b0146c945cefc5e03c9080efb462b02257cbc8f7071998d8cbc4e39",
        "dev_question.txt": "7e7b907d160961cb16b0012fea3c667b2e5a217965b0df8eda03f9292183e984",
        "dev_answer.txt": "4abfb8e8c8394044bdd3b6511c030c14479e79f754970d0b4698b0f51f2fda9b",
        "JDDC_readme.txt": "f048416cfabe9f2338ffa79204e9e4e5b114c2a9560e3592497362b6df8ccf9d",
    },
    terms="JD's data of the JDDC 2019 challenge (the full corpus needs registration with JD); "
    "this excerpt (0.1 % of the training chat log and the dev set) is a third party's copy, "
    "published by a team of the challenge with its code, not by JD",
)

SAMPLES = (ECD, JDDC)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def cached(sample: Sample, cache_dir: str | os.PathLike = DEFAULT_CACHE_DIR) -> Path | None:
    """The sample's cache folder when every file is there with its pinned sha256, else None."""
    d = Path(cache_dir) / sample.folder
    ok = all(
        (d / name).is_file() and sha256((d / name).read_bytes()) == sha
        for name, sha in sample.files.items()
    )
    return d if ok else None


def download(
    sample: Sample,
    dest_dir: str | os.PathLike = DEFAULT_CACHE_DIR,
    *,
    base_url: str | None = None,
    opener: Opener = urllib.request.urlopen,
    timeout: float = 10.0,
) -> Path:
    """Fetch `sample` into ``dest_dir/<sample.folder>/`` and return that folder.

    A file already cached with its pinned sha256 is not fetched again. Every missing file is
    fetched and checked before any is written: a download error or a sha256 mismatch raises
    `DataDownloadError` and caches nothing. `opener(url, timeout=...)` must return a readable
    response (``urllib.request.urlopen`` by default; tests pass a fake), `base_url` replaces the
    sample's own (a mirror, a ``file://`` folder).
    """
    base = sample.base_url if base_url is None else base_url
    out = Path(dest_dir) / sample.folder
    fetched: dict[str, bytes] = {}
    for name, sha in sample.files.items():
        target = out / name
        if target.is_file() and sha256(target.read_bytes()) == sha:
            continue
        url = base + name
        try:
            with opener(url, timeout=timeout) as resp:  # type: ignore[attr-defined]
                data = resp.read()
        except (urllib.error.URLError, OSError, TimeoutError) as e:
            raise DataDownloadError(
                f"could not download {url}: {e}; nothing was cached for the {sample.name}"
            ) from e
        got = sha256(data)
        if got != sha:
            raise DataDownloadError(
                f"sha256 mismatch for {url}: expected {sha}, got {got}; nothing was cached. "
                f"The repository may have changed: check the pinned {sample.name} in "
                "ecc_utils/data/download.py."
            )
        fetched[name] = data
    out.mkdir(parents=True, exist_ok=True)
    for name, data in fetched.items():
        _atomic_write_bytes(out / name, data)
    return out


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    """``python -m ecc_utils.data [DEST]``: fetch the pinned ECD and JDDC samples
    (sha256-checked) into DEST (default ``data/raw``), a data folder for ``ECC_DATA_DIR``."""
    import argparse
    import sys

    ap = argparse.ArgumentParser(prog="python -m ecc_utils.data",
                                 description=(main.__doc__ or "").split(":")[1].strip())  # fmt: skip
    ap.add_argument("dest", nargs="?", default=str(DEFAULT_CACHE_DIR))
    ap.add_argument("--timeout", type=float, default=60.0)
    a = ap.parse_args(argv)
    try:
        for sample in SAMPLES:
            where = download(sample, a.dest, timeout=a.timeout)
            print(f"{sample.name}: {where} (commit {sample.commit[:7]}, sha256 checked)")
    except DataDownloadError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0
