"""The classic alternative to an RNN classifier, on the same split: TF-IDF + LinearSVC.

    python bench/tfidf_baseline.py                   # character 1-3-grams on reviews-zh
    python bench/tfidf_baseline.py --analyzer word   # jieba words instead

Prints the test accuracy and the time taken, so the LSTM's figure in
``runs/<name>/report.txt`` can be put next to it (same machine, same split).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402
from sklearn.svm import LinearSVC  # noqa: E402

from data_processor.datasets import load_classification_dataset  # noqa: E402
from data_processor.tokenizers import get_tokenizer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="reviews-zh")
    parser.add_argument("--analyzer", choices=["char", "word"], default="char", help="char: character 1-3-grams; word: jieba word 1-2-grams")
    args = parser.parse_args()
    splits = load_classification_dataset(args.dataset)
    start = time.perf_counter()
    if args.analyzer == "char":
        vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True)
    else:
        vectorizer = TfidfVectorizer(tokenizer=get_tokenizer("jieba"), token_pattern=None, lowercase=False, ngram_range=(1, 2), sublinear_tf=True)
    features = vectorizer.fit_transform([e.text for e in splits.train])
    classifier = LinearSVC().fit(features, [e.label for e in splits.train])
    for name, examples in (("dev", splits.dev), ("test", splits.test)):
        predicted = classifier.predict(vectorizer.transform([e.text for e in examples]))
        accuracy = sum(p == e.label for p, e in zip(predicted, examples)) / len(examples)
        print(f"tfidf-{args.analyzer} + LinearSVC  {name} accuracy: {accuracy:.4f}")
    print(f"time: {time.perf_counter() - start:.1f}s (fit + predict, {len(splits.train)} training texts)")


if __name__ == "__main__":
    main()
