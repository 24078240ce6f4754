"""ecc_utils: the logic behind the ECC paper companion, one module per pipeline stage.

Notebooks import these modules and stay thin; tests test them directly.
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
