"""KServe's Python ModelServer serving a .tflite through a minimal custom Model.

Run inside the KServe virtual environment (see dataplane.py), e.g.:
    python kserve_server.py --model_path m.tflite --model_name m --http_port 8080 --enable_grpc false

The Model is what a KServe user writes for LiteRT: one interpreter built in
`load()`, a synchronous `predict()` (KServe runs it on its event loop) that
answers in binary when the request asks with parameters.binary_data_output.
The interpreter uses every core, the best a single interpreter can do.
Two settings match our server for a fair race: the REST server listens on
127.0.0.1 only (KServe hard-codes 0.0.0.0), and no log line per request.
"""

from __future__ import annotations

import argparse
import logging
import os
import threading

import kserve
import numpy as np
from ai_edge_litert.interpreter import Interpreter
from kserve import InferOutput, InferRequest, InferResponse
from kserve.protocol.rest import server as rest_server
from kserve.utils.utils import generate_uuid

DATATYPES = {np.dtype(np.float32): "FP32", np.dtype(np.uint8): "UINT8", np.dtype(np.int8): "INT8"}


class TFLiteModel(kserve.Model):
    def __init__(self, name: str, model_path: str) -> None:
        super().__init__(name)
        self.model_path = model_path
        self.interpreter: Interpreter | None = None
        self.lock = threading.Lock()  # an interpreter is not thread-safe

    def load(self) -> bool:
        self.interpreter = Interpreter(model_path=self.model_path, num_threads=os.cpu_count() or 1)
        self.interpreter.allocate_tensors()
        self.inputs = {d["name"]: d for d in self.interpreter.get_input_details()}
        self.outputs = self.interpreter.get_output_details()
        self.ready = True
        return self.ready

    def predict(self, payload: InferRequest, headers: dict[str, str] | None = None) -> InferResponse:
        assert self.interpreter is not None
        with self.lock:
            for item in payload.inputs:
                detail = self.inputs[item.name]
                self.interpreter.set_tensor(detail["index"], item.as_numpy().astype(detail["dtype"]))
            self.interpreter.invoke()
            arrays = [(d["name"], self.interpreter.get_tensor(d["index"])) for d in self.outputs]
        outputs = []
        for name, array in arrays:
            output = InferOutput(name=name, shape=list(array.shape), datatype=DATATYPES[array.dtype])
            output.set_data_from_numpy(array, binary_data=payload.use_binary_outputs)
            outputs.append(output)
        return InferResponse(
            response_id=payload.id or generate_uuid(),
            model_name=self.name,
            infer_outputs=outputs,
            use_binary_outputs=payload.use_binary_outputs,
        )


def _listen_on_loopback() -> None:
    original = rest_server.RESTServer.__init__

    def patched(self, *args, **kwargs) -> None:
        original(self, *args, **kwargs)
        self.config.host = "127.0.0.1"

    rest_server.RESTServer.__init__ = patched


def _quiet_per_request_logs() -> None:
    for name in ("uvicorn.access", "kserve.trace"):
        logging.getLogger(name).disabled = True


def main() -> None:
    parser = argparse.ArgumentParser(parents=[kserve.model_server.parser])
    parser.add_argument("--model_path", required=True)
    args, _ = parser.parse_known_args()
    _listen_on_loopback()
    model = TFLiteModel(args.model_name, args.model_path)
    model.load()
    server = kserve.ModelServer()
    _quiet_per_request_logs()  # after ModelServer() has configured logging
    server.start([model])


if __name__ == "__main__":
    main()
