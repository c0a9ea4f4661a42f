"""Files and text to numbers: readers, tokenizers, stopwords, vocabularies,
embeddings, batching and the registry of named datasets. No model code."""
