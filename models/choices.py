"""The names of what the models offer, and the classifier's default shape, in one torch-free place: settings and
``--help`` read them without importing torch, and the model constructors default to the same values."""

CLASSIFIER_CELLS = ("rnn", "gru", "lstm")
POOLINGS = ("last", "max", "mean", "attention", "concat")  # concat: last, max and mean side by side (ULMFiT)
CHAR_LM_CELLS = ("rnn", "gru", "lstm", "scratch-gru", "scratch-lstm")
SEQ2SEQ_CELLS = ("rnn", "gru")
TFIDF_FEATURES = ("char", "word")
TFIDF_CLASSIFIERS = ("svm", "logreg")

# the recurrent classifier's default shape: ``run.py train``'s defaults and `RNNClassifier`/`TextEncoder`'s alike
DEFAULT_CELL = "lstm"
DEFAULT_EMBED_DIM = 128  # when --embed-dim is not given and no vectors file or encoder sets it
DEFAULT_HIDDEN_SIZE = 256
DEFAULT_DROPOUT = 0.5
DEFAULT_POOLING = "max"
