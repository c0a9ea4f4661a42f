"""The registry of model kinds: every kind's code resolves, settings offer exactly the registered kinds, saved runs
name their kind, and no module outside the registry switches on a ``--model`` string."""

import json
import re
from pathlib import Path

import pytest

from data_processor.base.errors import DataError
from models.choices import CLASSIFIER_CELLS
from train.classify.kinds import BASELINE, KINDS, MODELS, kind_of, load
from train.inference.predictors import saved_kind
from train.classify.settings import ClassifierConfig
from train.common.rundir import RunDir

from tests.helpers import ROOT


@pytest.mark.parametrize("name", MODELS)
def test_every_kind_names_code_that_exists(name):
    kind = KINDS[name]
    assert callable(kind.train_function())
    predictor = kind.predictor_class()
    for member in ("label_names", "predict", "predict_proba", "predict_labels", "evaluate", "probabilistic"):
        assert hasattr(predictor, member), f"{kind.predictor} lacks {member}"


def test_the_kinds_are_the_cells_the_baseline_and_each_cell_fused_with_it():
    assert set(MODELS) == {*CLASSIFIER_CELLS, BASELINE, *(f"{c}+tfidf" for c in CLASSIFIER_CELLS)}
    assert {k.name for k in KINDS.values() if k.recurrent and not k.tfidf} == set(CLASSIFIER_CELLS)
    assert all(kind_of(f"{c}+tfidf").cell == c and kind_of(f"{c}+tfidf").fused for c in CLASSIFIER_CELLS)
    assert not kind_of(BASELINE).recurrent and not kind_of(BASELINE).resumable
    # only a plain recurrent run trains under torchrun and exports to ONNX
    assert {k.name for k in KINDS.values() if k.distributed} == {k.name for k in KINDS.values() if k.exports_onnx} == set(CLASSIFIER_CELLS)


def test_settings_offer_exactly_the_registered_kinds():
    for name in MODELS:
        assert ClassifierConfig(model=name).model == name
    with pytest.raises(Exception, match="model"):
        ClassifierConfig.from_dict({"model": "transformer"}, "test")
    with pytest.raises(KeyError, match="known: rnn, gru, lstm"):
        kind_of("transformer")


def test_load_names_module_and_attribute():
    assert load("json:dumps") is json.dumps
    with pytest.raises(ModuleNotFoundError):
        load("no_such_module_here:thing")


def test_a_saved_run_of_an_unknown_kind_is_a_data_error_naming_its_config(tmp_path):
    run = RunDir.create(tmp_path, "r", prefix="x")
    run.save_json("config.json", {"kind": "classifier", "model": "transformer"})
    with pytest.raises(DataError, match=r"config\.json: unknown model 'transformer'"):
        saved_kind(run)
    run.save_json("config.json", {"kind": "classifier"})  # written before config.json recorded the model
    assert saved_kind(run).name == "lstm"


KIND_SWITCH = re.compile(
    r"""(\bmodel\w*\s*(==|!=)\s*["'])"""  # model == "tfidf"
    r"""|((==|!=|\bin)\s*["'][a-z]*\+?tfidf["'])"""  # x == "lstm+tfidf"
    r"""|(\.(endswith|removesuffix|startswith|removeprefix)\(\s*["']\+?tfidf)"""  # model.endswith("+tfidf")
)


def test_no_module_outside_the_registry_switches_on_a_model_string():
    offenders = []
    for path in sorted(ROOT.rglob("*.py")):
        relative = path.relative_to(ROOT)
        if relative.parts[0] in ("tests", "data", ".venv") or relative == Path("train/classify/kinds.py"):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if KIND_SWITCH.search(line):
                offenders.append(f"{relative}:{number}: {line.strip()}")
    assert offenders == [], "ask train.classify.kinds.kind_of(...) instead:\n" + "\n".join(offenders)


def test_the_switch_pattern_catches_what_it_must():
    for line in ('if config.model == "tfidf":', 'if model != "tfidf"', 'elif config.model.endswith("+tfidf"):',
                 'return self.model.removesuffix("+tfidf")', 'if name in "lstm+tfidf"'):
        assert KIND_SWITCH.search(line), line
    assert not KIND_SWITCH.search('cell == "lstm"')  # a cell is not a model kind


TRAINING_PIPELINE = ("train.classify.rnn", "train.classify.fit", "train.common.loop", "train.classify.transfer", "train.classify.embedding",
                     "train.classify.distill", "train.classify.objective", "train.classify.hybrid", "train.classify.pretrain",
                     "train.classify.lm_training", "train.classify.encoder_cache", "train.classify.tfidf", "gensim")


def test_using_a_run_imports_no_training_pipeline():
    """Every module of train.inference (predict, evaluate, serve, export), and every kind's predictor loaded through
    the registry, imports none of the trainers."""
    import subprocess
    import sys

    probe = ("import importlib, pkgutil, sys\nimport train.inference\nfrom train.classify.kinds import KINDS\n"
             "names = [m.name for m in pkgutil.walk_packages(train.inference.__path__, 'train.inference.')]\n"
             "for name in names:\n    importlib.import_module(name)\n"
             "for kind in KINDS.values():\n    kind.predictor_class()\n"
             f"print(len(names), *sorted(m for m in {TRAINING_PIPELINE!r} if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    imported, *training = result.stdout.split()
    assert int(imported) >= 15  # the package, its predictors, serve/ and export/ were all walked
    assert training == []
