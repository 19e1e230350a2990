"""What a server writes about the requests it answers, always from threads of its own, never in a request's way.

request_logger, collector, tfrecord: sampled PredictionLog records (the model config's `logging_config`) in
rotating TFRecord files, bounded in size and count; `python -m serving.logs` reads them.
access: one structured line per request (--access_log).
writer: the bounded hand-off both use; when it is full, records are dropped and counted, never waited for.
"""
