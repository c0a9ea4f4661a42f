"""Confusion-matrix pictures: the heatmap, its row normalisation, the no-CJK-font fallback, confusion.png and evaluate --plot."""

import warnings

import pytest

from tests.helpers import assert_user_error, run_cli, write_csv

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def read_png(path):
    """The image at ``path`` as an array (height, width, channels), after checking it is a PNG."""
    import matplotlib.image

    assert path.read_bytes()[:8] == PNG_SIGNATURE
    return matplotlib.image.imread(str(path))


def glyph_warnings(record) -> list[str]:
    return [str(w.message) for w in record if "Glyph" in str(w.message)]


def test_rows_are_normalised_to_recall_and_empty_rows_stay_zero():
    from train.common.plots import normalise_rows

    shares = normalise_rows([[3, 1, 0], [0, 0, 0], [2, 2, 4]])
    assert shares == [[0.75, 0.25, 0.0], [0.0, 0.0, 0.0], [0.25, 0.25, 0.5]]
    assert normalise_rows([[0, 5], [5, 0]]) == [[0.0, 1.0], [1.0, 0.0]]  # not diagonal-dominant: still per row


def test_multi_label_rows_are_divided_by_each_labels_texts_so_the_diagonal_is_recall():
    import numpy as np

    from train.classify.multilabel import multilabel_metrics
    from train.common.plots import normalise_rows

    true = np.array([[1, 1, 0], [1, 0, 0], [1, 0, 1], [0, 1, 0]])  # label a: 3 texts, b: 2, c: 1
    chosen = np.array([[1, 1, 0], [0, 0, 1], [1, 1, 1], [0, 1, 0]])
    metrics = multilabel_metrics(true, chosen, ["a", "b", "c"])
    assert metrics["support"] == [3, 2, 1]
    shares = normalise_rows(metrics["confusion"], metrics["support"])
    recall = (true & chosen).sum(0) / true.sum(0)
    assert [round(shares[i][i], 6) for i in range(3)] == [round(r, 6) for r in recall]  # 2/3, 1, 1
    assert shares[0] == pytest.approx([2 / 3, 2 / 3, 2 / 3])  # a's texts: 2 of 3 also given b, 2 of 3 given c
    assert normalise_rows(metrics["confusion"])[0][0] == pytest.approx(2 / 6)  # by row sums: not a recall


def test_a_cjk_font_installed_after_matplotlibs_cache_is_registered(tmp_path, monkeypatch):
    import shutil

    from matplotlib import font_manager

    from train.common import plots

    dejavu = font_manager.findfont("DejaVu Sans")
    fresh = tmp_path / "wqy-microhei.ttf"  # a CJK font's file name (the glyphs do not matter here)
    shutil.copyfile(dejavu, fresh)
    assert str(fresh) not in {f.fname for f in font_manager.fontManager.ttflist}
    monkeypatch.setattr(font_manager.fontManager, "ttflist", list(font_manager.fontManager.ttflist))  # undone after
    other = tmp_path / "SomeLatin.ttf"
    shutil.copyfile(dejavu, other)
    assert plots.register_new_cjk_fonts([str(fresh), str(other)]) == [str(fresh)]
    assert str(fresh) in {f.fname for f in font_manager.fontManager.ttflist}
    assert plots.register_new_cjk_fonts([str(fresh)]) == []  # known now


def test_heatmap_is_a_real_png_of_sensible_size(tmp_path):
    from train.common.plots import plot_confusion

    path = tmp_path / "cm.png"
    drawn = plot_confusion([[8, 2], [1, 9]], ["negative", "positive"], path, "test: normalised confusion (rows: true label)")
    assert drawn is True
    image = read_png(path)
    height, width = image.shape[:2]
    assert 300 <= height <= 2000 and 300 <= width <= 2000, image.shape
    assert image[..., :3].std() > 0.05  # something is drawn, not a blank canvas
    assert [p.name for p in tmp_path.iterdir()] == ["cm.png"]  # written atomically: no temporary file left behind

    many = tmp_path / "many.png"
    names = [f"class_{i}" for i in range(16)]
    plot_confusion([[int(i == j) * 5 + 1 for j in range(16)] for i in range(16)], names, many, "dev: many labels")
    assert read_png(many).shape[0] > height  # more labels, a bigger picture


def test_a_wrong_shape_is_refused(tmp_path):
    from train.common.plots import plot_confusion

    with pytest.raises(ValueError, match="2 x 2"):
        plot_confusion([[1, 2, 3], [4, 5, 6]], ["a", "b"], tmp_path / "x.png", "t")
    assert not (tmp_path / "x.png").exists()


def test_without_a_cjk_font_chinese_names_become_indices_without_glyph_warnings(tmp_path, monkeypatch):
    from train.common import plots

    monkeypatch.setattr(plots, "find_cjk_font", lambda: None)
    path = tmp_path / "zh.png"
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        drawn = plots.plot_confusion([[5, 1, 0], [2, 7, 1], [0, 0, 0]], ["书籍", "体育", "财经"], path, "test: 测试 confusion")
    assert drawn is False
    assert glyph_warnings(record) == []
    read_png(path)

    with warnings.catch_warnings(record=True) as record:  # names the base font draws are kept, non-ASCII ones too
        warnings.simplefilter("always")
        assert plots.plot_confusion([[1, 0], [0, 1]], ["café", "Ωmega"], tmp_path / "latin.png", "t") is True
    assert glyph_warnings(record) == []


