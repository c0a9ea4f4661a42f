"""Pieces every training program shares: optimizer factory, runtime, run directories, metrics, plots."""
