"""Numpy reference implementations: layers, RNN/LSTM/GRU cells with backprop through time, the char-RNN and its optimizers."""
