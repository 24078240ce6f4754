"""Data (paper Section IV-A): ECD and JDDC readers, sources, cleaning, splits and statistics.

The end model is trained on the Taobao E-commerce Dialogue Corpus (ECD) and the Jing Dong
Dialogue Corpus (JDDC), with inputs of at most 256 and outputs of at most 512 tokens
(Table IV). One module per concern:

* `ecd`, `jddc`: typed readers; bad input raises `DataFormatError` naming file, 1-based line
  and problem, or with ``strict=False`` the line is skipped and counted (`lines`);
* `sources`: where the data comes from (a data folder, the ECD sample downloaded from its
  public repository, sha256-pinned, or the project's own `synthetic` corpus);
* `cleaning`: text normalisation, ECD's word segmentation undone, token counts, limits;
* `table6`: the six Table VI inputs located in the test file;
* `splits`: the four pools of the artifact contract, leakage-free;
* `stats`: statistics beside the published ones and the stage's output files.

``from ecc_utils import data`` gives every public name below.
"""

from ecc_utils.data.cleaning import (
    clean_examples,
    clean_text,
    clean_turns,
    count_tokens,
    desegment,
    ecd_examples,
    normalize_text,
)
from ecc_utils.data.ecd import CandidateGroup, EcdFile, EcdRecord, read_ecd
from ecc_utils.data.jddc import JddcChat, JddcDev, JddcSession, read_jddc, read_jddc_dev
from ecc_utils.data.lines import DataFormatError, DataNotFoundError
from ecc_utils.data.sources import (
    ECD_BASE_URL,
    ECD_FILES,
    Corpora,
    DataDownloadError,
    DataSource,
    download_ecd_sample,
    load_corpora,
    resolve_source,
    source_from_profile,
)
from ecc_utils.data.splits import Splits, make_splits
from ecc_utils.data.stats import corpus_stats, published_comparison, write_splits
from ecc_utils.data.table6_inputs import TableVIItem, find_table6

__all__ = [
    "DataFormatError",
    "DataNotFoundError",
    "DataDownloadError",
    "EcdRecord",
    "CandidateGroup",
    "EcdFile",
    "JddcSession",
    "JddcChat",
    "JddcDev",
    "DataSource",
    "Corpora",
    "TableVIItem",
    "Splits",
    "ECD_BASE_URL",
    "ECD_FILES",
    "read_ecd",
    "read_jddc",
    "read_jddc_dev",
    "download_ecd_sample",
    "resolve_source",
    "source_from_profile",
    "load_corpora",
    "normalize_text",
    "desegment",
    "clean_text",
    "count_tokens",
    "clean_turns",
    "ecd_examples",
    "clean_examples",
    "find_table6",
    "make_splits",
    "corpus_stats",
    "write_splits",
    "published_comparison",
]
