"""``run.py serve``: an HTTP JSON API (FastAPI on uvicorn) and a small web page in front of a trained classifier.

Endpoints (docs/serve.md shows them with examples):

- ``POST /predict`` ``{"text": "..."}`` or ``{"texts": [...]}``: each text's predicted labels with their
  probabilities (margins for a TF-IDF + LinearSVC run), and for probabilistic runs the whole distribution;
- ``GET /health``: ``{"status": "ok", "model_loaded": true, "worker_running": true}``;
- ``GET /info``: the run's model, labels, training date and test metrics, and the server's limits;
- ``GET /``: a self-contained page (``serve_page.html`` beside this module: no external scripts, styles or fonts).

Batching. One predictor serves every request, and one worker thread runs it, so the model is never called from two
threads at once and the event loop stays free to take requests while it computes. Requests wait in an asyncio queue
as jobs (a request's texts and a future). The batcher takes the first waiting job and every job already waiting
behind it, up to ``max_batch`` texts in all, makes one predictor call for all their texts and hands each job its slice of the results. While that call runs,
new requests queue up and go together in the next call, so under load the batches grow by themselves. When the
previous call served several requests (concurrent clients), the batcher also waits ``batch_wait`` seconds (2 ms by
default) before a call for the stragglers: clients that just got their answers and are sending their next texts. A
lone client's requests (the previous call served one) never wait: sequential single-text latency pays nothing for
the batching.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import math
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException

from train.classify.multilabel import choose, label_sets

PAGE = Path(__file__).with_name("serve_page.html")
DECIMALS = 6  # scores are rounded like predict --output-format jsonl's
JSON_SLACK = 4096  # bytes of a request body beyond its texts: keys, brackets, whitespace


class RequestError(Exception):
    """A request the server refuses: its HTTP status and a message naming what is wrong (and the limit, for 413)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Limits:
    """What one request may hold."""

    max_chars: int = 2000
    max_texts: int = 500

    @property
    def max_body_bytes(self) -> int:
        """The largest body a valid request can have: every character written as a 6-byte JSON escape."""
        return self.max_texts * (self.max_chars * 6 + 8) + JSON_SLACK


# ---------------------------------------------------------------- the predictor, as rows of JSON

def prediction_rows(predictor: Any, texts: Sequence[str]) -> list[dict]:
    """One JSON-ready dict per text: ``label`` (the top one), ``score``, ``labels`` (the predicted set, highest first,
    ``[{"label", "score"}]``) and, for a probabilistic run, ``probabilities`` (``{label: p}``, in label order).

    A probabilistic run makes one model call (``predict_proba``): its labels are the argmax, or for a multi-label
    run the sets its thresholds choose, as ``predict_labels`` gives them; a LinearSVC run asks ``predict_labels``.
    """
    texts = list(texts)
    names = list(predictor.label_names)
    probs = predictor.predict_proba(texts) if predictor.probabilistic else None
    if probs is None:
        sets = predictor.predict_labels(texts)
    elif predictor.multi_label:
        sets = label_sets(choose(probs, predictor.thresholds), probs, names)
    else:
        sets = [[(names[int(row.argmax())], float(row.max()))] for row in probs]
    rows = []
    for i, (text, chosen) in enumerate(zip(texts, sets)):
        labels = [{"label": label, "score": _round(score)} for label, score in chosen]
        row: dict[str, Any] = {"text": text, "label": labels[0]["label"], "score": labels[0]["score"], "labels": labels}
        if probs is not None:
            row["probabilities"] = {name: _round(p) for name, p in zip(names, probs[i].tolist())}
        rows.append(row)
    return rows


def _round(value: float) -> float | None:
    """A score for JSON: rounded, and None where it is not a finite number (JSON has no NaN)."""
    value = float(value)
    return round(value, DECIMALS) if math.isfinite(value) else None


# ---------------------------------------------------------------- batching

