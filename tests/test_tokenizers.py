import os

import pytest

from data_processor.base.errors import ConfigError, DataError
from data_processor.tokenizers import (
    JiebaTokenizer,
    char_tokenize,
    english_tokenize,
    get_tokenizer,
    whitespace_tokenize,
)


def test_english_follows_basic_english_rules():
    assert english_tokenize("Hello, World! It's <br />GREAT (really)?") == [
        "hello", ",", "world", "!", "it", "'", "s", "great", "(", "really", ")", "?",
    ]
    assert english_tokenize('He said "no"; fine: ok.') == ["he", "said", "no", "fine", "ok", "."]


def test_char_and_whitespace():
    assert char_tokenize("好 吃！\n") == ["好", "吃", "！"]
    assert whitespace_tokenize(" 已经  分好 词 ") == ["已经", "分好", "词"]


def test_jieba_segments_words_and_caches_in_the_given_dir(tmp_path):
    tok = JiebaTokenizer(cache_dir=tmp_path)
    assert tok("我爱北京天安门") == ["我", "爱", "北京", "天安门"]
    assert tok("  ") == []
    assert any(p.name.startswith("jieba") for p in tmp_path.iterdir())


@pytest.mark.e2e
def test_jieba_user_dictionary_changes_segmentation(tmp_path):
    text = "我喜欢吃螺蛳粉炒饭"
    plain = JiebaTokenizer(cache_dir=tmp_path)(text)
    user = tmp_path / "user.txt"
    user.write_text("螺蛳粉炒饭 100 n\n", encoding="utf-8")
    custom = JiebaTokenizer(user_dict=user, cache_dir=tmp_path)(text)
    assert "螺蛳粉炒饭" in custom and "螺蛳粉炒饭" not in plain
    # the user dictionary stays with its own tokenizer
    assert JiebaTokenizer(cache_dir=tmp_path)(text) == plain


def test_get_tokenizer_uses_the_env_cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("JIEBA_CACHE_DIR", str(tmp_path / "jc"))
    get_tokenizer("jieba")("测试一下")
    assert os.listdir(tmp_path / "jc")


def test_bad_tokenizer_options(tmp_path):
    with pytest.raises(ConfigError, match="unknown tokenizer 'bpe'"):
        get_tokenizer("bpe")
    with pytest.raises(ConfigError, match="--user-dict works with the jieba tokenizer only"):
        get_tokenizer("char", user_dict="x.txt")
    with pytest.raises(DataError, match="no such jieba user dictionary"):
        JiebaTokenizer(user_dict=tmp_path / "missing.txt", cache_dir=tmp_path)
