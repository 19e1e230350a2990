"""Dynamic batching: concurrent requests to one signature are merged, padded, run once and split back.

Semantics follow BatchingParameters: a batch closes when it holds max_batch_size rows, or when its
oldest request has waited batch_timeout_micros and a batch thread is free; num_batch_threads batches
run at once; at most max_enqueued_batches batches wait per queue. Requests whose non-batch
dimensions differ go to different queues. If a merged batch fails, each request is re-run alone
so that one bad request fails only itself.

As in the official server, the batch threads are shared by every model, while the queue settings
(sizes, timeout, queue length) may differ per model: `--enable_per_model_batching_parameters` reads
them from each version's `batching_params.pbtxt` (serving/server.py).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

from protocol.layout import BATCHING_PARAMS_FILE
from serving import config as config_lib
from serving.deadlines import NO_DEADLINE, Deadline
from serving.errors import Code, ServingError, invalid_argument
from serving.metrics import METRICS
from serving.protos import BatchingParameters

log = logging.getLogger("serving")


@dataclass
class _Task:
    servable: object
    key: str
    inputs: Mapping[str, np.ndarray]
    rows: int
    deadline: Deadline = NO_DEADLINE
    enqueued: float = field(default_factory=time.monotonic)
    future: Future = field(default_factory=Future)


def _value(params: BatchingParameters, name: str, default: int) -> int:
    return getattr(params, name).value if params.HasField(name) else default


@dataclass(frozen=True)
class QueueOptions:
    """The settings of one model's batch queues (BatchingParameters without the thread pool)."""

    max_batch_size: int = 1000
    timeout_s: float = 0.0
    max_enqueued_batches: int = 10
    allowed_sizes: tuple[int, ...] = ()

    @classmethod
    def from_params(cls, params: BatchingParameters) -> QueueOptions:
        return cls(
            max_batch_size=_value(params, "max_batch_size", 1000),
            timeout_s=_value(params, "batch_timeout_micros", 0) / 1e6,
            max_enqueued_batches=_value(params, "max_enqueued_batches", 10),
            allowed_sizes=tuple(sorted(params.allowed_batch_sizes)),
        )

    def padded_size(self, rows: int) -> int:
        for size in self.allowed_sizes:
            if size >= rows:
                return size
        return rows


class _Queue:
    def __init__(self, options: QueueOptions) -> None:
        self.options = options
        self.tasks: deque[_Task] = deque()
        self.rows = 0


