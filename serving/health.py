"""`--enable_grpc_healthcheck_service`: the standard grpc.health.v1.Health service on the gRPC port.

The server opens its ports only after the initial load, and reports SERVING from then on for the
whole server ("") and for each service (TF Serving's and the Open Inference Protocol's); on SIGTERM
every status turns NOT_SERVING (and stays there) before in-flight requests are drained, so `Watch`
subscribers learn it at once and a kubelet `grpc` probe stops routing to the pod.
"""

from __future__ import annotations

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

SERVICES = (
    "",
    "tensorflow.serving.PredictionService",
    "tensorflow.serving.ModelService",
    "inference.GRPCInferenceService",
)


class HealthReporter:
    def __init__(self, server: grpc.Server):
        self.servicer = health.HealthServicer()
        for service in SERVICES:
            self.servicer.set(service, health_pb2.HealthCheckResponse.NOT_SERVING)
        health_pb2_grpc.add_HealthServicer_to_server(self.servicer, server)

    def serving(self) -> None:
        for service in SERVICES:
            self.servicer.set(service, health_pb2.HealthCheckResponse.SERVING)

    def draining(self) -> None:
        self.servicer.enter_graceful_shutdown()
