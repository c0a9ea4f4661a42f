"""One contract for every kind's predictor: a tiny run of each kind (single- and multi-label where the kind takes both)
is trained through the registry, loaded with `load_predictor`, and held to `ClassifierPredictor`."""

import numpy as np
import pytest

from data_processor.io import read_table
from train.classify.kinds import KINDS
from train.inference.predictors import ClassifierPredictor, load_predictor
from train.classify.settings import ClassifierConfig

from tests.helpers import write_csv

TOPICS = {"体育": "球队比赛进球冠军联赛", "财经": "股票市场银行利率投资", "科技": "手机芯片软件网络电脑"}
TINY = dict(epochs=1, min_steps=0, embed_dim=8, hidden_size=8, embedding="random", vectors_corpus="none", threads=1,
            tokenizer="char", batch_size=8, progress=False, seed=3, adversarial=0.0)
TEXTS = ["冠军球队的比赛", "银行股票大涨", "新手机的芯片", "网络投资"]


def rows(multi_label: bool, n: int, offset: int) -> list[tuple[str, str]]:
    names = list(TOPICS)
    out = []
    for i in range(offset, offset + n):
        first, second = names[i % 3], names[(i + 1) % 3]
        text = TOPICS[first][i % 5: i % 5 + 4] + (TOPICS[second][i % 4: i % 4 + 3] if multi_label and i % 2 else "")
        out.append((text, f"{first}|{second}" if multi_label and i % 2 else first))
    return out


CASES = [(name, False) for name in KINDS] + [(name, True) for name, kind in KINDS.items() if kind.multi_label]


@pytest.fixture(scope="module", params=CASES, ids=[f"{n}{'-multi' if m else ''}" for n, m in CASES])
def trained(request, tmp_path_factory):
    name, multi_label = request.param
    d = tmp_path_factory.mktemp("contract")
    train, dev = write_csv(d / "train.csv", rows(multi_label, 60, 0)), write_csv(d / "dev.csv", rows(multi_label, 18, 60))
    config = ClassifierConfig(model=name, train=str(train), dev=str(dev), multi_label=multi_label, runs_dir=str(d / "runs"),
                              run_name="r", **TINY)
    summary = KINDS[name].train_function()(config, log=lambda _: None)
    return load_predictor(summary["run"]), dev, multi_label


def test_every_kind_keeps_the_predictor_contract(trained):
    predictor, dev, multi_label = trained
    assert isinstance(predictor, ClassifierPredictor)
    assert predictor.multi_label is multi_label and predictor.config.multi_label is multi_label
    names = predictor.label_names
    assert sorted(names) == sorted(TOPICS)
    scores = predictor.scores(TEXTS)
    assert scores.shape == (len(TEXTS), len(names)) and np.isfinite(scores).all()

    best = predictor.predict(TEXTS)
    assert len(best) == len(TEXTS)
    for (label, score), row in zip(best, scores):
        assert isinstance(label, str) and isinstance(score, float)
        assert label == names[int(row.argmax())]  # the best label is the one the scores rank first

    sets = predictor.predict_labels(TEXTS)
    assert len(sets) == len(TEXTS)
    for labels, (label, _) in zip(sets, best):
        assert labels and all(name in names for name, _ in labels)
        assert [s for _, s in labels] == sorted((s for _, s in labels), reverse=True)
        assert labels[0][0] == label  # the set starts with the best label
        if not multi_label:
            assert len(labels) == 1

    if predictor.probabilistic:
        probs = predictor.predict_proba(TEXTS)
        assert probs.shape == scores.shape and ((probs >= 0) & (probs <= 1)).all()
        if not multi_label:
            assert np.allclose(probs.sum(1), 1, atol=1e-5)

    metrics = predictor.evaluate(read_table(dev).examples, str(dev))
    key = "micro_f1" if multi_label else "accuracy"
    assert 0.0 <= metrics[key] <= 1.0