class BatchScheduler:
    """The batch threads (num_batch_threads, shared by every model) and the queues; `options` are the
    queue settings of models that bring none of their own."""

    def __init__(self, params: BatchingParameters):
        self.options = QueueOptions.from_params(params)
        self.num_threads = max(_value(params, "num_batch_threads", os.cpu_count() or 1), 1)
        self.pool_name = (
            params.thread_pool_name.value if params.HasField("thread_pool_name") else "model_server_batch_threads"
        )
        self._queues: dict[tuple, _Queue] = {}
        self._cond = threading.Condition()
        self._stopped = False
        self._threads = [
            threading.Thread(target=self._work, name=f"batch_{i}", daemon=True) for i in range(self.num_threads)
        ]
        for thread in self._threads:
            thread.start()

    # ------------------------------------------------------------------ submit
    def run(
        self,
        servable,
        key: str,
        inputs: Mapping[str, np.ndarray],
        deadline: Deadline = NO_DEADLINE,
        options: QueueOptions | None = None,
    ) -> dict[str, np.ndarray]:
        options = options or self.options
        rows = {a.shape[0] if a.ndim else None for a in inputs.values()}
        if len(rows) != 1 or None in rows:
            return servable.run_now(key, inputs, deadline)  # not batchable: run alone
        (task_rows,) = rows
        if task_rows > options.max_batch_size:
            raise invalid_argument(
                f"Task size {task_rows} is larger than maximum input batch size {options.max_batch_size}"
            )
        METRICS.input_batch_size.observe(task_rows)
        deadline.check()
        task = _Task(servable, key, inputs, task_rows, deadline)
        queue_key = (id(servable), key) + tuple(sorted((n, a.shape[1:], a.dtype.str) for n, a in inputs.items()))
        with self._cond:
            if self._stopped:
                raise ServingError(Code.UNAVAILABLE, "Batch scheduler is shutting down")
            queue = self._queues.setdefault(queue_key, _Queue(options))
            if queue.rows + task_rows > options.max_enqueued_batches * options.max_batch_size:
                raise ServingError(
                    Code.UNAVAILABLE, "The batch scheduling queue to which this task was submitted is full"
                )
            queue.tasks.append(task)
            queue.rows += task_rows
            self._cond.notify_all()
        return task.future.result()

    # ------------------------------------------------------------------ batch threads
    def _next_batch(self) -> tuple[list[_Task], QueueOptions] | None:
        with self._cond:
            while not self._stopped:
                now = time.monotonic()
                ready, wait = None, None
                for queue_key, queue in list(self._queues.items()):
                    if not queue.tasks:
                        del self._queues[queue_key]
                        continue
                    due = queue.tasks[0].enqueued + queue.options.timeout_s
                    if queue.rows >= queue.options.max_batch_size or due <= now:
                        if ready is None or queue.tasks[0].enqueued < ready.tasks[0].enqueued:
                            ready = queue
                    else:
                        wait = due - now if wait is None else min(wait, due - now)
                if ready is not None:
                    return self._take(ready)
                self._cond.wait(wait)
            return None

    def _take(self, queue: _Queue) -> tuple[list[_Task], QueueOptions]:
        """The next batch and its queue's settings; tasks whose deadline passed while queued are answered and
        left out."""
        batch, rows = [], 0
        while queue.tasks and rows + queue.tasks[0].rows <= queue.options.max_batch_size:
            task = queue.tasks.popleft()
            queue.rows -= task.rows
            if task.deadline.expired():
                task.future.set_exception(
                    ServingError(Code.DEADLINE_EXCEEDED, "Request deadline passed while it waited for a batch")
                )
                continue
            rows += task.rows
            batch.append(task)
        return batch, queue.options

    def _work(self) -> None:
        while True:
            taken = self._next_batch()
            if taken is None:
                return
            batch, options = taken
            if not batch:
                continue
            now = time.monotonic()
            for task in batch:
                METRICS.queuing_latency.labels(self.pool_name).observe((now - task.enqueued) * 1e6)
            self._execute(batch, options)

    def _execute(self, batch: list[_Task], options: QueueOptions) -> None:
        try:
            outputs = self._run_merged(batch, options)
        except Exception as e:  # noqa: BLE001 - isolate the failing request below
            if len(batch) == 1:
                batch[0].future.set_exception(e)
                return
            for task in batch:
                self._execute([task], options)
            return
        offset = 0
        for task in batch:
            task.future.set_result({name: value[offset : offset + task.rows] for name, value in outputs.items()})
            offset += task.rows

    def _run_merged(self, batch: list[_Task], options: QueueOptions) -> dict[str, np.ndarray]:
        first = batch[0]
        rows = sum(t.rows for t in batch)
        size = options.padded_size(rows)
        METRICS.processed_batch_size.observe(size)
        METRICS.padding_size.labels(str(size)).observe(size - rows)
        merged = {}
        for name in first.inputs:
            parts = [t.inputs[name] for t in batch]
            if size > rows:
                parts.append(np.repeat(parts[0][:1], size - rows, axis=0))
            merged[name] = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)
        outputs = first.servable.run_now(first.key, merged)
        for name, value in outputs.items():
            if value.ndim == 0 or value.shape[0] != size:
                raise ServingError(
                    Code.FAILED_PRECONDITION,
                    f"Batched output tensor {name}'s 0th dimension does not equal the sum of the 0th "
                    "dimension sizes of the input tensors",
                )
        return outputs

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            pending = [t for q in self._queues.values() for t in q.tasks]
            self._queues.clear()
            self._cond.notify_all()
        for task in pending:
            task.future.set_exception(ServingError(Code.UNAVAILABLE, "Batch scheduler is shutting down"))


@dataclass(frozen=True)
class Batching:
    """--enable_batching: the shared scheduler, and which queue settings a loaded version gets."""

    scheduler: BatchScheduler
    per_model: bool = False  # --enable_per_model_batching_parameters

    def queue_options(self, version_path: str) -> QueueOptions | None:
        """The queue settings a version is batched with, or None when it is not batched: with per-model
        parameters its own batching_params.pbtxt (none: not batched; one that does not parse or validate
        fails the load), else the --batching_parameters_file ones."""
        if not self.per_model:
            return self.scheduler.options
        path = os.path.join(version_path, BATCHING_PARAMS_FILE)
        if not os.path.isfile(path):
            return None
        params = config_lib.load_batching_parameters(path)
        log.info("Batching %s with its own %s: %s", version_path, BATCHING_PARAMS_FILE, " ".join(str(params).split()))
        return QueueOptions.from_params(params)
