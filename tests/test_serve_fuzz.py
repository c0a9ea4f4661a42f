"""Fuzzing the HTTP API of ``run.py serve`` through FastAPI's test client: any method, path, headers and body.

The contract: the server never answers 500. Every refusal is a 4xx whose body is ``{"error": "..."}`` (JSON, one
string), and every ``/predict`` it accepts is answered with one prediction per text it was sent. The requests mix
arbitrary bytes with JSON built to sit near the edges: lone surrogates, deep nesting, huge numbers, wrong types,
texts at and over the limits. The test is derandomised (a fixed sequence of examples), so it cannot flake in CI.
The real server, its HTTP layer and concurrency are tested in tests/test_serve.py.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import run_cli, write_csv

pytestmark = pytest.mark.fuzz

MAX_CHARS, MAX_TEXTS = 2000, 8  # a body of up to ~100 kB is read: deep enough nesting to reach Python's recursion limit
FUZZ = settings(max_examples=1200, derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    """A test client of the app serving a tiny trained LSTM run, with small limits."""
    from fastapi.testclient import TestClient

    from train.inference.predictors import load_predictor
    from train.inference.serve.app import create_app
    from train.inference.serve.requests import Limits

    tmp = tmp_path_factory.mktemp("serve-fuzz")
    train = write_csv(tmp / "train.csv", [("好吃 又 便宜", "pos"), ("难吃 还 贵", "neg")] * 10)
    result = run_cli("--train", str(train), "--runs-dir", str(tmp / "runs"), "--run-name", "r", "--tokenizer", "whitespace",
                     "--epochs", "1", "--embed-dim", "4", "--hidden-size", "4", "--embedding", "random", "--no-progress",
                     "--threads", "1", "--min-steps", "0")
    assert result.returncode == 0, result.stderr
    app = create_app(load_predictor(str(tmp / "runs" / "r"), "cpu"), tmp / "runs" / "r", limits=Limits(MAX_CHARS, MAX_TEXTS))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


surrogates = st.integers(0xD800, 0xDFFF).map(chr)  # half a UTF-16 pair: what a JSON escape such as \ud800 decodes to
texts = st.text(max_size=30) | st.lists(st.characters() | surrogates, max_size=5).map("".join) \
    | st.sampled_from(["好吃", " ", "\u2028", "a\x00b", "😀" * MAX_CHARS, "x" * (MAX_CHARS + 1)])
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | texts,
                           lambda inner: st.lists(inner, max_size=6) | st.dictionaries(texts, inner, max_size=4), max_leaves=12)
shaped = st.fixed_dictionaries({"text": json_values}) | st.fixed_dictionaries({"texts": st.lists(texts, max_size=MAX_TEXTS + 2)}) \
    | st.fixed_dictionaries({"texts": json_values}) | st.fixed_dictionaries({"text": texts, "texts": json_values}) \
    | st.dictionaries(texts, json_values, max_size=3)


def encoded(value) -> bytes:
    """``value`` as JSON bytes, lone surrogates written as escapes (as a JavaScript client would send them)."""
    return json.dumps(value, ensure_ascii=True).encode("ascii")


nested = st.tuples(st.sampled_from([b"[", b'{"a":', b'{"texts":[']), st.integers(1, 12_000)).map(lambda p: p[0] * p[1])
bodies = st.one_of(shaped.map(encoded), json_values.map(encoded), st.binary(max_size=200), nested, st.just(b""),
                   shaped.map(lambda v: json.dumps(v, ensure_ascii=False).encode("utf-8", "surrogatepass")))
header_text = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30)  # what the client sends
headers = st.dictionaries(st.sampled_from(["content-type", "accept", "x-anything", "content-encoding", "origin", "cookie",
                                           "accept-encoding", "user-agent"]), header_text, max_size=4)
paths = st.sampled_from(["/predict", "/predict", "/predict", "/health", "/info", "/", "/openapi.json", "/docs", "/redoc",
                         "/nothing", "/predict/", "//predict", "/predict?text=a"]) | st.text(
    alphabet="abcdefghijklmnopqrstuvwxyz/%?=&.-_0123456789", max_size=20).map(lambda p: "/" + p)
methods = st.sampled_from(["POST", "POST", "POST", "GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"])


@FUZZ
@given(method=methods, path=paths, body=bodies, extra=headers)
def test_the_api_never_answers_500_and_every_refusal_is_a_json_error(client, method, path, body, extra):
    response = client.request(method, path, content=body if method not in ("GET", "HEAD") else None, headers=extra)
    assert response.status_code < 500, (response.status_code, response.text[:500])
    if method == "HEAD":
        return
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/json"), response.headers
        answer = response.json()
        assert list(answer) == ["error"] and isinstance(answer["error"], str) and answer["error"], answer
    elif path == "/predict" and method == "POST":
        sent = json.loads(body)
        expected = [sent["text"]] if "text" in sent else sent["texts"]
        assert [row["text"] for row in response.json()["predictions"]] == expected
