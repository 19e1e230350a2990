"""The kserve SDK's InferenceGRPCClient against a v2 server, as a KServe user writes it (see job.py)."""

import asyncio

from job import read_job, write_answers
from kserve import InferenceGRPCClient, InferInput, InferRequest
from kserve.protocol.infer_type import RequestedOutput
from kserve.utils.numpy_codec import from_np_dtype


async def main():
    job, calls = read_job()
    client = InferenceGRPCClient(job["url"], timeout=300, channel_args=[("grpc.max_receive_message_length", -1)])
    seen = {"live": await client.is_server_live(), "ready": await client.is_server_ready(), "models": {}}
    answers = []
    for call in calls:
        seen["models"][call.model] = {"ready": await client.is_model_ready(call.model)}
        inputs = []
        for name, array in call.inputs.items():
            tensor = InferInput(name, list(array.shape), from_np_dtype(array.dtype))
            tensor.set_data_from_numpy(array)
            inputs.append(tensor)
        outputs = [RequestedOutput(name) for name in call.outputs] or None
        parameters = {"signature_name": call.signature} if call.signature else None
        request = InferRequest(
            call.model,
            inputs,
            request_id="job",
            parameters=parameters,
            request_outputs=outputs,
            model_version=call.version or None,
        )
        response = await client.infer(request)
        assert response.id == "job" and response.model_name == call.model
        answers.append({output.name: output.as_numpy() for output in response.outputs})
    await client.close()
    write_answers(job, answers, seen)


asyncio.run(main())
