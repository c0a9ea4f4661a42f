"""``run.py serve``: a real server process on a tiny trained run, spoken to over real HTTP, and its page in a real browser.

The browser test drives Debian's chromium (``apt-get install chromium``) through playwright, and skips, saying
why, where either is absent.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.helpers import (
    ROOT,
    assert_user_error,
    run_cli,
    run_subprocess,
    train_on_sample,
    write_csv,
)

SENTENCE = "这家餐厅的菜很好吃，服务也很周到，下次还会再来！"
# no proxy, whatever the environment says: the server is on this machine
HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def request(url: str, body: object = None, *, raw: bytes | None = None, method: str | None = None,
            timeout: float = 60) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of one HTTP request; ``body`` is sent as UTF-8 JSON."""
    data = raw if raw is not None else (json.dumps(body, ensure_ascii=False).encode("utf-8") if body is not None else None)
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json; charset=utf-8"} if data is not None else {})
    try:
        with HTTP.open(req, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def get_json(url: str, body: object = None, **kw) -> tuple[int, dict]:
    status, headers, content = request(url, body, **kw)
    assert headers.get("content-type", headers.get("Content-Type", "")).startswith("application/json"), headers
    return status, json.loads(content.decode("utf-8"))


@pytest.fixture(scope="module")
def texts(sample) -> list[str]:
    """100 real reviews (single-line, so they pass through the command line as they are)."""
    with open(sample["test"], encoding="utf-8", newline="") as handle:
        rows = [row["text"] for row in csv.DictReader(handle)]
    chosen = [t for t in rows if t.strip() and "\n" not in t and "\r" not in t and not t.startswith("-") and len(t) <= 300]
    assert len(chosen) >= 100
    return chosen[:100] + [SENTENCE]


@pytest.fixture(scope="module")
def expected(lstm_run, texts) -> dict[str, dict]:
    """What ``run.py predict --output-format jsonl`` says of each text."""
    result = run_cli("predict", "--run", str(lstm_run), "--output-format", "jsonl", "--", *texts)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["text"] for row in rows] == texts
    return {row["text"]: row for row in rows}


