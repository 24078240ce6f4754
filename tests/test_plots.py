"""ecc_utils.report.plots: Fig. 3 and the Table VI heatmap."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from ecc_utils import paper  # noqa: E402
from ecc_utils.report import plots


def _ours():
    t = paper.published_table6(with_mean=True)
    t.columns = paper.model_labels({"prefix": (30,), "ptuning_v2": (30,), "lora": (30, 50, 150)})
    t.iloc[:] = np.random.default_rng(0).uniform(0, 1, t.shape)
    return t


def test_fig3_has_six_panels_with_paper_beside_ours(tmp_path):
    fig = plots.fig3(_ours(), paper.published_table6())
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 6
    assert axes[0].get_title() == "(a) Original Model"
    assert axes[5].get_title().startswith("(f) LoRA 150 steps")
    assert "LoRA 15000 steps" in axes[5].get_title()  # paired by method and milestone order
    assert all(ax.get_ylim() == axes[0].get_ylim() for ax in axes)  # shared y-axis
    heights = [p.get_height() for p in axes[5].patches]
    assert len(heights) == 12  # six inputs, ours and the paper's
    assert heights[6:] == pytest.approx(paper.published_table6()["LoRA 15000 steps"].tolist())
    paths = plots.save_fig3(fig, tmp_path)
    assert [p.name for p in paths] == ["fig3.png", "fig3.svg"]
    assert all(p.stat().st_size > 1000 for p in paths)


def test_fig3_without_paper_draws_only_ours():
    fig = plots.fig3(_ours())
    assert all(len(ax.patches) == 6 for ax in fig.axes if ax.get_visible())


def test_heatmap_annotates_every_cell():
    t = _ours()
    fig = plots.table_heatmap(t)
    texts = [x.get_text() for x in fig.axes[0].texts]
    assert len(texts) == t.size
    assert texts[0] == f"{t.iloc[0, 0]:.3f}"


def test_empty_table_is_an_error():
    import pandas as pd

    with pytest.raises(ValueError, match="table"):
        plots.fig3(pd.DataFrame())


def test_evolution_figure_has_three_panels_and_a_line_per_arm():
    import pandas as pd

    rows = [
        {
            "arm": g,
            "round": r,
            "probe_mean_score": 0.1 * r,
            "cloud_calls": 4 - r,
            "escalated_fraction": 0.5,
        }
        for g in ("cloud", "match-only", "no-update")
        for r in range(3)
    ]
    fig = plots.evolution(pd.DataFrame(rows))
    axes = fig.get_axes()
    assert len(axes) == 3
    assert len(axes[0].get_lines()) == 3
    assert [t.get_text() for t in axes[0].get_legend().get_texts()] == [
        "cloud",
        "match-only",
        "no-update",
    ]


def test_score_distributions_draw_one_row_per_model_in_table_order():
    import pandas as pd

    rng = np.random.default_rng(0)
    models = ["Original Model", "Prefix-Tuning 64 steps", "LoRA 320 steps"]
    scores = pd.DataFrame({"model": np.repeat(models, 20), "final_score": rng.uniform(0, 1, 60)})
    fig = plots.score_distributions(scores)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == models
    assert ax.get_xlabel() == "final score"
    with pytest.raises(ValueError, match="no column 'similarity'"):
        plots.score_distributions(scores, "similarity")
