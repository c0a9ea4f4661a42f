"""Gathering the texts of concurrent ``run.py serve`` requests into one model call.

One predictor serves every request, and one worker thread runs it, so the model is never called from two
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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

from train.inference.serve.requests import RequestError


@dataclass
class Job:
    """One request waiting for the worker: its texts, and the future its results go to."""

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