@pytest.fixture(scope="module")
def server(lstm_run, tmp_path_factory):
    """A real ``python run.py serve`` process on a free port; its base URL. Killed when the module's tests end."""
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "server.log"
    with open(log, "wb") as err:
        process = subprocess.Popen([sys.executable, str(ROOT / "run.py"), "serve", "--run", str(lstm_run), "--port", str(port),
                                    "--max-chars", "300", "--max-texts", "120", "--no-access-log"],
                                   cwd=ROOT, stdout=err, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                pytest.fail(f"the server exited with {process.returncode}:\n{log.read_text(errors='replace')}")
            try:
                if request(base + "/health", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the server did not answer /health in 120 s:\n{log.read_text(errors='replace')}")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def check_rows(rows: list[dict], texts: list[str], expected: dict[str, dict]) -> None:
    assert [row["text"] for row in rows] == texts  # Chinese text round-trips
    for row in rows:
        want = expected[row["text"]]
        assert row["label"] == want["label"], row["text"]
        assert [item["label"] for item in row["labels"]] == [want["label"]]
        assert row["score"] == pytest.approx(want["probability"], abs=1e-4)
        assert set(row["probabilities"]) == {"negative", "positive"}
        assert sum(row["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
        assert row["probabilities"][row["label"]] == row["score"]


@pytest.mark.e2e
def test_a_list_of_texts_gets_the_labels_predict_gives(server, texts, expected):
    status, body = get_json(server + "/predict", {"texts": texts})
    assert status == 200, body
    assert body["model"] == "lstm" and body["score"] == "probability" and body["multi_label"] is False
    check_rows(body["predictions"], texts, expected)


@pytest.mark.e2e
def test_concurrent_single_text_requests_are_answered_each_with_its_own(server, texts, expected):
    def one(text: str) -> dict:
        status, body = get_json(server + "/predict", {"text": text})
        assert status == 200, body
        assert len(body["predictions"]) == 1
        return body["predictions"][0]

    calls_before = get_json(server + "/info")[1]["served"]["predictor_calls"]
    with ThreadPoolExecutor(8) as pool:
        rows = list(pool.map(one, texts))
    check_rows(rows, texts, expected)
    calls = get_json(server + "/info")[1]["served"]["predictor_calls"] - calls_before
    assert 1 <= calls <= len(texts)


@pytest.mark.e2e
def test_the_body_is_utf8_json(server, expected):
    status, headers, content = request(server + "/predict", {"text": SENTENCE})
    assert status == 200
    assert SENTENCE.encode("utf-8") in content  # not \\u escapes
    assert json.loads(content.decode("utf-8"))["predictions"][0]["label"] == expected[SENTENCE]["label"]


@pytest.mark.e2e
def test_the_api_is_described_with_its_request_and_answer_shapes(server, expected, texts):
    status, api = get_json(server + "/openapi.json")
    assert status == 200
    predict = api["paths"]["/predict"]["post"]
    request_schema = predict["requestBody"]["content"]["application/json"]["schema"]
    assert set(request_schema["properties"]) == {"text", "texts"} and request_schema["examples"]
    components = api["components"]["schemas"]
    assert predict["responses"]["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/PredictResponse"}
    assert set(components["PredictResponse"]["properties"]) == {"model", "score", "multi_label", "predictions"}
    assert set(components["Prediction"]["properties"]) == {"text", "label", "score", "labels", "probabilities"}
    for refused in ("400", "413", "422"):
        assert predict["responses"][refused]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorResponse"}
    # what the schema says is what /predict answers
    status, answer = get_json(server + "/predict", {"text": texts[0]})
    assert status == 200 and set(answer) == set(components["PredictResponse"]["properties"])
    assert set(answer["predictions"][0]) == set(components["Prediction"]["properties"])
    for page in ("/docs", "/redoc"):
        status, headers, body = request(server + page)
        assert status == 200 and b"/openapi.json" in body, page


def test_health_and_info(server, lstm_run):
    assert get_json(server + "/health") == (200, {"status": "ok", "model_loaded": True, "worker_running": True})
    status, info = get_json(server + "/info")
    assert status == 200
    complete = json.loads((lstm_run / "complete.json").read_text(encoding="utf-8"))
    test_metrics = json.loads((lstm_run / "test_metrics.json").read_text(encoding="utf-8"))
    assert info["run"] == lstm_run.name and info["model"] == "lstm"
    assert info["labels"] == ["negative", "positive"] and info["multi_label"] is False
    assert info["probabilistic"] is True and info["score"] == "probability" and info["complete"] is True
    assert info["trained_at"] == complete["finished"]
    assert info["test_metrics"]["accuracy"] == pytest.approx(test_metrics["accuracy"])
    assert info["test_metrics"]["macro_f1"] == pytest.approx(test_metrics["macro_f1"])
    assert info["limits"] == {"max_chars": 300, "max_texts": 120}


@pytest.mark.parametrize("body, fragment", [
    ({"text": "好" * 301}, "--max-chars"),
    ({"texts": ["好"] * 121}, "--max-texts"),
    ({"texts": ["好", "好" * 301]}, "texts[1] has 301 characters; the limit is 300"),
])
@pytest.mark.e2e
def test_over_the_limits_is_413_with_a_json_error(server, body, fragment):
    status, answer = get_json(server + "/predict", body)
    assert status == 413
    assert list(answer) == ["error"] and fragment in answer["error"]


@pytest.mark.e2e
def test_a_body_larger_than_any_valid_one_is_refused_unread(server):
    import http.client

    host, port = server.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.putrequest("POST", "/predict")
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", "10000000")
        connection.endheaders(b'{"text": "' + b"x" * 1000)  # the server answers from the header, without the rest
        response = connection.getresponse()
        answer = json.loads(response.read().decode("utf-8"))
    finally:
        connection.close()
    assert response.status == 413 and "the request body has 10000000 bytes; the limit is" in answer["error"]


@pytest.mark.parametrize("raw, status, fragment", [
    (b'{"text": ""}', 422, "'text' is empty"),
    (b'{"text": "   "}', 422, "'text' is empty"),
    (b'{"texts": []}', 422, "'texts' is empty"),
    (b'{"texts": ["ok", 3]}', 422, "texts[1] must be a string"),
    (b'{"texts": "one"}', 422, "'texts' must be a list"),
    (b'{"text": "a", "texts": ["b"]}', 422, "not both"),
    (b"{}", 422, "not neither"),
    (b'{"txt": "a"}', 422, "unknown field 'txt'"),
    (b'["a"]', 422, "must be a JSON object"),
    (b"not json", 400, "not valid JSON"),
    (b'{"text": "\xff\xfe\xfa"}', 400, "not valid JSON"),
    (b"", 400, "not valid JSON"),
    (b"[" * 200_000, 400, "nested too deeply"),
    (b'{"texts": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", 400, "nested too deeply"),
    (b'{"text": "\\ud800"}', 422, "'text' holds a lone surrogate (\\ud800 at character 0)"),
    (b'{"texts": ["ok", "a\\udfffb"]}', 422, "texts[1] holds a lone surrogate (\\udfff at character 1)"),
    (b'{"text": 1' + b"0" * 5000 + b"}", 400, "not JSON this server reads"),
], ids=lambda value: value[:40] if isinstance(value, bytes) else value)
@pytest.mark.e2e
def test_bad_bodies_get_a_json_error(server, raw, status, fragment):
    got, answer = get_json(server + "/predict", raw=raw)
    assert got == status, answer
    assert list(answer) == ["error"] and fragment in answer["error"]


@pytest.mark.parametrize("length", [b"abc", b"-1", b"1, 2", b"\xd9\xa3"])
@pytest.mark.e2e
def test_a_malformed_content_length_gets_the_api_s_json_error(server, length):
    host, port = server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " + length
                     + b'\r\n\r\n{"text": "ok"}')
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ") and b"content-type: application/json" in head.lower(), reply
    answer = json.loads(body)
    assert list(answer) == ["error"] and "a malformed HTTP request" in answer["error"] and "Content-Length" in answer["error"]


@pytest.mark.e2e
def test_unknown_paths_and_methods_get_json_errors(server):
    assert get_json(server + "/nothing") == (404, {"error": "Not Found"})
    assert get_json(server + "/predict") == (405, {"error": "Method Not Allowed"})


@pytest.mark.e2e
def test_the_page_is_self_contained_html(server):
    status, headers, content = request(server + "/")
    assert status == 200
    assert headers["content-type"].startswith("text/html")
    page = content.decode("utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<textarea" in page and 'id="classify"' in page and "fetch(" in page
    assert "http://" not in page and "https://" not in page and "<link" not in page  # nothing fetched from elsewhere


@pytest.mark.e2e
def test_a_bad_run_directory_is_a_one_line_error_before_serving(tmp_path):
    assert_user_error(run_subprocess("serve", "--run", str(tmp_path / "missing"), "--port", "0", timeout=60), "missing")


@pytest.mark.e2e
def test_a_port_in_use_is_a_one_line_error(lstm_run):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert_user_error(run_subprocess("serve", "--run", str(lstm_run), "--port", str(port), timeout=120),
                          f"cannot listen on 127.0.0.1:{port}", "--port")


# ---------------------------------------------------------------- other kinds of run, in this process

@pytest.mark.e2e
def test_a_linear_svm_run_answers_margins_without_probabilities(sample, texts):
    from train.inference.predictors import load_predictor
    from train.inference.serve.rows import prediction_rows
    from train.inference.serve.run_info import run_info

    run = train_on_sample(sample, "tfidf", "serve-svm", "--tfidf-classifier", "svm")[1]
    predictor = load_predictor(run)
    rows = prediction_rows(predictor, texts[:20])
    for row, (label, margin) in zip(rows, predictor.predict(texts[:20])):
        assert "probabilities" not in row
        assert row["label"] == label and row["labels"] == [{"label": label, "score": pytest.approx(margin, abs=1e-6)}]
    info = run_info(predictor, run)
    assert info["model"] == "tfidf" and info["probabilistic"] is False and info["score"] == "margin"


@pytest.mark.e2e
def test_a_multi_label_run_answers_label_sets_and_every_label_s_probability(tmp_path):
    import random

    from train.inference.predictors import load_predictor
    from train.inference.serve.rows import prediction_rows
    from train.inference.serve.run_info import run_info

    rng = random.Random(0)
    words = {"体育": "比赛 球队 进球", "财经": "股票 市场 投资", "科技": "手机 芯片 软件"}
    rows = []
    for _ in range(300):
        labels = rng.sample(sorted(words), rng.choice([1, 1, 2]))
        rows.append(("".join(rng.choice(words[label].split()) for label in labels for _ in range(3)), "|".join(labels)))
    files = [str(write_csv(tmp_path / f"{name}.csv", part)) for name, part in (("train", rows[:200]), ("dev", rows[200:250]),
                                                                              ("test", rows[250:]))]
    result = run_cli("--model", "lstm", "--multi-label", "--train", files[0], "--dev", files[1], "--test", files[2],
                     "--runs-dir", str(tmp_path / "runs"), "--run-name", "ml", "--epochs", "3", "--min-steps", "0", "--embed-dim", "16",
                     "--hidden-size", "16", "--embedding", "random", "--vectors-corpus", "none", "--no-progress", "--seed", "1",
                     "--threads", "1")
    assert result.returncode == 0, result.stderr
    predictor = load_predictor(tmp_path / "runs" / "ml")
    texts = ["比赛股票进球", "手机芯片", "投资市场"]
    answers = prediction_rows(predictor, texts)
    for row, chosen in zip(answers, predictor.predict_labels(texts)):
        assert [item["label"] for item in row["labels"]] == [label for label, _ in chosen]
        assert row["label"] == chosen[0][0]
        assert sorted(row["probabilities"]) == sorted(words)
        for item in row["labels"]:
            assert row["probabilities"][item["label"]] == item["score"]
    info = run_info(predictor, tmp_path / "runs" / "ml")
    assert info["multi_label"] is True and sorted(info["labels"]) == sorted(words)


# ---------------------------------------------------------------- the batcher, in this process

def test_the_batcher_gathers_waiting_requests_into_one_call():
    from train.inference.serve.batcher import Batcher

    calls: list[list[str]] = []

    def predict(texts: list[str]) -> list[str]:
        calls.append(list(texts))
        time.sleep(0.05)
        return [text.upper() for text in texts]

    async def main() -> list[list[str]]:
        batcher = Batcher(predict, max_batch=64, batch_wait=0.01)
        await batcher.start()
        try:
            jobs = [[f"a{i}"] for i in range(20)] + [["b1", "b2", "b3"]]
            return await asyncio.gather(*(batcher.submit(job) for job in jobs))
        finally:
            await batcher.stop()

    results = asyncio.run(main())
    assert results == [[f"A{i}"] for i in range(20)] + [["B1", "B2", "B3"]]
    assert len(calls) <= 2 and sum(map(len, calls)) == 23


def test_the_batcher_keeps_to_max_batch_and_passes_failures_to_each_request():
    from train.inference.serve.batcher import Batcher

    sizes: list[int] = []

    def predict(texts: list[str]) -> list[str]:
        sizes.append(len(texts))
        if "boom" in texts:
            raise ValueError("boom")
        return texts

    async def main():
        batcher = Batcher(predict, max_batch=4, batch_wait=0.01)
        await batcher.start()
        try:
            ok = await asyncio.gather(*(batcher.submit([str(i)]) for i in range(10)))
            failed = await asyncio.gather(batcher.submit(["boom"]), batcher.submit(["x"]), return_exceptions=True)
            after = await batcher.submit(["still running"])
            return ok, failed, after
        finally:
            await batcher.stop()

    ok, failed, after = asyncio.run(main())
    assert ok == [[str(i)] for i in range(10)]
    assert max(sizes[:-2]) <= 4
    assert all(isinstance(f, ValueError) for f in failed)
    assert after == ["still running"]


# ---------------------------------------------------------------- the page in a browser

def chromium() -> str:
    """The path of a system chromium, or skip."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no chromium on this machine (apt-get install -y chromium) to drive the page with")


@pytest.mark.e2e
@pytest.mark.browser
def test_the_page_shows_the_prediction_as_labelled_bars(server, expected):
    path = chromium()
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -r requirements.txt)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, headless=True)
        try:
            page = browser.new_page(viewport={"width": 900, "height": 560})
            page.goto(server + "/")
            page.wait_for_function("document.getElementById('model').textContent.includes('lstm')")
            page.fill("#text", SENTENCE)
            page.click("#classify")
            page.wait_for_selector("#result .bar-row")
            assert page.inner_text("#top-label") == expected[SENTENCE]["label"]
            bars = page.locator("#result .bar-row")
            assert bars.count() == 2
            assert sorted(bars.nth(i).get_attribute("data-label") for i in range(2)) == ["negative", "positive"]
            assert bars.first.get_attribute("data-label") == expected[SENTENCE]["label"]  # highest first
            assert "%" in bars.first.inner_text()
            # an error from the server is shown, not swallowed
            page.fill("#text", "好" * 301)
            page.click("#classify")
            page.wait_for_selector("#error", state="visible")
            assert "--max-chars" in page.inner_text("#error")
        finally:
            browser.close()
