from collections import Counter

from data_processor.datasets import load_classification_dataset
from data_processor.splits import stratified_split


def test_stratified_split_keeps_class_proportions_and_is_reproducible():
    items = list(range(1000))
    labels = ["a" if i % 4 else "b" for i in items]  # 750 a, 250 b
    parts = stratified_split(items, labels, (0.8, 0.1, 0.1), seed=3)
    assert [len(p) for p in parts] == [800, 100, 100]
    for part, n in zip(parts, (800, 100, 100)):
        counts = Counter(labels[i] for i in part)
        assert counts["b"] == n // 4
    assert sorted(sum(parts, [])) == items
    assert parts == stratified_split(items, labels, (0.8, 0.1, 0.1), seed=3)
    assert parts != stratified_split(items, labels, (0.8, 0.1, 0.1), seed=4)


def test_reviews_zh_is_deduplicated_and_split_80_10_10():
    splits = load_classification_dataset("reviews-zh")
    train, dev, test = splits.train, splits.dev, splits.test
    texts = [e.text for e in train + dev + test]
    assert len(texts) == len(set(texts)), "a text appears twice"
    by_text = {}
    for e in train + dev + test:
        by_text.setdefault(e.text, set()).add(e.label)
    assert all(len(v) == 1 for v in by_text.values())
    total = len(texts)
    assert total > 15000
    assert abs(len(train) / total - 0.8) < 0.002 and abs(len(dev) / total - 0.1) < 0.002
    assert {e.label for e in train} == {"negative", "positive"}
    # same split every time
    again = load_classification_dataset("reviews-zh")
    assert [e.text for e in again.test] == [e.text for e in test]
