"""Text classification: the RNN pipeline, the TF-IDF baseline, and loading saved runs for predict/evaluate."""
