"""What the book's reading pages compute from finished artifacts, and every figure:

* `plots`: the figures of every page (Fig. 3 and the rest);
* `results`, `results_study`: the results page (the paper's claims against this run, and
  against the robustness study across seeds);
* `robustness`: the study's files (``bench/results/robustness_<profile>.csv``) and their
  provenance;
* `reproducibility`: the reproducibility page (the spread between CPU features);
* `environment`: the environment page (versions, device, the lock).

No imports here: a page that imports `plots` depends on `plots` alone, so a figure edit
re-runs only the pages that draw.
"""
