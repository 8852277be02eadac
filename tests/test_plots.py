"""The chapters' shared figures (coordlib.book.plots): the paper-against-ours figure and the static stepper."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from coordlib.book import plots, report, stats  # noqa: E402


def _rows():
    fit = report.Precondition("train accuracy", 0.99)
    ceiling = report.Claim("a", "ceiling", "paper", "at_most", 0.86, precondition=fit)
    level = report.Claim("b", "level", "paper", "at_least", 1.0)
    iou = report.Claim("c", "iou", "paper", "at_most", 0.36, unit="iou")
    size = report.Claim("d", "size", "paper", "within", (10.0, 100.0), unit="x")
    better = report.Claim("e", "better", "paper", "direction", "higher", unit="iou")
    return [
        report.judge(ceiling, stats.estimate([0.4, 0.5, 0.45], (0, 1)), {"train accuracy": 0.5}),
        report.judge(level, stats.estimate([1.0, 0.98, 0.99], (0, 1))),
        report.judge(iou, stats.estimate([0.2, 0.21, 0.25], (0, 1))),
        report.judge(size, 20.0),
        report.judge(better, stats.compare([0.5, 0.6, 0.55], [0.4, 0.45, 0.5])),
        report.judge(report.Claim("f", "not run", "paper", "approx", 6.0, unit=""), None),
    ]


def test_paper_vs_ours_has_one_panel_per_unit_and_one_row_per_measured_claim():
    fig = plots.paper_vs_ours(_rows())
    axes = fig.axes
    assert len(axes) == 4  # % (2 claims), iou (1), x (1), iou difference (1); the unmeasured row is left out
    assert [len(ax.get_yticks()) for ax in axes] == [2, 1, 1, 1]
    # ticks run bottom to top, so the first claim is the top row
    assert [t.get_text() for t in axes[0].get_yticklabels()] == ["level", "ceiling"]
    assert axes[2].get_xscale() == "log"
    # each seed is drawn: three dots on the ceiling row of the first panel
    dots = [line for line in axes[0].lines if line.get_marker() == "." and len(line.get_xdata()) == 3]
    assert any(np.allclose(sorted(d.get_xdata()), [40.0, 45.0, 50.0]) for d in dots)
    plt.close(fig)


def test_paper_vs_ours_reads_saved_rows_and_refuses_nothing_to_plot():
    fig = plots.paper_vs_ours([j.as_dict() for j in _rows()])
    assert len(fig.axes) == 4
    plt.close(fig)
    with pytest.raises(ValueError, match="at least one judged claim with a measured estimate"):
        plots.paper_vs_ours([_rows()[-1]])


def test_stepper_is_an_html_player_with_every_frame():
    frames = [np.eye(4) * k / 3 for k in range(4)]
    html = plots.stepper(frames, [f"frame {k}" for k in range(4)]).data
    assert "<script" in html and "animation" in html.lower()
    assert html.count("data:image/png;base64") == 4  # one embedded image per frame
    with pytest.raises(ValueError, match="one label per frame"):
        plots.stepper(frames, ["only one"])


def test_paper_vs_ours_draws_another_profiles_runs_of_the_same_claims_when_saved(tmp_path, monkeypatch):
    from coordlib.book import results

    monkeypatch.setenv(results.ENV_VAR, str(tmp_path))
    rows = [report.judge(report.Claim("ch9/a", "level", "paper", "at_least", 1.0),
                         stats.estimate([0.9, 0.95, 0.92], (0, 1)), chapter="09_rl"),
            report.judge(report.Claim("ch9/b", "other", "paper", "at_least", 1.0),
                         stats.estimate([0.5, 0.6, 0.55], (0, 1)), chapter="09_rl")]
    squares = lambda fig: [ln for ax in fig.axes for ln in ax.lines if ln.get_marker() == "s"]  # noqa: E731
    fig = plots.paper_vs_ours(rows)  # nothing saved under gpu: the figure is the book's alone
    assert squares(fig) == [] and "gpu profile" not in " ".join(t.get_text() for t in fig.legends[0].texts)
    plt.close(fig)
    gpu = report.judge(rows[0].claim, stats.estimate([0.99, 1.0, 1.0, 0.98, 1.0], (0, 1)), chapter="09_rl")
    monkeypatch.setenv("COORDLIB_PROFILE", "gpu")
    results.save("09_rl", {"verdicts": [gpu]})
    monkeypatch.setenv("COORDLIB_PROFILE", "book")
    fig = plots.paper_vs_ours(rows)
    (square,) = squares(fig)  # only claim ch9/a has a gpu run
    assert square.get_xdata()[0] == pytest.approx(gpu.estimate["mean"] * 100)
    assert any(t.get_text().startswith("gpu profile (") for t in fig.legends[0].texts)
    plt.close(fig)
    assert squares(plots.paper_vs_ours(rows, beside=None)) == []
    plt.close("all")
