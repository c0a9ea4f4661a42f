"""The names of what the models offer, in one torch-free place: settings and ``--help`` read them without importing torch."""

CLASSIFIER_CELLS = ("rnn", "gru", "lstm")
HYBRIDS = tuple(f"{cell}+tfidf" for cell in CLASSIFIER_CELLS)  # a recurrent model fused with TF-IDF
POOLINGS = ("last", "max", "mean", "attention", "concat")  # concat: last, max and mean side by side (ULMFiT)
CHAR_LM_CELLS = ("rnn", "gru", "lstm", "scratch-gru", "scratch-lstm")
SEQ2SEQ_CELLS = ("rnn", "gru")
TFIDF_FEATURES = ("char", "word")
TFIDF_CLASSIFIERS = ("svm", "logreg")
