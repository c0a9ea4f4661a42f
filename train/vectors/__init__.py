"""``run.py vectors``: word vectors (word2vec or FastText, with gensim) trained on corpora, for ``--embedding FILE``;
the classifier's ``--embedding word2vec|fasttext`` trains them through the same code. Reading vector files is the
data layer's (`data_processor.vectors`)."""
