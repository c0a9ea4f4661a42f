"""Text classification: the registry of model kinds, the RNN and TF-IDF training pipelines, and what a run is.

Using a trained run (predict, evaluate, serve, export) is `train.inference`'s.
"""
