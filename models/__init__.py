"""Neural network models: classifiers, cells, language models and numpy references. No file reading."""
