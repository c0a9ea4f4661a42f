import csv
import json

import pytest

from data_processor import io as dio
from data_processor.base.errors import ConfigError, DataError


def write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


def test_csv_with_header_and_bom(tmp_path):
    f = write(tmp_path / "a.csv", "\ufefflabel,review\n1,很好吃\n0,\"太慢了, 不会再点\"\n", "utf-8")
    table = dio.read_table(f)
    assert [(e.text, e.label, e.line) for e in table.examples] == [("很好吃", "1", 2), ("太慢了, 不会再点", "0", 3)]


def test_columns_by_name_and_index(tmp_path):
    f = write(tmp_path / "a.csv", "id,body,y\n7,hello,pos\n8,bye,neg\n")
    by_name = dio.read_table(f, text_col="body", label_col="y")
    by_index = dio.read_table(f, text_col="1", label_col=2)
    assert by_name.texts == by_index.texts == ["hello", "bye"]
    assert by_name.labels == ["pos", "neg"]


def test_missing_column_names_the_header(tmp_path):
    f = write(tmp_path / "a.csv", "id,body\n7,hello\n")
    with pytest.raises(DataError, match=r"a\.csv:1: no label column 'label' in the header \['id', 'body'\]; choose one with --label-col"):
        dio.read_table(f, text_col="body")


def test_multiline_csv_field_keeps_line_numbers(tmp_path):
    f = write(tmp_path / "a.csv", 'text,label\n"line one\nline two",1\nthird,\n')
    with pytest.raises(DataError, match=r"a\.csv:4: the row has no label"):
        dio.read_table(f)


def test_tsv_quotes_are_literal(tmp_path):
    f = write(tmp_path / "a.tsv", '他说"你好\t体育\n"引号"开头\t财经\n')
    table = dio.read_table(f)
    assert table.texts == ['他说"你好', '"引号"开头']
    assert table.labels == ["体育", "财经"]


def test_tsv_with_header_and_label_first(tmp_path):
    f = write(tmp_path / "a.txt", "label\ttext\n体育\t比赛\n")
    assert dio.read_table(f).texts == ["比赛"]
    g = write(tmp_path / "b.txt", "体育\t比赛\n")  # THUCNews: label first, no header
    table = dio.read_table(g, text_col=1, label_col=0)
    assert (table.texts, table.labels) == (["比赛"], ["体育"])


def test_jsonl_rows_and_errors(tmp_path):
    f = write(tmp_path / "a.jsonl", json.dumps({"text": "好", "label": 1}) + "\n\n" + json.dumps({"review": "差", "label": 0}) + "\n")
    table = dio.read_table(f)
    assert (table.texts, table.labels, [e.line for e in table.examples]) == (["好", "差"], ["1", "0"], [1, 3])
    bad = write(tmp_path / "b.jsonl", '{"text": "好", "label": 1}\n{"text": oops}\n')
    with pytest.raises(DataError, match=r"b\.jsonl:2: invalid JSON"):
        dio.read_table(bad)


