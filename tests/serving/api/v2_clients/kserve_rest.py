"""The kserve SDK's InferenceRESTClient (protocol v2) against a v2 server, as a KServe user writes it (see
job.py). The SDK's REST client always calls a model's default version (its URL has no version)."""

import asyncio

from job import read_job, write_answers
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig
from kserve.protocol.infer_type import RequestedOutput
from kserve.utils.numpy_codec import from_np_dtype


async def main():
    job, calls = read_job()
    client = InferenceRESTClient(RESTConfig(protocol="v2", timeout=300))
    base = f"http://{job['url']}"
    seen = {"live": await client.is_server_live(base), "ready": await client.is_server_ready(base), "models": {}}
    answers = []
    for call in calls:
        assert not call.version, "the kserve REST client has no model version"
        seen["models"][call.model] = {"ready": await client.is_model_ready(base, call.model)}
        inputs = []
        for name, array in call.inputs.items():
            tensor = InferInput(name, list(array.shape), from_np_dtype(array.dtype))
            tensor.set_data_from_numpy(array, binary_data=call.binary or array.dtype == object)
            inputs.append(tensor)
        outputs = [RequestedOutput(name, {"binary_data": call.binary}) for name in call.outputs] or None
        parameters = {"signature_name": call.signature} if call.signature else None
        request = InferRequest(call.model, inputs, request_id="job", parameters=parameters, request_outputs=outputs)
        response = await client.infer(base, request, model_name=call.model)
        assert response.id == "job" and response.model_name == call.model
        answers.append({output.name: output.as_numpy() for output in response.outputs})
    await client.close()
    write_answers(job, answers, seen)


asyncio.run(main())
