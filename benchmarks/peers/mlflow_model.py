"""An MLflow pyfunc wrapping a .tflite, and the command that saves it.

Run inside the MLflow virtual environment (see dataplane.py):
    python mlflow_model.py --model m.tflite --out DIR
    python mlflow_model.py --package PACKAGE_DIR --out DIR   # the package's model and signature
then `mlflow models serve -m DIR --env-manager local` serves it on /invocations.

The PythonModel is what an MLflow user writes for LiteRT: one interpreter
(every core) built in `load_context`, under a lock because MLflow's scoring
server runs each request's predict in a worker thread. It is saved as a
"model from code": MLflow copies this file and runs it at load time, where
`set_model` below hands it the model (no pickling).
"""

from __future__ import annotations

import argparse
import os
import threading
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import yaml
from ai_edge_litert.interpreter import Interpreter
from mlflow.models import ModelSignature, infer_signature


class TFLitePyfunc(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        self.interpreter = Interpreter(
            model_path=context.artifacts["tflite"], num_threads=os.cpu_count() or 1
        )
        self.interpreter.allocate_tensors()
        self.inputs = self.interpreter.get_input_details()
        self.outputs = self.interpreter.get_output_details()
        self.lock = threading.Lock()

    def predict(self, context, model_input, params=None):
        if isinstance(model_input, pd.DataFrame):
            return self.predict_rows(model_input.to_numpy())
        named = model_input if isinstance(model_input, dict) else {self.inputs[0]["name"]: model_input}
        with self.lock:
            for detail in self.inputs:
                array = np.asarray(named[detail["name"]], dtype=detail["dtype"]).reshape(detail["shape"])
                self.interpreter.set_tensor(detail["index"], array)
            self.interpreter.invoke()
            outputs = {d["name"]: self.interpreter.get_tensor(d["index"]) for d in self.outputs}
        return next(iter(outputs.values())) if len(outputs) == 1 else outputs

    def predict_rows(self, rows):
        """A column signature's frame (MLflow has put the columns in signature order): its
        rows are the batch of the one input, resized to fit."""
        detail, output = self.inputs[0], self.outputs[0]
        with self.lock:
            self.interpreter.resize_tensor_input(detail["index"], rows.shape)
            self.interpreter.allocate_tensors()
            self.interpreter.set_tensor(detail["index"], rows.astype(detail["dtype"]))
            self.interpreter.invoke()
            return self.interpreter.get_tensor(output["index"]).copy()


def save_package(package: Path, out: Path) -> None:
    """Save the pyfunc around a package's model, with the package's own signature."""
    manifest = yaml.safe_load((package / "MLmodel").read_text())
    mlflow.pyfunc.save_model(
        path=str(out),
        python_model=__file__,
        artifacts={"tflite": str(package / manifest["flavors"]["tflite"]["model_path"])},
        signature=ModelSignature.from_dict(manifest["signature"]),
        pip_requirements=["ai-edge-litert"],
    )


def save(model_path: Path, out: Path) -> None:
    """Save the pyfunc with a tensor signature taken from one zero-input run."""
    interpreter = Interpreter(model_path=str(model_path))
    interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    example = np.zeros(detail["shape"], dtype=detail["dtype"])
    interpreter.set_tensor(detail["index"], example)
    interpreter.invoke()
    output = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    mlflow.pyfunc.save_model(
        path=str(out),
        python_model=__file__,
        artifacts={"tflite": str(model_path)},
        signature=infer_signature(example, output),
        pip_requirements=["ai-edge-litert"],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", type=Path)
    source.add_argument("--package", type=Path, help="a package directory (MLmodel with a signature)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.package:
        save_package(args.package, args.out)
    else:
        save(args.model, args.out)


mlflow.models.set_model(TFLitePyfunc())

if __name__ == "__main__":
    main()
