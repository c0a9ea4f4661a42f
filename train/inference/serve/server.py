"""``run.py serve``'s server: the listening socket, uvicorn's logging, and serving until interrupted."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from data_processor.base.errors import ConfigError
from train.inference.serve.app import create_app
from train.inference.serve.requests import Limits
from train.inference.serve.rows import prediction_rows


def listen(host: str, port: int):
    """A listening TCP socket on ``host:port``; a `ConfigError` naming the address when it cannot be had."""
    import socket

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


def json_error_protocol() -> type:
    """uvicorn's HTTP/1.1 protocol (h11), answering a request it cannot parse (a malformed Content-Length, a broken
    request line) with the API's JSON error rather than its plain-text one."""
    import json

    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class JsonErrorProtocol(H11Protocol):
        def send_400_response(self, msg: str) -> None:
            body = json.dumps({"error": f"a malformed HTTP request ({msg.rstrip('.')}); check its request line and headers, "
                                        "such as Content-Length"}).encode("utf-8")
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), (b"connection", b"close")]
            for event in (h11.Response(status_code=400, headers=headers, reason=b"Bad Request"), h11.Data(data=body), h11.EndOfMessage()):
                self.transport.write(self.conn.send(event))
            self.transport.close()

    return JsonErrorProtocol


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
    config = uvicorn.Config(app, http=json_error_protocol(), log_config=log_config(access_log), access_log=access_log, lifespan="on",
                            timeout_graceful_shutdown=5)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
