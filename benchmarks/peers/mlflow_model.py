"""An MLflow pyfunc wrapping a .tflite, and the command that saves it.

Run inside the MLflow virtual environment (see dataplane.py):
    python mlflow_model.py --model m.tflite --out DIR
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
from ai_edge_litert.interpreter import Interpreter
from mlflow.models import infer_signature


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
        named = model_input if isinstance(model_input, dict) else {self.inputs[0]["name"]: model_input}
        with self.lock:
            for detail in self.inputs:
                array = np.asarray(named[detail["name"]], dtype=detail["dtype"]).reshape(detail["shape"])
                self.interpreter.set_tensor(detail["index"], array)
            self.interpreter.invoke()
            outputs = {d["name"]: self.interpreter.get_tensor(d["index"]) for d in self.outputs}
        return next(iter(outputs.values())) if len(outputs) == 1 else outputs


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
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    save(args.model, args.out)


mlflow.models.set_model(TFLitePyfunc())

if __name__ == "__main__":
    main()
