"""tritonclient.http against a v2 server, as a Triton user writes it (see job.py)."""

import tritonclient.http as httpclient
from job import read_job, write_answers
from tritonclient.utils import np_to_triton_dtype

job, calls = read_job()
client = httpclient.InferenceServerClient(url=job["url"], network_timeout=300.0, connection_timeout=60.0)
seen = {
    "live": client.is_server_live(),
    "ready": client.is_server_ready(),
    "extensions": client.get_server_metadata()["extensions"],
    "models": {},
}
answers = []
for call in calls:
    seen["models"][call.model] = {
        "ready": client.is_model_ready(call.model, call.version),
        "metadata": client.get_model_metadata(call.model, call.version),
    }
    inputs = []
    for name, array in call.inputs.items():
        tensor = httpclient.InferInput(name, list(array.shape), np_to_triton_dtype(array.dtype))
        tensor.set_data_from_numpy(array, binary_data=call.binary or array.dtype == object)
        inputs.append(tensor)
    outputs = [httpclient.InferRequestedOutput(name, binary_data=call.binary) for name in call.outputs] or None
    parameters = {"signature_name": call.signature} if call.signature else None
    result = client.infer(
        call.model, inputs, model_version=call.version, outputs=outputs, request_id="job", parameters=parameters
    )
    response = result.get_response()
    assert response["id"] == "job" and response["model_name"] == call.model, response
    answers.append({o["name"]: result.as_numpy(o["name"]) for o in response["outputs"]})
index = client.get_model_repository_index()
seen["repository"] = sorted({entry["name"] for entry in index})
write_answers(job, answers, seen)
