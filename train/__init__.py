"""Training and evaluation: optimizers, fit loops, metrics, checkpoints and run directories."""
