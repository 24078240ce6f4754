"""ecc_utils: the logic behind the ECC paper companion. Notebooks import it and stay thin;
tests test it directly.

The layers, bottom up (a module imports its own layer or those below, never above;
`tests/test_layout.py` checks it):

====================  ========================================================================
layer                 modules
====================  ========================================================================
contract              `paper` (the paper's constants and published tables), `records`
                      (`Example`, `LabelRecord`, JSONL), `numerics` (CPU-independent dot
                      products), `provenance/` (content fingerprints, the lock file)
shared                `config` (typed profiles), `artifacts/` (the registry of every file a
                      stage writes, one reader and writer), `encoders` (sentence encoders),
                      `privacy/` (the PII mask)
stages                `data/`, `cloud/` (the teacher), `endmodel/` (load, answer, likelihood),
                      which do not import each other
training              `train/`
evaluation            `scoring/` (Eq. (1), Table VI, the claims' tests)
online loop           `evolve/`
pages                 `report/` (results, study, reproducibility, environment, figures),
                      `playground/`
build                 `build/` (plan, fingerprints' use, papermill, the book;
                      ``python -m ecc_utils.build``)
====================  ========================================================================
"""

__version__ = "0.1.0"


def _text_progress_in_pipeline_runs() -> None:
    """Progress bars are tqdm.auto's: widgets in JupyterLab (with ipywidgets installed). A
    notebook the pipeline executes (``ECC_TEXT_PROGRESS=1``, set for its kernel) draws them as
    text instead, so that they reach the pipeline's log; this runs before any library (such as
    transformers' Trainer) imports tqdm.auto."""
    import os

    if os.environ.get("ECC_TEXT_PROGRESS") == "1":
        import tqdm.auto
        import tqdm.autonotebook
        import tqdm.std

        tqdm.auto.tqdm = tqdm.autonotebook.tqdm = tqdm.std.tqdm
        tqdm.auto.trange = tqdm.autonotebook.trange = tqdm.std.trange


_text_progress_in_pipeline_runs()
