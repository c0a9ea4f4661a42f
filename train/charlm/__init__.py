"""Character-level language models: training (torch and numpy backends), sampling and continuation scoring."""
