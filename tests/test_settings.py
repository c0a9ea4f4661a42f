"""Settings declared once: the parsers are built from the dataclass fields, and saved configs load strictly."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest
import torch

import run
from data_processor.base.errors import ConfigError
from data_processor.base.settings import add_options
from models.classifier import RNNClassifier, upgrade_state_dict
from tests.helpers import ROOT, assert_user_error, run_cli, write_csv
from train.charlm.settings import CharLMConfig, EvalSettings, SampleSettings
from train.classify.settings import ClassifierConfig, EvaluateSettings, PredictSettings


@pytest.mark.parametrize("settings", [ClassifierConfig, CharLMConfig, SampleSettings, EvalSettings, PredictSettings, EvaluateSettings])
def test_every_field_is_an_option_whose_default_is_the_field_default(settings):
    parser = run.Parser(prog="x")
    add_options(parser, settings)
    required = [a for a in parser._actions if a.required]
    argv = [item for a in required for item in ((a.option_strings[0], "R") if a.option_strings else ("F",))]
    args = parser.parse_args(argv)
    parsed = settings.from_args(args)
    for f in dataclasses.fields(settings):
        if f.name not in {a.dest for a in required} and not f.metadata["positional"]:
            assert getattr(parsed, f.name) == f.default, f.name
    given = {a.dest for a in required} | {f.name for f in dataclasses.fields(settings) if f.metadata["positional"]}
    assert set(vars(args)) & {f.name for f in dataclasses.fields(settings)} == given == parsed.given  # what was not given is absent


def test_settings_know_which_options_were_given_whatever_their_value():
    parser = run.Parser(prog="x")
    add_options(parser, ClassifierConfig)
    parsed = ClassifierConfig.from_args(parser.parse_args(["--model", "lstm", "--no-progress", "--dev-ratio", "0.1"]))
    assert parsed.given == {"model", "progress", "dev_ratio"} and parsed == ClassifierConfig(progress=False)
    assert ClassifierConfig.from_dict({"epochs": 3}, "x").given == {"epochs"}
    assert ClassifierConfig.from_dict({"epochs": 3, "kind": "classifier"}, "x", saved=True).given == frozenset()
    assert dataclasses.replace(parsed, seed=1).given == frozenset()


def test_help_shows_defaults_but_not_for_switches():
    result = run_cli("train", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "--hidden-size HIDDEN_SIZE hidden units per direction (default: 256)" in text
    assert "(default: True)" not in text and "(default: False)" not in text and "(default: None)" not in text


@pytest.mark.parametrize("saved, fragment", [
    ({"model": "transformer"}, "unknown model 'transformer'; choose one of rnn, gru, lstm, tfidf"),
    ({"num_layers": None}, "'num_layers' must be set (an integer), got null"),
    ({"num_layers": "2"}, "'num_layers' must be an integer, got '2'"),
    ({"bidirectional": 1}, "'bidirectional' must be true or false, got 1"),
    ({"lr": float("nan")}, "'lr' must be a finite number, got nan"),
    ({"dropout": 1.5}, "'dropout' must be in [0, 1), got 1.5"),
    ({"hiden_size": 128}, "unknown setting 'hiden_size'"),
])
def test_a_damaged_config_is_one_error_naming_the_field(saved, fragment):
    with pytest.raises(ConfigError) as info:
        ClassifierConfig.from_dict({"kind": "classifier", "device_used": "cpu", **saved}, "r/config.json")
    assert str(info.value).startswith("r/config.json: ") and fragment in str(info.value)


def test_config_that_is_not_an_object_is_refused():
    with pytest.raises(ConfigError, match="expected a JSON object of settings, got list"):
        ClassifierConfig.from_dict([1, 2], "r/config.json")


def test_saved_config_round_trips():
    config = ClassifierConfig(model="gru", hidden_size=32, lr=0.01, train="a.csv")
    assert ClassifierConfig.from_dict({"kind": "classifier", **json.loads(json.dumps(config.to_dict()))}) == config


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_non_finite_numbers_are_refused_on_the_command_line(value):
    assert_user_error(run_cli(f"--lr={value}", "--dry-run"), "--lr", "not a finite number")


def test_predict_refuses_a_run_whose_config_was_edited(tmp_path):
    train = write_csv(tmp_path / "t.csv", [("好吃又便宜", "pos"), ("难吃还贵", "neg")] * 10)
    runs = tmp_path / "runs"
    assert run_cli("--model", "tfidf", "--train", str(train), "--runs-dir", str(runs), "--run-name", "r").returncode == 0
    config_file = runs / "r" / "config.json"
    config = json.loads(config_file.read_text(encoding="utf-8"))
    config_file.write_text(json.dumps({**config, "num_layers": None}), encoding="utf-8")
    assert_user_error(run_cli("predict", "--run", str(runs / "r"), "好吃"), "config.json", "'num_layers' must be set")


def test_a_checkpoint_from_before_the_encoder_module_still_loads():
    model = RNNClassifier(10, 2, embed_dim=4, hidden_size=3)
    old = {k.removeprefix("encoder."): v for k, v in model.state_dict().items()}
    assert any(k.startswith("rnn.") for k in old)
    fresh = RNNClassifier(10, 2, embed_dim=4, hidden_size=3)
    fresh.load_state_dict(upgrade_state_dict(old))
    assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), model.state_dict().values()))


HEAVY = ("torch", "sklearn", "matplotlib", "gensim", "jieba", "fastapi", "uvicorn", "onnx", "onnxruntime")


def _modules_after(code: str) -> list[str]:
    probe = f"import sys, run\n{code}\nprint('loaded:', *(m for m in {HEAVY!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()[-1].split()[1:]


@pytest.mark.e2e
@pytest.mark.parametrize("command", [[], ["train"], ["predict"], ["evaluate"], ["generate", "train"], ["generate", "sample"],
                                     ["vectors"], ["check-gradients"], ["demo", "seq2seq"], ["serve"], ["export"]])
def test_help_imports_no_heavy_library(command):
    code = f"try:\n    run.main({[*command, '--help']!r})\nexcept SystemExit:\n    pass"
    assert _modules_after(code) == []


@pytest.mark.e2e
def test_predicting_imports_only_what_the_run_needs(tmp_path):
    train = write_csv(tmp_path / "t.csv", [("好吃又便宜", "pos"), ("难吃还贵", "neg")] * 10)
    runs = tmp_path / "runs"
    assert run_cli("--model", "tfidf", "--train", str(train), "--runs-dir", str(runs), "--run-name", "r").returncode == 0
    loaded = _modules_after(f"run.main(['predict', '--run', {str(runs / 'r')!r}, '好吃'])")
    assert "sklearn" in loaded and "torch" not in loaded and "matplotlib" not in loaded


@pytest.mark.e2e
def test_predicting_with_a_recurrent_run_needs_neither_sklearn_nor_matplotlib(tmp_path):
    train = write_csv(tmp_path / "t.csv", [("好吃又便宜", "pos"), ("难吃还贵", "neg")] * 10)
    runs = tmp_path / "runs"
    tiny = ["--epochs", "1", "--embedding", "random", "--embed-dim", "8", "--hidden-size", "8", "--no-progress", "--threads", "1",
            "--min-steps", "0"]
    assert run_cli("--train", str(train), "--runs-dir", str(runs), "--run-name", "r", *tiny).returncode == 0
    loaded = _modules_after(f"run.main(['predict', '--run', {str(runs / 'r')!r}, '好吃'])")
    assert "torch" in loaded and "sklearn" not in loaded and "matplotlib" not in loaded


@pytest.mark.parametrize("value", [10**309, -(10**400)], ids=["1e309", "-1e400"])
def test_saved_float_setting_too_large_for_a_float_is_a_config_error(value):
    # found by tests/test_fuzz.py: math.isfinite raised OverflowError for an int that no float can hold
    with pytest.raises(ConfigError, match=r"config\.json: 'lr' must be a finite number"):
        ClassifierConfig.from_dict({"lr": value}, "config.json", saved=True)
    with pytest.raises(ConfigError, match=r"config\.json: 'dropout' must be a finite number"):
        CharLMConfig.from_dict({"dropout": value}, "config.json", saved=True)


@pytest.mark.parametrize("content, problem", [("[" * 5000 + "]" * 5000, "JSON nested too deeply to read"),
                                              ('{"kind": "classifier", "seed": ' + "9" * 5000 + "}",
                                               "a number with too many digits to read")], ids=["deep", "long-number"])
def test_run_config_json_too_deep_or_too_long_a_number_is_a_data_error(tmp_path, content, problem):
    # found by tests/test_fuzz.py: json.loads raised RecursionError or ValueError (over 4300 digits) out of RunDir.open
    from data_processor.base.errors import DataError
    from train.common.rundir import RunDir

    (tmp_path / "config.json").write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=rf"config\.json: {problem}; the file is damaged"):
        RunDir.open(tmp_path, "classifier")


def test_an_explicit_epochs_is_what_runs_unless_min_steps_is_given_too():
    assert ClassifierConfig.from_dict({"epochs": 1}, "x").min_steps == 0
    assert ClassifierConfig.from_dict({"epochs": 1, "min_steps": 500}, "x").min_steps == 500
    assert ClassifierConfig.from_dict({}, "x").min_steps == ClassifierConfig().min_steps > 0
    saved = ClassifierConfig.from_dict({"kind": "classifier", "epochs": 1, "min_steps": 800}, "r/config.json", saved=True)
    assert saved.min_steps == 800  # a run's record is what it trained with
    shown = json.loads(run_cli("--epochs", "1", "--dry-run").stdout)
    assert shown["epochs"] == 1 and shown["min_steps"] == 0


def project_imports(package: str) -> dict[str, set[str]]:
    """Each module of ``package`` (a folder under the project root) and the project packages it imports."""
    import ast

    found = {}
    for path in sorted((ROOT / package.replace(".", "/")).rglob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[str(path.relative_to(ROOT))] = {n for n in names if n.split(".")[0] in ("data_processor", "models", "train", "run")}
    return found


def test_the_layers_import_downward_only():
    """The base layer imports only itself; the data layer only itself; models nothing of the project (DESIGN.md)."""
    allowed = {"data_processor.base": ("data_processor.base",), "data_processor": ("data_processor",), "models": ("models",)}
    for package, prefixes in allowed.items():
        imports = project_imports(package)
        assert imports, package
        for module, names in imports.items():
            wrong = sorted(n for n in names if not n.startswith(prefixes))
            assert not wrong, f"{module} imports {wrong}"
