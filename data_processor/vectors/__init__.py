"""Word vectors files: reading them, looking rows up for a vocabulary, caching the matrix. Training vectors is
`train.vectors`'."""
