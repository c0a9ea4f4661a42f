"""The names of what the models offer, in one torch-free place: settings and ``--help`` read them without importing torch."""

CLASSIFIER_CELLS = ("rnn", "gru", "lstm")
POOLINGS = ("last", "max", "mean")
CHAR_LM_CELLS = ("rnn", "gru", "lstm", "scratch-gru", "scratch-lstm")
SEQ2SEQ_CELLS = ("rnn", "gru")
TFIDF_FEATURES = ("char", "word")
TFIDF_CLASSIFIERS = ("svm", "logreg")
