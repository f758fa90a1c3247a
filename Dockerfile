# One image for both planes. ENTRYPOINT is the `mlmodel` console script, so the
# operator, the inference server and the init-container fetcher are
#   mlmodel operator ... | mlmodel serve ... | mlmodel fetch ...
# Build daemonless with hack/build-image.sh (buildah), or with any engine:
#   docker build -t mlmodel-operator:0.1.0 .
# BASE_IMAGE must provide python3 3.11 with the venv module (the official slim
# image does; so does a Debian bookworm debootstrap with python3 + python3-venv,
# hack/build-image.sh's default here). Both stages use it, so the venv's
# python symlink resolves at run time.
ARG BASE_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------- build stage
FROM ${BASE_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1 \
    PIP_PROGRESS_BAR=off \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src

# Dependencies first, so their layer survives source edits. Every pin is hashed
# (--require-hashes) and binary-only: the base has no compiler and needs none.
# A CA bundle at the Debian path (the base's own, or the host's bind-mounted by
# hack/build-image.sh) is preferred to pip's bundled certifi, which fails behind
# TLS-inspecting proxies; a debootstrap minbase has no ca-certificates at all.
COPY requirements/image.lock requirements/image-build.lock requirements/
RUN set -eu; \
    if [ -r /etc/ssl/certs/ca-certificates.crt ]; then export PIP_CERT=/etc/ssl/certs/ca-certificates.crt; fi; \
    python3 -m venv /opt/build-venv; \
    /opt/build-venv/bin/pip install --require-hashes --only-binary=:all: -r requirements/image-build.lock; \
    python3 -m venv /opt/venv; \
    /opt/venv/bin/pip install --require-hashes --only-binary=:all: -r requirements/image.lock

# The project wheel, built offline with the hashed setuptools, installed without
# dependencies and without an index (they are all in already), then checked.
COPY pyproject.toml README.md ./
COPY server server
COPY operator operator
RUN set -eu; \
    /opt/build-venv/bin/pip wheel --no-deps --no-build-isolation --no-index --wheel-dir /wheels .; \
    /opt/venv/bin/pip install --no-deps --no-index /wheels/*.whl; \
    /opt/venv/bin/pip check; \
    /opt/venv/bin/pip uninstall -y -q pip setuptools; \
    rm -f /opt/venv/bin/activate* /opt/venv/bin/pip*

# Trims (TRIM=0 keeps the venv as pip left it). Each one is verified by
# hack/image-smoke.sh, which serves, fetches and imports the operator:
# * LiteRT parts the Interpreter API (all mlmodel uses, XNNPACK on CPU) never
#   loads: the WebGPU accelerator, libLiteRt.so (CompiledModel API; loaded only
#   if present), the AOT plugin tool and NPU vendor compiler plugins (~37 MB).
# * test suites, C sources/headers and type stubs shipped inside dependencies.
# All other bytecode stays: uid 65532 cannot write __pycache__ at run time.
ARG TRIM=1
RUN set -eu; \
    if [ "$TRIM" = 1 ]; then \
      site=$(/opt/venv/bin/python3 -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'); \
      rm -f "$site/ai_edge_litert/libLiteRtWebGpuAccelerator.so" "$site/ai_edge_litert/libLiteRt.so" \
            "$site/ai_edge_litert/tools/apply_plugin_main" "$site"/ai_edge_litert/vendors/*/compiler/*.so; \
      find "$site" -depth -mindepth 2 -type d -name tests -exec rm -rf {} +; \
      find "$site" -type f \( -name '*.pyi' -o -name '*.pyx' -o -name '*.pxd' -o -name '*.c' -o -name '*.h' \) -delete; \
    fi; \
    /opt/venv/bin/mlmodel --version; \
    /opt/venv/bin/python3 -c 'import ai_edge_litert.interpreter, fastapi, kopf, lightkube, mlmodel_operator.main, numpy, PIL.Image, uvloop'

# -------------------------------------------------------------- runtime stage
FROM ${BASE_IMAGE}
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    VIRTUAL_ENV=/opt/venv \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
LABEL org.opencontainers.image.title="mlmodel-operator" \
      org.opencontainers.image.description="TFLite model serving on Kubernetes: mlmodel serve | operator | fetch" \
      org.opencontainers.image.licenses="Apache-2.0"
# Numeric, so runAsNonRoot can verify it without a passwd entry.
USER 65532:65532
WORKDIR /
EXPOSE 8080 8081
ENTRYPOINT ["mlmodel"]
CMD ["--help"]