@dataclass
class Job:
    texts: list[str]
    future: asyncio.Future


class Batcher:
    """Gathers the texts of concurrent requests into one call of ``predict`` (texts -> one result per text), made in
    one worker thread; see the module's docstring."""

    def __init__(self, predict: Callable[[list[str]], list], max_batch: int = 64, batch_wait: float = 0.002) -> None:
        self.predict, self.max_batch, self.batch_wait = predict, max_batch, batch_wait
        self.queue: asyncio.Queue[Job] | None = None
        self.task: asyncio.Task | None = None
        self.executor: ThreadPoolExecutor | None = None
        self.calls = 0  # predictor calls made
        self.texts = 0  # texts predicted
        self.last_jobs = 0  # requests the last call served: several means concurrent clients, worth waiting for

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    async def start(self) -> None:
        self.queue = asyncio.Queue()
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="predict")
        self.task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            try:
                await self.task
            except asyncio.CancelledError:
                pass
        while self.queue is not None and not self.queue.empty():
            job = self.queue.get_nowait()
            if not job.future.done():
                job.future.set_exception(RequestError(503, "the server is shutting down"))
        if self.executor is not None:
            self.executor.shutdown(wait=True)

    async def submit(self, texts: list[str]) -> list:
        """The results for ``texts``, in order, computed in a batch with whatever other requests are waiting."""
        if not self.running or self.queue is None:
            raise RequestError(503, "the model worker is not running")
        job = Job(texts, asyncio.get_running_loop().create_future())
        await self.queue.put(job)
        return await job.future

    def _take_waiting(self, jobs: list[Job], size: int) -> int:
        """Move jobs already waiting into ``jobs`` while they hold fewer than ``max_batch`` texts; the new size."""
        assert self.queue is not None
        while size < self.max_batch and not self.queue.empty():
            job = self.queue.get_nowait()
            jobs.append(job)
            size += len(job.texts)
        return size

    async def _run(self) -> None:
        assert self.queue is not None
        loop = asyncio.get_running_loop()
        while True:
            jobs = [await self.queue.get()]
            size = self._take_waiting(jobs, len(jobs[0].texts))
            if size < self.max_batch and self.batch_wait > 0 and self.last_jobs > 1:
                await asyncio.sleep(self.batch_wait)
                self._take_waiting(jobs, size)
            jobs = [job for job in jobs if not job.future.done()]  # a client that went away cancels its future
            if not jobs:
                continue
            texts = [text for job in jobs for text in job.texts]
            try:
                results = await loop.run_in_executor(self.executor, self.predict, texts)
            except Exception as exc:  # a bug, or a model that cannot read these texts: every request in the batch fails
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(exc)
                continue
            self.calls += 1
            self.texts += len(texts)
            self.last_jobs = len(jobs)
            start = 0
            for job in jobs:
                if not job.future.done():
                    job.future.set_result(results[start:start + len(job.texts)])
                start += len(job.texts)


# ---------------------------------------------------------------- requests

