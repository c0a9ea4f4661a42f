"""Word vectors: reading vectors files, looking rows up for a vocabulary, caching the matrix, training with gensim."""
