"""``run.py serve``: an HTTP JSON API (FastAPI on uvicorn) and a small web page in front of a trained classifier.

Endpoints (docs/serve.md shows them with examples):

- ``POST /predict`` ``{"text": "..."}`` or ``{"texts": [...]}``: each text's predicted labels with their
  probabilities (margins for a TF-IDF + LinearSVC run), and for probabilistic runs the whole distribution;
- ``GET /health``: ``{"status": "ok", "model_loaded": true, "worker_running": true}``;
- ``GET /info``: the run's model, labels, training date and test metrics, and the server's limits;
- ``GET /``: a self-contained page (``page.html`` beside this module: no external scripts, styles or fonts);
- ``GET /docs``, ``GET /redoc``, ``GET /openapi.json``: the API described (`train.inference.serve.schemas`).

Requests go through one `Batcher` (see `train.inference.serve.batcher`).
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException

from train.inference.serve.batcher import Batcher
from train.inference.serve.requests import Limits, RequestError, parse_texts, read_body
from train.inference.serve.rows import prediction_rows
from train.inference.serve.schemas import ErrorResponse, HealthResponse, PredictRequest, PredictResponse
from train.inference.serve.run_info import run_info

PAGE = Path(__file__).with_name("page.html")


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

    # /docs and /redoc are FastAPI's pages: they load their scripts from a CDN, so they need a browser online
    app = FastAPI(title="rnn-toolkit classifier", description=f"Serving the run {info['run']!s}: see GET /info.",
                  lifespan=lifespan)
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

    refusals = {status: {"model": ErrorResponse, "description": what} for status, what in (
        (400, "the body is not JSON"), (413, "too many texts, a text too long, or a body too large"),
        (422, "neither {\"text\": ...} nor {\"texts\": [...]}, or an empty text"))}

    @app.post("/predict", response_model=PredictResponse, responses=refusals,  # type: ignore[arg-type]
              summary="classify one text or several", openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": PredictRequest.model_json_schema()}}}})
    async def predict(request: Request) -> JSONResponse:
        texts = parse_texts(await read_body(request, limits.max_body_bytes), limits)
        rows = await batcher.submit(texts)
        return JSONResponse({"model": info["model"], "score": info["score"], "multi_label": info["multi_label"],
                             "predictions": rows})

    @app.get("/health", response_model=HealthResponse, responses={503: {"model": HealthResponse, "description": "not ready"}})
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