async def read_body(request: Request, limit: int) -> bytes:
    """The request body; a 413 `RequestError` as soon as it is longer than ``limit`` bytes (before reading it all)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestError(413, f"the request body has {int(declared)} bytes; the limit is {limit} "
                           "(from --max-texts and --max-chars)")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(413, f"the request body is over {limit} bytes, the limit (from --max-texts and --max-chars)")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_texts(body: bytes, limits: Limits) -> list[str]:
    """The texts of a ``/predict`` body: ``{"text": "..."}`` or ``{"texts": ["...", ...]}``.

    Not JSON (or not UTF-8): 400. Not one of those shapes, or an empty text: 422. More than ``max_texts`` texts or a
    text over ``max_chars`` characters: 413. Each message says what to send instead.
    """
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RequestError(400, f"the body is not valid JSON ({exc}); send {{\"text\": \"...\"}} or "
                           "{\"texts\": [\"...\", ...]}") from None
    if not isinstance(data, dict):
        raise RequestError(422, f"the body must be a JSON object, got {type(data).__name__}; send {{\"text\": \"...\"}} "
                           "or {\"texts\": [\"...\", ...]}")
    unknown = sorted(set(data) - {"text", "texts"})
    if unknown:
        raise RequestError(422, f"unknown field{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                           "send {\"text\": \"...\"} or {\"texts\": [\"...\", ...]}")
    if ("text" in data) == ("texts" in data):
        raise RequestError(422, "give either 'text' (one string) or 'texts' (a list of strings), not "
                           + ("both" if data else "neither"))
    if "text" in data:
        texts, names = [data["text"]], ["'text'"]
    else:
        texts = data["texts"]
        if not isinstance(texts, list):
            raise RequestError(422, f"'texts' must be a list of strings, got {type(texts).__name__}")
        if not texts:
            raise RequestError(422, "'texts' is empty; give at least one text")
        if len(texts) > limits.max_texts:
            raise RequestError(413, f"{len(texts)} texts in one request; the limit is {limits.max_texts} (--max-texts): "
                               "send them in several requests")
        names = [f"texts[{i}]" for i in range(len(texts))]
    for name, text in zip(names, texts):
        if not isinstance(text, str):
            raise RequestError(422, f"{name} must be a string, got {type(text).__name__}")
        if not text.strip():
            raise RequestError(422, f"{name} is empty; there is nothing to classify in it")
        if len(text) > limits.max_chars:
            raise RequestError(413, f"{name} has {len(text)} characters; the limit is {limits.max_chars} (--max-chars)")
    return texts


# ---------------------------------------------------------------- the run

def run_info(predictor: Any, run_dir: str | Path) -> dict:
    """What ``/info`` says about a run: model, labels, scores, training date, completeness and test metrics."""
    from train.common.rundir import COMPLETE, RunDir

    path = Path(run_dir)
    config = getattr(predictor, "config", None)
    model = getattr(config, "model", None) or _json(path / "config.json").get("model")
    complete = _json(path / COMPLETE)
    return {
        "run": path.resolve().name,
        "model": model,
        "labels": list(predictor.label_names),
        "multi_label": bool(predictor.multi_label),
        "probabilistic": bool(predictor.probabilistic),
        "score": "probability" if predictor.probabilistic else "margin",
        "complete": RunDir(path).complete(),
        "trained_at": complete.get("finished") if isinstance(complete.get("finished"), str) else _trained_at(path),
        "test_metrics": run_test_metrics(path),
    }


def _json(path: Path) -> dict:
    """A JSON object file's content; {} when it is absent or not a JSON object (``/info`` shows what there is)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _trained_at(path: Path) -> str | None:
    """When the run last wrote its results (a run without ``complete.json``): the newest of its summary and weights."""
    times = [p.stat().st_mtime for name in ("summary.json", "model.pt", "tfidf.npz", "config.json") if (p := path / name).is_file()]
    if not times:
        return None
    return datetime.datetime.fromtimestamp(max(times), datetime.timezone.utc).astimezone().strftime("%Y-%m-%dT%H:%M:%S%z")


def run_test_metrics(path: Path) -> dict | None:
    """The run's test metrics: ``test_metrics.json`` without its long text report, else ``summary.json``'s ``test_*``
    figures, else None (a run trained without a test split, or not finished)."""
    metrics = _json(path / "test_metrics.json")
    if metrics:
        return {k: v for k, v in metrics.items() if k != "report"}
    summary = _json(path / "summary.json")
    found = {k.removeprefix("test_"): v for k, v in summary.items() if k.startswith("test_")}
    return found or None


# ---------------------------------------------------------------- the app

