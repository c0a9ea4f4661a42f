"""A trained RNN/GRU/LSTM classifier run as an ONNX graph, the JSON that turns text into its inputs, and a parity check.

``python run.py export --run DIR --out model.onnx`` calls `export_onnx` (`train.inference.export.writer`), which writes:

- ``model.onnx``: inputs ``tokens`` (int64 ``[batch, steps]``, each row padded with the vocabulary's ``<pad>`` id after
  its end) and ``lengths`` (int64 ``[batch]``, each row's true length, 1 to ``steps``); output ``probabilities``
  (float32 ``[batch, labels]``: a softmax, or a sigmoid per label for a multi-label run). Batch size and length are
  dynamic. The recurrent layers are ONNX ``RNN``/``GRU``/``LSTM`` operators whose ``sequence_lens`` input reads each
  row within its length in both directions, as PyTorch does (see `models.encoder.RecurrentStack`), so padding never
  changes a row's probabilities.
- ``model.json``: plain JSON: the tokenizer and its settings, the stopwords, ``max_len``, the back-off, the vocabulary,
  the labels (the order of the output's columns), ``multi_label`` and the decision thresholds, and the graph's input
  and output names.
- ``model.user_dict.txt``: a copy of the run's jieba user dictionary, when it has one.

`OnnxPredictor` (`onnx_predictor`) runs the exported files with onnxruntime and the project's tokenizers, without torch or the run
directory; `check_parity` (`parity`) compares it, and the graph itself, with the run's PyTorch `Predictor` on the same texts.
"""
