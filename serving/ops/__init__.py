"""The operations every front end calls: predict, classify / regress / multi-inference, metadata and status.

One path each, below every protocol: a front end (serving/api/) only decodes its request and encodes the
answer; finding the servable, the checks before anything is built, the request budgets, deadlines and the
model run happen here, the same for TF Serving's REST and gRPC APIs and the Open Inference Protocol.
"""