def create_app(predictor: Any, run_dir: str | Path = "", *, limits: Limits = Limits(), max_batch: int = 64,
               batch_wait: float = 0.002) -> FastAPI:
    """The FastAPI application serving ``predictor`` (loaded from ``run_dir``, which ``/info`` describes)."""
    batcher = Batcher(lambda texts: prediction_rows(predictor, texts), max_batch, batch_wait)
    info = {**run_info(predictor, run_dir), "limits": {"max_chars": limits.max_chars, "max_texts": limits.max_texts}}
    page = PAGE.read_text(encoding="utf-8")

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        await batcher.start()
        try:
            yield
        finally:
            await batcher.stop()

    app = FastAPI(title="rnn-toolkit classifier", lifespan=lifespan, docs_url=None, redoc_url=None)  # docs load from a CDN
    app.state.batcher = batcher

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    @app.exception_handler(RequestError)
    async def request_error(_request: Request, exc: RequestError) -> JSONResponse:
        return error(exc.status, str(exc))

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return error(422, "; ".join(str(e.get("msg", e)) for e in exc.errors()) or "invalid request")

    @app.exception_handler(Exception)
    async def internal_error(_request: Request, exc: Exception) -> JSONResponse:  # logged with its traceback by uvicorn
        return error(500, f"internal error: {type(exc).__name__}: {exc}")

    @app.post("/predict")
    async def predict(request: Request) -> JSONResponse:
        texts = parse_texts(await read_body(request, limits.max_body_bytes), limits)
        rows = await batcher.submit(texts)
        return JSONResponse({"model": info["model"], "score": info["score"], "multi_label": info["multi_label"],
                             "predictions": rows})

    @app.get("/health")
    async def health() -> JSONResponse:
        ok = batcher.running
        return JSONResponse({"status": "ok" if ok else "unavailable", "model_loaded": predictor is not None,
                             "worker_running": ok}, status_code=200 if ok else 503)

    @app.get("/info")
    async def run_information() -> JSONResponse:
        return JSONResponse({**info, "served": {"predictor_calls": batcher.calls, "texts": batcher.texts}})

    @app.get("/", response_class=HTMLResponse)
    async def index() -> HTMLResponse:
        return HTMLResponse(page, headers={
            "Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                                       "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'",
            "X-Content-Type-Options": "nosniff",
        })

    return app


# ---------------------------------------------------------------- the server

def listen(host: str, port: int):
    """A listening TCP socket on ``host:port``; a `ConfigError` naming the address when it cannot be had."""
    import socket

    from data_processor.errors import ConfigError

    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as exc:
        raise ConfigError(f"--host {host!r}: not an address of this machine ({exc.strerror})") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror}); choose another --port or --host") from None
    sock.set_inheritable(True)
    return sock


def log_config(access_log: bool) -> dict:
    """uvicorn's logging, all on stderr (stdout is for results: here, the one line saying where the server listens)."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["handlers"]["access"]["stream"] = "ext://sys.stderr"
    if not access_log:
        config["loggers"]["uvicorn.access"]["handlers"] = []
        config["loggers"]["uvicorn.access"]["propagate"] = False
    return config


def serve(predictor: Any, run_dir: str | Path, host: str, port: int, *, limits: Limits = Limits(), max_batch: int = 64,
          batch_wait: float = 0.002, access_log: bool = True, announce: Callable[[str], None] = print) -> None:
    """Serve ``predictor`` on ``host:port`` until interrupted (Ctrl-C or SIGTERM)."""
    import uvicorn

    app = create_app(predictor, run_dir, limits=limits, max_batch=max_batch, batch_wait=batch_wait)
    sock = listen(host, port)
    prediction_rows(predictor, ["预热 warm-up"])  # the first call loads what loads lazily (jieba's dictionary), not a user's
    bound = sock.getsockname()
    shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
    announce(f"serving {Path(run_dir).name} on http://{shown}:{bound[1]}/ (Ctrl-C stops)")
    config = uvicorn.Config(app, log_config=log_config(access_log), access_log=access_log, lifespan="on", timeout_graceful_shutdown=5)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
