import pytest

from data_processor.base.errors import ConfigError
from data_processor.stopwords import (
    STOPWORDS_DIR,
    available_lists,
    load_stopwords,
    remove_stopwords,
)


def test_builtin_lists_are_present_and_utf8():
    assert {"hit", "baidu", "scu", "cn", "english"} <= set(available_lists())
    for name in ("hit", "baidu", "scu", "cn", "english"):
        words = load_stopwords(name)
        assert len(words) > 100
        assert all(w == w.strip() and w for w in words)
    assert "的" in load_stopwords("hit") and "the" in load_stopwords("english")
    assert (STOPWORDS_DIR / "README.md").is_file()


def test_union_path_and_none(tmp_path):
    union = load_stopwords("hit,baidu")
    assert union == load_stopwords("hit") | load_stopwords("baidu")
    own = tmp_path / "mine.txt"
    own.write_text("\ufeff好\n  吃 \n\n", encoding="utf-8")
    assert load_stopwords(str(own)) == {"好", "吃"}
    assert load_stopwords("none") == frozenset() == load_stopwords("")
    assert load_stopwords(f"english,{own}") >= {"好", "the"}


def test_unknown_list_is_a_clear_error():
    with pytest.raises(ConfigError, match=r"unknown stopword list 'klingon'.*hit.*use none"):
        load_stopwords("hit,klingon")


def test_remove_keeps_order():
    assert remove_stopwords(["我", "的", "猫", "了"], frozenset({"的", "了"})) == ["我", "猫"]
