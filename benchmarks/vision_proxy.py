"""A "remote vision" emulation: vision as a separate service calling the model over binary OIP.

    python3 benchmarks/vision_proxy.py --upstream http://127.0.0.1:8080 --model NAME --port 8090

It does what the in-process vision path does — decode the image, resize and
normalise it into the input tensor, rank the probabilities with the labels —
with our server's own functions, but sends the tensor to the model server as a
binary OIP request over a keep-alive connection pool. The difference in latency
between this and /v1/vision/NAME/classifications on the model server is the
cost of the hop that running vision in the model pod saves.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import numpy as np
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mlmodel_server.runtime.tensors import TensorSpec
from mlmodel_server.vision import postprocess as post
from mlmodel_server.vision.image import decode_image, to_input_tensor

MEAN = STD = (0.5, 0.5, 0.5)  # what the model server's vision service uses for this model
DTYPES = {"FP32": np.float32, "UINT8": np.uint8, "INT8": np.int8}


@dataclass
class Upstream:
    """The model server: where to send tensors, and the model's input, output and labels."""

    url: str
    model: str
    session: aiohttp.ClientSession | None = None
    image_spec: TensorSpec | None = None
    output: str = ""
    labels: tuple[str, ...] = ()

    async def connect(self) -> None:
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        meta = await self._get(f"/v2/models/{self.model}")
        image = meta["inputs"][0]
        shape = tuple(image["shape"])
        self.image_spec = TensorSpec(image["name"], 0, np.dtype(DTYPES[image["datatype"]]), shape, shape)
        self.output = meta["outputs"][0]["name"]
        viam = await self._get(f"/v1/mlmodel/{self.model}/metadata")
        self.labels = tuple(viam["output_info"][0]["extra"].get("labels", ()))

    async def _get(self, path: str) -> Any:
        assert self.session is not None
        async with self.session.get(self.url + path) as response:
            response.raise_for_status()
            return orjson.loads(await response.read())

    async def infer(self, tensor: np.ndarray) -> np.ndarray:
        """One binary OIP round trip: the tensor's bytes out, the output's bytes back."""
        assert self.session is not None and self.image_spec is not None
        header = orjson.dumps(
            {
                "inputs": [
                    {
                        "name": self.image_spec.name,
                        "datatype": "FP32" if tensor.dtype == np.float32 else tensor.dtype.name.upper(),
                        "shape": list(tensor.shape),
                        "parameters": {"binary_data_size": tensor.nbytes},
                    }
                ],
                "outputs": [{"name": self.output, "parameters": {"binary_data": True}}],
            }
        )
        headers = {
            "Content-Type": "application/octet-stream",
            "Inference-Header-Content-Length": str(len(header)),
        }
        url = f"{self.url}/v2/models/{self.model}/infer"
        async with self.session.post(url, data=header + tensor.tobytes(), headers=headers) as response:
            response.raise_for_status()
            body = await response.read()
            length = int(response.headers["Inference-Header-Content-Length"])
        shape = orjson.loads(body[:length])["outputs"][0]["shape"]
        return np.frombuffer(body[length:], dtype="<f4").reshape(shape)


def build_app(upstream: Upstream) -> Starlette:
    async def classifications(request: Request) -> Response:
        assert upstream.image_spec is not None
        image = decode_image(await request.body(), request.headers.get("content-type", ""))
        tensor = to_input_tensor(image, upstream.image_spec, MEAN, STD)
        probabilities = post.as_probabilities(await upstream.infer(tensor))
        n = int(request.query_params.get("n", 5))
        ranked = post.top_classifications(probabilities, upstream.labels, n)
        found = [{"class_name": c.class_name, "confidence": c.confidence} for c in ranked]
        return Response(orjson.dumps({"classifications": found}), media_type="application/json")

    async def ready(_: Request) -> Response:
        return Response(b"{}", media_type="application/json")

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await upstream.connect()
        yield
        if upstream.session is not None:
            await upstream.session.close()

    routes = [
        Route("/v1/vision/{name}/classifications", classifications, methods=["POST"]),
        Route("/ready", ready),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True, help="the model server, e.g. http://127.0.0.1:8080")
    parser.add_argument("--model", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    args = parser.parse_args()
    app = build_app(Upstream(args.upstream.rstrip("/"), args.model))
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
