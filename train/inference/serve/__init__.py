"""``run.py serve``: a trained classifier behind an HTTP JSON API (FastAPI on uvicorn) and a small web page.

`requests` checks what a client sends, `rows` turns predictions into JSON, `batcher` gathers concurrent requests
into one model call, `run_info` describes the run, `app` is the FastAPI application and `server` listens.
"""
