"""Using a trained run, apart from training: loading it, predicting, serving it over HTTP, exporting it to ONNX.

`predictors` loads a run of any model kind (through `train.classify.kinds`) behind one `ClassifierPredictor`
interface, implemented by `rnn_predictor`, `tfidf_predictor` and `hybrid_predictor`; `serve` and `export` are the
programs built on it. This package reads what a run is (its settings, text pipeline, label decisions and model
construction in `train.classify`) but never imports a training pipeline: ``tests/test_kinds.py`` checks the import
graph.
"""
