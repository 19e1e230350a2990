"""Fair model runs: first come, first served, at most N of one model at once (--max_concurrent_runs_per_model).

The admission alone with threads, then real servers with the turnstile model, whose answers say in which
order the runs started and how many ran at once. Order is made certain by waiting until the earlier
requests are queued (the admission's own count, or a pause far longer than a request's parsing) before
the next is sent; nothing is timed.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
import pytest
import requests
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from serving.admission import RunAdmission
from serving.deadlines import Deadline
from serving.errors import Code, ServingError
from serving.testing.models import build_turnstile
from serving.testing.server_process import ServerProcess, wait_for

GAP = 0.3  # seconds between sends: far more than a request needs to reach the admission queue


# ---------------------------------------------------------------------------- the admission alone


def test_waiters_get_their_turn_in_arrival_order():
    admission = RunAdmission(1)
    order: list[int] = []
    release_first = threading.Event()

    def first():
        with admission.turn():
            order.append(0)
            release_first.wait()

    def later(i):
        with admission.turn():
            order.append(i)

    threads = [threading.Thread(target=first)]
    threads[0].start()
    wait_for(lambda: order == [0], timeout=30, interval=0.01)
    for i in range(1, 6):
        threads.append(threading.Thread(target=later, args=(i,)))
        threads[-1].start()
        wait_for(lambda i=i: admission.waiting == i, timeout=30, interval=0.01)
    release_first.set()
    for thread in threads:
        thread.join()
    assert order == [0, 1, 2, 3, 4, 5]


def test_never_more_than_the_limit_at_once():
    admission = RunAdmission(3)
    lock = threading.Lock()
    running, most = 0, 0

    def run():
        nonlocal running, most
        with admission.turn():
            with lock:
                running += 1
                most = max(most, running)
            time.sleep(0.01)
            with lock:
                running -= 1

    with ThreadPoolExecutor(12) as pool:
        list(pool.map(lambda _: run(), range(60)))
    assert most == 3
    assert admission.waiting == 0


def test_a_waiter_whose_deadline_passes_leaves_the_queue_and_the_next_one_runs():
    admission = RunAdmission(1)
    hold = threading.Event()
    ran: list[str] = []
    errors: list[ServingError] = []
    expiring = Deadline()

    def holder():
        with admission.turn():
            hold.wait()

    def waiter(name, deadline):
        try:
            with admission.turn(deadline):
                ran.append(name)
        except ServingError as e:
            errors.append(e)

    threads = [threading.Thread(target=holder)]
    threads[0].start()
    wait_for(lambda: admission.running == 1, timeout=30, interval=0.01)
    threads.append(threading.Thread(target=waiter, args=("expired", expiring)))
    threads[-1].start()
    wait_for(lambda: admission.waiting == 1, timeout=30, interval=0.01)
    threads.append(threading.Thread(target=waiter, args=("next", Deadline())))
    threads[-1].start()
    wait_for(lambda: admission.waiting == 2, timeout=30, interval=0.01)
    expiring.give_up()  # what REST does when it answered 504
    wait_for(lambda: admission.waiting == 1, timeout=30, interval=0.01)
    hold.set()
    for thread in threads:
        thread.join()
    assert ran == ["next"]
    assert [e.code for e in errors] == [Code.DEADLINE_EXCEEDED]


def test_a_cancelled_waiter_raises_cancelled():
    admission = RunAdmission(1)
    cancelled = threading.Event()
    with admission.turn():
        deadline = Deadline(cancelled=cancelled.is_set)
        result: list[BaseException] = []

        def waiter():
            try:
                with admission.turn(deadline):
                    pass
            except ServingError as e:
                result.append(e)

        thread = threading.Thread(target=waiter)
        thread.start()
        wait_for(lambda: admission.waiting == 1, timeout=30, interval=0.01)
        cancelled.set()
        thread.join()
    assert result[0].code == Code.CANCELLED
    assert admission.waiting == 0
    with admission.turn():  # the place was given back
        pass


def test_zero_is_no_limit():
    admission = RunAdmission(0)
    with admission.turn(), admission.turn(), admission.turn():
        assert admission.waiting == 0


# ---------------------------------------------------------------------------- real servers


@pytest.fixture(scope="module")
def turnstile(tmp_path_factory):
    return build_turnstile(tmp_path_factory.mktemp("admission") / "turnstile")


def _serve(base_path, limit: int, extra=()):
    return ServerProcess(
        model_name="turnstile",
        model_base_path=base_path,
        args=[
            "--file_system_poll_wait_seconds=0",
            "--enable_model_warmup=false",
            f"--max_concurrent_runs_per_model={limit}",
            *extra,
        ],
    )


def _rest(server, seconds: float, timeout: float = 120) -> requests.Response:
    return requests.post(
        f"{server.rest_url}/v1/models/turnstile:predict", json={"inputs": {"seconds": [seconds]}}, timeout=timeout
    )


def _grpc_request(seconds: float) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "turnstile"
    request.inputs["seconds"].CopyFrom(tf.make_tensor_proto(np.array([seconds], np.float32)))
    return request


def _answer(response) -> tuple[int, int]:
    """(order, running) of a REST answer or a gRPC PredictResponse."""
    if isinstance(response, requests.Response):
        assert response.status_code == 200, response.text
        outputs = response.json()["outputs"]
        return outputs["order"][0], outputs["running"][0]
    return (int(tf.make_ndarray(response.outputs["order"])[0]), int(tf.make_ndarray(response.outputs["running"])[0]))


def test_runs_start_in_arrival_order_over_rest_and_grpc_one_at_a_time(turnstile):
    with _serve(turnstile, 1) as server, grpc.insecure_channel(server.grpc_address) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        with ThreadPoolExecutor(8) as pool:
            calls = [pool.submit(_rest, server, 3.0)]  # holds the only place while the others arrive
            time.sleep(GAP)
            for i in range(6):
                time.sleep(GAP)
                if i % 2:
                    calls.append(stub.Predict.future(_grpc_request(0.1), timeout=120))
                else:
                    calls.append(pool.submit(_rest, server, 0.1))
            answers = [_answer(call.result()) for call in calls]
    assert [order for order, _ in answers] == list(range(1, 8))
    assert {running for _, running in answers} == {1}


def test_without_a_limit_runs_overlap_as_on_the_official_server(turnstile):
    with _serve(turnstile, 0) as server, ThreadPoolExecutor(4) as pool:
        answers = [_answer(r) for r in pool.map(lambda _: _rest(server, 1.0), range(4))]
    assert max(running for _, running in answers) > 1


def test_requests_that_time_out_waiting_for_their_turn_never_run(turnstile):
    with (
        _serve(turnstile, 1, ["--rest_api_timeout_in_ms=1000"]) as server,
        grpc.insecure_channel(server.grpc_address) as channel,
        ThreadPoolExecutor(4) as pool,
    ):
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        first = pool.submit(_rest, server, 2.5)  # answered 504 after 1 s; its run goes on to the end
        time.sleep(GAP)
        queued_rest = [pool.submit(_rest, server, 0.0) for _ in range(2)]
        queued_grpc = stub.Predict.future(_grpc_request(0.0), timeout=1.0)
        cancelled = stub.Predict.future(_grpc_request(0.0), timeout=120)
        time.sleep(GAP)
        cancelled.cancel()
        assert first.result().status_code == 504
        assert [f.result().status_code for f in queued_rest] == [504, 504]
        with pytest.raises(grpc.RpcError) as info:
            queued_grpc.result()
        assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        last = stub.Predict(_grpc_request(0.0), timeout=120)
    assert _answer(last) == (2, 1)  # the first run, then this one: nothing that gave up ever ran
