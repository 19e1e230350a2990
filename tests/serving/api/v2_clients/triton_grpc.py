"""tritonclient.grpc against a v2 server, as a Triton user writes it (see job.py)."""

import tritonclient.grpc as grpcclient
from job import read_job, write_answers
from tritonclient.utils import np_to_triton_dtype

job, calls = read_job()
client = grpcclient.InferenceServerClient(url=job["url"])
seen = {
    "live": client.is_server_live(),
    "ready": client.is_server_ready(),
    "extensions": list(client.get_server_metadata().extensions),
    "models": {},
}
answers = []
for call in calls:
    metadata = client.get_model_metadata(call.model, call.version, as_json=True)
    seen["models"][call.model] = {"ready": client.is_model_ready(call.model, call.version), "metadata": metadata}
    inputs = []
    for name, array in call.inputs.items():
        tensor = grpcclient.InferInput(name, list(array.shape), np_to_triton_dtype(array.dtype))
        tensor.set_data_from_numpy(array)
        inputs.append(tensor)
    outputs = [grpcclient.InferRequestedOutput(name) for name in call.outputs] or None
    parameters = {"signature_name": call.signature} if call.signature else None
    result = client.infer(
        call.model,
        inputs,
        model_version=call.version,
        outputs=outputs,
        request_id="job",
        parameters=parameters,
        client_timeout=300.0,
    )
    response = result.get_response()
    assert response.id == "job" and response.model_name == call.model, response
    answers.append({o.name: result.as_numpy(o.name) for o in response.outputs})
seen["repository"] = sorted({m.name for m in client.get_model_repository_index().models})
write_answers(job, answers, seen)
