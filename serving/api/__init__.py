"""Front ends: each decodes its protocol's requests, calls serving/ops and encodes the answers.

tfs_rest (TF Serving's REST API, over serving/http_server.py) and tfs_grpc (TF Serving's gRPC services).
"""
