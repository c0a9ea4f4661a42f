from data_processor.char_backoff import build_backoff_vocab, spell_out
from data_processor.vocab import Vocab


def test_spell_out_keeps_known_words_and_splits_unknown_ones():
    vocab = Vocab(["好吃", "很", "性"])
    assert spell_out(["很", "好吃", "性价比", "难 吃"], vocab) == ["很", "好吃", "性", "价", "比", "难", "吃"]


def test_single_characters_are_never_split():
    assert spell_out(["差", "!"], Vocab([])) == ["差", "!"]


def test_backoff_vocab_holds_frequent_words_and_characters_of_rare_ones():
    texts = [["好吃", "不贵"], ["好吃", "实惠"], ["好吃", "不错"], ["实惠"]]
    vocab = build_backoff_vocab(texts, min_freq=2)
    # 好吃 (3) and 实惠 (2) are words; 不贵 and 不错 are rare: spelt out, 不 is then seen twice, 贵 and 错 once.
    assert "好吃" in vocab and "实惠" in vocab
    assert "不贵" not in vocab and "不错" not in vocab
    assert "不" in vocab and "贵" not in vocab and "错" not in vocab
    assert vocab.counts["不"] == 2


def test_backoff_vocab_respects_max_size():
    texts = [["甲乙", "甲乙", "丙丁"], ["甲乙", "戊"], ["戊"]]
    vocab = build_backoff_vocab(texts, min_freq=1, max_size=3)
    assert vocab.itos == ["<pad>", "<unk>", "甲乙"]