def test_a_font_found_that_lacks_the_glyphs_also_falls_back(tmp_path, monkeypatch):
    from matplotlib import font_manager

    from train.common import plots

    dejavu = font_manager.findfont("DejaVu Sans")
    monkeypatch.setattr(plots, "find_cjk_font", lambda: ("DejaVu Sans", dejavu))
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        assert plots.plot_confusion([[1, 0], [0, 1]], ["书籍", "ok"], tmp_path / "x.png", "t") is False
    assert glyph_warnings(record) == []


def test_the_font_finder_prefers_a_cjk_family(monkeypatch):
    from matplotlib import font_manager

    from train.common import plots

    fonts = [font_manager.FontEntry(fname="/fonts/DejaVuSans.ttf", name="DejaVu Sans"),
             font_manager.FontEntry(fname="/fonts/wqy-zenhei.ttc", name="WenQuanYi Zen Hei"),
             font_manager.FontEntry(fname="/fonts/NotoSansCJK-Regular.ttc", name="Noto Sans CJK JP")]
    monkeypatch.setattr(font_manager.fontManager, "ttflist", fonts)
    assert plots.find_cjk_font() == ("Noto Sans CJK JP", "/fonts/NotoSansCJK-Regular.ttc")
    monkeypatch.setattr(font_manager.fontManager, "ttflist", fonts[:1])
    assert plots.find_cjk_font() is None


def test_write_report_draws_test_else_dev_else_nothing(tmp_path, monkeypatch):
    from train.classify.run_files import write_report
    from train.common import plots
    from train.common.metrics import classification_metrics
    from train.common.rundir import RunDir

    test = classification_metrics([0, 1, 1, 0], [0, 1, 0, 0], ["neg", "pos"])
    dev = classification_metrics([0, 1, 1], [1, 1, 1], ["neg", "pos"])
    summary = {"run": "r", "best_epoch": 1, "best_dev_accuracy": 0.5, "epochs_run": 1}

    only_dev = RunDir(tmp_path / "only-dev")
    only_dev.path.mkdir()
    write_report(only_dev, summary, None, dev)  # really drawn
    read_png(only_dev.file("confusion.png"))

    none = RunDir(tmp_path / "none")
    none.path.mkdir()
    write_report(none, summary, None)  # the old call still works, and draws nothing
    assert (none.file("report.txt")).is_file() and not none.file("confusion.png").exists()

    calls = []
    monkeypatch.setattr(plots, "plot_confusion",
                        lambda confusion, labels, path, title, totals=None: calls.append((confusion, labels, title)))
    both = RunDir(tmp_path / "both")
    both.path.mkdir()
    write_report(both, summary, test, dev)
    assert calls == [(test["confusion"], ["neg", "pos"], "test: normalised confusion (rows: true label)")]
    calls.clear()
    write_report(both, summary, None, {**dev, "multi_label": True})
    assert len(calls) == 1 and calls[0][2].startswith("dev: ") and "the diagonal is each label's recall" in calls[0][2]


TINY = {"体育": ["球队赢了比赛", "足球联赛开幕", "篮球明星得分", "运动员夺冠"],
        "财经": ["股市大涨", "银行利率下调", "公司发布财报", "基金收益上升"],
        "娱乐": ["电影票房大卖", "歌手发布新歌", "明星出演新剧", "综艺节目收视"]}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A one-epoch lstm run on three Chinese-labelled classes, with a test file."""
    d = tmp_path_factory.mktemp("plots")
    rows = [(text, label) for label, texts in TINY.items() for text in texts]
    train = write_csv(d / "train.csv", rows * 3)
    dev = write_csv(d / "dev.csv", rows)
    test = write_csv(d / "test.csv", rows)
    result = run_cli("--model", "lstm", "--train", str(train), "--dev", str(dev), "--test", str(test), "--runs-dir", str(d / "runs"),
                     "--run-name", "tiny", "--epochs", "1", "--embedding", "random", "--embed-dim", "8", "--hidden-size", "8",
                     "--tokenizer", "char", "--vectors-corpus", "none", "--min-steps", "0", "--no-progress", "--threads", "1",
                     "--seed", "1")
    assert result.returncode == 0, result.stderr
    return d, d / "runs" / "tiny", test


@pytest.mark.e2e
def test_training_writes_confusion_png(tiny_run):
    _, run, _ = tiny_run
    image = read_png(run / "confusion.png")
    assert min(image.shape[:2]) >= 300
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.e2e
def test_evaluate_plot_writes_the_picture(tiny_run):
    d, run, test = tiny_run
    out = d / "evaluated.png"
    result = run_cli("evaluate", "--run", str(run), str(test), "--plot", str(out))
    assert result.returncode == 0, result.stderr
    assert str(out) in result.stdout and "accuracy:" in result.stdout
    read_png(out)


@pytest.mark.e2e
def test_evaluate_plot_into_a_missing_directory_is_a_one_line_error(tiny_run, tmp_path):
    _, run, test = tiny_run
    assert_user_error(run_cli("evaluate", "--run", str(run), str(test), "--plot", "/nonexistent/dir/x.png"), "--plot", "/nonexistent/dir")
    assert_user_error(run_cli("evaluate", "--run", str(run), str(test), "--plot", str(tmp_path)), "--plot", "is a directory")
    # checked before any work: the missing run directory is not even looked at
    assert_user_error(run_cli("evaluate", "--run", str(tmp_path / "no-run"), str(test), "--plot", "/nonexistent/dir/x.png"), "--plot")