def test_field_longer_than_default_csv_limit(tmp_path):
    long_text = "长" * 1_000_000
    assert len(long_text) > 131072
    f = tmp_path / "long.csv"
    with open(f, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([["text", "label"], [long_text, "1"]])
    assert dio.read_table(f).texts == [long_text]
    t = write(tmp_path / "long.tsv", long_text + "\t1\n")
    assert dio.read_table(t).texts == [long_text]


def test_field_size_limit_survives_32bit_overflow(monkeypatch):
    real = csv.field_size_limit
    c_long_max = 2**31 - 1

    def limited(value=None):
        if value is not None and value > c_long_max:
            raise OverflowError("Python int too large to convert to C long")
        return real(value) if value is not None else real()

    monkeypatch.setattr(csv, "field_size_limit", limited)
    limit = dio.raise_csv_field_size_limit()
    assert 131072 < limit <= c_long_max
    assert real() == limit


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(DataError, match=r"nope\.csv: no such file"):
        dio.read_table(tmp_path / "nope.csv")
    empty = write(tmp_path / "empty.csv", "")
    with pytest.raises(DataError, match=r"empty\.csv: the file is empty"):
        dio.read_table(empty)
    header_only = write(tmp_path / "header.csv", "text,label\n")
    with pytest.raises(DataError, match=r"header\.csv: no usable rows"):
        dio.read_table(header_only)


def test_bad_rows_name_their_line_or_are_skipped(tmp_path):
    f = write(tmp_path / "a.csv", "text,label\n好,1\n,0\n差,\n一般,0\n")
    with pytest.raises(DataError, match=r"a\.csv:3: the row has no text; fix the row or pass --skip-bad-rows"):
        dio.read_table(f)
    table = dio.read_table(f, skip_bad_rows=True)
    assert table.texts == ["好", "一般"] and table.skipped == 2


def test_unlabelled_read_for_prediction(tmp_path):
    f = write(tmp_path / "a.csv", "text\n好\n差\n")
    assert dio.read_table(f, require_label=False).labels == [None, None]


def test_gbk_file_gets_a_clear_error_or_reads_with_encoding(tmp_path):
    f = write(tmp_path / "gbk.csv", "text,label\n好吃,1\n难吃极了,0\n", "gbk")
    with pytest.raises(DataError, match=r"gbk\.csv:2: bytes that are not valid utf-8 .*pass --encoding gb18030"):
        dio.read_table(f)
    assert dio.read_table(f, encoding="gb18030").texts == ["好吃", "难吃极了"]


def test_unknown_encoding_and_format(tmp_path):
    f = write(tmp_path / "a.csv", "text,label\nx,1\n")
    with pytest.raises(ConfigError, match="unknown encoding 'klingon'"):
        dio.read_table(f, encoding="klingon")
    g = write(tmp_path / "a.dat", "x")
    with pytest.raises(ConfigError, match=r"cannot tell the format .* pass --format"):
        dio.read_table(g)


def test_extra_tsv_field_is_refused_not_read_as_label(tmp_path):
    f = write(tmp_path / "a.tsv", "好吃\tpos\n前半句\t后半句\tneg\n难吃\tneg\n")
    with pytest.raises(DataError, match=r"a\.tsv:2: the row has 3 fields, expected 2 \(a tab inside the text\?\); remove it or pass --skip-bad-rows$"):
        dio.read_table(f)
    table = dio.read_table(f, skip_bad_rows=True)
    assert (table.labels, table.skipped) == (["pos", "neg"], 1)
    h = write(tmp_path / "h.tsv", "text\tlabel\n好吃\tpos\n前半句\t后半句\tneg\n")
    with pytest.raises(DataError, match=r"h\.tsv:3: the row has 3 fields, expected 2"):
        dio.read_table(h)


def test_extra_csv_field_is_refused_and_trailing_empty_fields_are_not(tmp_path):
    f = write(tmp_path / "a.csv", "text,label\n好吃,pos\n好,但是贵,pos\n")
    with pytest.raises(DataError, match=r"a\.csv:3: the row has 3 fields, expected 2 \(a comma inside the text\?\); "
                                        r"put the text in double quotes or pass --skip-bad-rows$"):
        dio.read_table(f)
    g = write(tmp_path / "b.csv", 'text,label\n好吃,pos,\n"好,但是贵",pos\n')
    assert dio.read_table(g).labels == ["pos", "pos"]


def test_jsonl_error_at_end_of_line_names_its_column(tmp_path):
    f = write(tmp_path / "a.jsonl", '{"text": "好", "label": 1}\n{"text": "差", "label": 0\n')
    with pytest.raises(DataError, match=r"a\.jsonl:2: invalid JSON \(Expecting ',' delimiter at column 25\)"):
        dio.read_table(f)


def test_utf16_file_without_bom_is_a_data_error(tmp_path):
    # found by tests/test_fuzz.py: utf-16's decoder raised a bare UnicodeError ("stream does not start with BOM")
    f = tmp_path / "a.csv"
    f.write_bytes("text,label\n好,1\n".encode("utf-16-le"))
    with pytest.raises(DataError, match=r"a\.csv: not valid utf-16 text \(UTF-16 stream does not start with BOM\); pass --encoding"):
        dio.read_table(f, encoding="utf-16")


def test_jsonl_too_deep_or_too_long_a_number_is_a_bad_row(tmp_path):
    # found by tests/test_fuzz.py: json.loads raised RecursionError and ValueError (over 4300 digits), not JSONDecodeError
    deep = '{"text": ' + "[" * 5000 + "]" * 5000 + ', "label": "x"}'
    huge = '{"text": "好", "label": ' + "9" * 5000 + "}"
    f = write(tmp_path / "a.jsonl", f'{{"text": "好", "label": 1}}\n{deep}\n{huge}\n')
    with pytest.raises(DataError, match=r"a\.jsonl:2: JSON nested too deeply to read; fix the line"):
        dio.read_table(f)
    g = write(tmp_path / "b.jsonl", f'{{"text": "好", "label": 1}}\n{huge}\n')
    with pytest.raises(DataError, match=r"b\.jsonl:2: a number with too many digits to read; fix the line"):
        dio.read_table(g)
    table = dio.read_table(f, skip_bad_rows=True)
    assert (table.labels, table.skipped) == (["1"], 2)


STREAM_CASES = [
    ("a.csv", "\ufefflabel,review\n1,很好吃\n\n0,\"太慢了,\n不会再点\"\n1,  一般  \n", {}),
    ("b.csv", "text,label\n好,1\n,0\n差,\n一般,0\n", {"skip_bad_rows": True}),
    ("c.csv", "text,label\n好,1\n,0\n", {}),  # an error at line 3
    ("d.tsv", "好吃\tpos\n前半句\t后半句\tneg\n难吃\tneg\n", {}),
    ("e.tsv", "好吃\tpos\n前半句\t后半句\tneg\n难吃\tneg\n", {"skip_bad_rows": True}),
    ("f.jsonl", '{"text": "好", "label": 1}\n\n{"review": "差", "label": 0}\n{"text": oops}\n', {"skip_bad_rows": True}),
    ("g.jsonl", '{"text": "好", "label": 1}\n{"text": oops}\n', {}),
    ("h.csv", "text,label\n,1\n", {"skip_bad_rows": True}),  # no usable rows
    ("i.csv", "text\n好\n差\n", {"require_label": False}),
]


@pytest.mark.parametrize("name, content, options", STREAM_CASES, ids=[c[0] for c in STREAM_CASES])
def test_a_row_stream_gives_the_rows_and_errors_of_read_table_on_every_pass(tmp_path, name, content, options):
    f = write(tmp_path / name, content)
    try:
        table = dio.read_table(f, **options)
    except DataError as exc:
        expected = str(exc)
        rows = dio.RowStream(f, **options)
        for _ in range(2):
            with pytest.raises(DataError) as raised:
                list(rows)
            assert str(raised.value) == expected
        return
    rows = dio.RowStream(f, **options)
    for _ in range(2):  # each pass reads the file again
        assert list(rows) == table.examples and rows.skipped == table.skipped
    assert list(dio.Texts(rows)) == table.texts


def test_a_row_stream_reads_lazily(tmp_path):
    f = write(tmp_path / "a.csv", "text,label\n好,1\n差,0\n" + "坏行\n")  # the last row has no label
    rows = iter(dio.RowStream(f))
    assert next(rows) == dio.Example("好", "1", 2) and next(rows).text == "差"  # the bad row is not read yet
    with pytest.raises(DataError, match=r"a\.csv:4: the row has 1 fields, expected at least 2"):
        next(rows)


def test_a_row_stream_checks_the_file_at_once(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        dio.RowStream(tmp_path / "nope.csv")
    with pytest.raises(ConfigError, match="cannot tell the format"):
        dio.RowStream(write(tmp_path / "a.dat", "x"))
