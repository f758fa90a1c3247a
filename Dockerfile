# One image for both planes. ENTRYPOINT is the `mlmodel` console script, so the
# operator, the inference server and the init-container fetcher are
#   mlmodel operator ... | mlmodel serve ... | mlmodel fetch ...
# Build daemonless with hack/build-image.sh (buildah), or with any engine:
#   docker build -t mlmodel-operator:0.1.0 .
# BASE_IMAGE must provide python3 3.11 with the venv module (the official slim
# image does; so does a Debian bookworm debootstrap with python3 + python3-venv,
# hack/build-image.sh's default here), and apt. The runtime image is that base
# with what only installs or builds software taken out (runtime-root below), so
# the venv's python symlink resolves at run time.
ARG BASE_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------- build stage
FROM ${BASE_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1 \
    PIP_PROGRESS_BAR=off \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src

# binutils (strip) for the trims below; the build stage only, first, so
# its layer is reused by every later build.
RUN set -eu; \
    export DEBIAN_FRONTEND=noninteractive; \
    apt-get update -qq; \
    apt-get install -y -qq --no-install-recommends binutils >/dev/null; \
    rm -rf /var/lib/apt/lists/*

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

# Trims (TRIM=0 keeps the venv as pip left it). The checks after them import
# every extension module left, decode the three image types the server accepts
# and multiply on OpenBLAS; hack/image-smoke.sh then serves, fetches and imports
# the operator:
# * LiteRT parts the Interpreter API (all mlmodel uses, XNNPACK on CPU) never
#   loads: the WebGPU accelerator, libLiteRt.so (CompiledModel API; loaded only
#   if present), the AOT plugin tool and NPU vendor compiler plugins (~37 MB).
# * Pillow decoders and helpers the server never uses (it opens JPEG, PNG and
#   BMP only, vision/image.py): AVIF, WebP, FreeType fonts, colour management,
#   Tk, ImageMath, ImageMorph, and the bundled libraries only they load (~10 MB).
# * numpy's build tools (distutils, f2py), its SIMD test module and static
#   libraries (~5 MB).
# * debug information and symbol tables of extension modules (~26 MB; uvloop
#   alone carries 12 MB of DWARF). Never the libraries auditwheel grafted into
#   the *.libs directories: strip broke numpy's OpenBLAS there ("ELF load
#   command address/offset not page-aligned").
# * test suites, C sources/headers and type stubs shipped inside dependencies.
# All other bytecode stays: uid 65532 cannot write __pycache__ at run time.
ARG TRIM=1
RUN set -eu; \
    site=$(/opt/venv/bin/python3 -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'); \
    if [ "$TRIM" = 1 ]; then \
      rm -f "$site/ai_edge_litert/libLiteRtWebGpuAccelerator.so" "$site/ai_edge_litert/libLiteRt.so" \
            "$site/ai_edge_litert/tools/apply_plugin_main" "$site"/ai_edge_litert/vendors/*/compiler/*.so; \
      for m in _avif _webp _imagingft _imagingcms _imagingtk _imagingmath _imagingmorph; do \
        rm -f "$site"/PIL/$m.*.so; \
      done; \
      for lib in libavif libwebp libwebpmux libwebpdemux libsharpyuv libfreetype libharfbuzz liblcms2 \
                 libbrotlicommon libbrotlidec libpng16; do \
        rm -f "$site"/pillow.libs/$lib-*.so*; \
      done; \
      rm -rf "$site/numpy/distutils" "$site/numpy/f2py" "$site"/numpy/_core/_simd.*.so /opt/venv/bin/f2py; \
      find "$site" -depth -mindepth 2 -type d -name tests -exec rm -rf {} +; \
      find "$site" -type f \( -name '*.pyi' -o -name '*.pyx' -o -name '*.pxd' -o -name '*.c' -o -name '*.h' \
                             -o -name '*.a' \) -delete; \
      find "$site" -name '*.so*' -type f -not -path '*.libs/*' -exec strip --strip-unneeded {} +; \
    fi; \
    /opt/venv/bin/mlmodel --version; \
    /opt/venv/bin/python3 -c 'import ai_edge_litert.interpreter, fastapi, kopf, lightkube, mlmodel_operator.main, numpy, PIL.Image, uvloop'; \
    /opt/venv/bin/python3 -c 'import importlib, io, pathlib, sysconfig, numpy; from PIL import Image; \
      site = pathlib.Path(sysconfig.get_paths()["purelib"]); \
      names = [".".join(p.relative_to(site).parts[:-1] + (p.name.split(".")[0],)) for p in site.rglob("*.so") \
               if not p.name.startswith("lib") and not any(x.endswith(".libs") for x in p.relative_to(site).parts)]; \
      [importlib.import_module(n) for n in names]; \
      encoded = lambda fmt: (b := io.BytesIO(), Image.new("RGB", (8, 8), (200, 10, 10)).save(b, fmt), b.getvalue())[2]; \
      decoded = lambda fmt: Image.open(io.BytesIO(encoded(fmt)), formats=[fmt]).convert("RGB").getpixel((4, 4)); \
      assert all(decoded(fmt)[0] > 150 for fmt in ("JPEG", "PNG", "BMP")); \
      assert float((numpy.ones((64, 64)) @ numpy.ones((64, 64))).sum()) == 64.0**3; \
      print(len(names), "extension modules import; JPEG, PNG, BMP decode; OpenBLAS multiplies")'

# ------------------------------------------------------- runtime root stage
# The base without what only installs, builds or administers software. Debian
# packages are purged through dpkg (their maintainer scripts and trigger
# activations removed first, so none runs: the shells go too), which keeps
# /var/lib/dpkg/status true to the files for image scanners, every package left
# fully installed ("ii"); kept are dpkg (for that database), python3 and the
# libraries its modules load, ca-certificates and media-types. Gone: apt and its crypto stack,
# perl and debconf, login/passwd/PAM, util-linux and e2fsprogs, Kerberos/NIS
# (the stdlib's nis module only), SQLite, gdbm, readline, tzdata (the operator
# and the server work in UTC), the pip/setuptools wheels and venv support, and
# every shell and coreutils: nothing in the image runs a shell (the chart's pods
# run `mlmodel`), hack/image-smoke.sh serves with the shells deleted, and
# `kubectl debug --target` brings a shell when one is needed. Outside dpkg:
# glibc's iconv modules (gconv; Python's codecs do not use them) and stdlib
# packages no runtime imports (idlelib, lib2to3, pydoc_data, tkinter, ensurepip,
# the test package) with the extension modules of purged libraries. The purge
# comes last: after it this RUN has no rm left.
FROM ${BASE_IMAGE} AS runtime-root
ARG TRIM=1
RUN set -eu; \
    if [ "$TRIM" = 1 ]; then \
      stdlib=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])'); \
      multiarch=$(python3 -c 'import sysconfig; print(sysconfig.get_config_var("MULTIARCH") or "")'); \
      rm -rf "$stdlib"/idlelib "$stdlib"/lib2to3 "$stdlib"/pydoc_data "$stdlib"/tkinter "$stdlib"/turtledemo \
             "$stdlib"/ensurepip "$stdlib"/test "$stdlib"/distutils "$stdlib"/sqlite3 "$stdlib"/curses \
             "$stdlib"/lib-dynload/_sqlite3.* "$stdlib"/lib-dynload/_curses* "$stdlib"/lib-dynload/readline.* \
             "$stdlib"/lib-dynload/_dbm.* "$stdlib"/lib-dynload/_gdbm.* "$stdlib"/lib-dynload/nis.* \
             "$stdlib"/lib-dynload/_tkinter.* /usr/lib/"$multiarch"/gconv /usr/share/python-wheels \
             /var/cache/debconf /var/cache/apt /var/lib/apt /var/log/* /etc/localtime /etc/timezone; \
      purge=; \
      for p in apt libapt-pkg6.0 gpgv debian-archive-keyring libgnutls30 libhogweed6 libnettle8 libgmp10 \
               libidn2-0 libp11-kit0 libtasn1-6 libunistring2 libgcrypt20 libgpg-error0 libseccomp2 \
               libxxhash0 liblz4-1 libsystemd0 libudev1 perl-base debconf libdebconfclient0 adduser \
               login passwd libpam-modules libpam-modules-bin libpam-runtime libpam0g libsemanage2 \
               libsemanage-common libsepol2 libaudit1 libaudit-common libcap-ng0 libcap2 util-linux \
               util-linux-extra libblkid1 libmount1 libsmartcols1 mount bsdutils e2fsprogs libext2fs2 \
               libcom-err2 libss2 logsave sysvinit-utils init-system-helpers hostname libkrb5-3 \
               libgssapi-krb5-2 libk5crypto3 libkrb5support0 libkeyutils1 libtirpc3 libtirpc-common \
               libnsl2 libdb5.3 libsqlite3-0 libgdbm6 libgdbm-compat4 tzdata python3-pip-whl \
               python3-setuptools-whl python3.11-venv python3-venv python3-distutils python3-lib2to3 \
               bash coreutils diffutils findutils grep sed gzip tar mawk debianutils ncurses-bin \
               ncurses-base libreadline8 readline-common libncursesw6 libtinfo6 libacl1 libattr1 dash; do \
        if dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed; then purge="$purge $p"; fi; \
      done; \
      for p in $purge; do \
        rm -f /var/lib/dpkg/info/"$p".*rm /var/lib/dpkg/info/"$p":*.*rm \
              /var/lib/dpkg/info/"$p".triggers /var/lib/dpkg/info/"$p":*.triggers; \
      done; \
      python3 -c 'import bz2, ctypes, decimal, hashlib, lzma, ssl, uuid, zlib'; \
      dpkg --purge --force-remove-essential --force-depends --no-triggers $purge >/dev/null 2>&1 \
        || { dpkg --audit; exit 1; }; \
      ldconfig; \
      dpkg-query -W -f='${db:Status-Abbrev}\n' \
        | python3 -c 'import sys; left = sys.stdin.read().split(); assert set(left) == {"ii"}, left'; \
      python3 -c 'import bz2, ctypes, decimal, hashlib, lzma, ssl, uuid, zlib; print("runtime root: python3 ok")'; \
    fi

# -------------------------------------------------------------- runtime stage
# Two layers: the trimmed base (the same for every build of one base) and the venv.
FROM scratch
COPY --from=runtime-root / /
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 \
    VIRTUAL_ENV=/opt/venv \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
# The venv's extension modules against the trimmed base (no shell: exec form).
RUN ["/opt/venv/bin/python3", "-c", "import importlib, pathlib, sysconfig; site = pathlib.Path(sysconfig.get_paths()['purelib']); names = ['.'.join(p.relative_to(site).parts[:-1] + (p.name.split('.')[0],)) for p in site.rglob('*.so') if not p.name.startswith('lib') and not any(x.endswith('.libs') for x in p.relative_to(site).parts)]; [importlib.import_module(n) for n in names]; import mlmodel_operator.main, mlmodel_server.app, mlmodel_fetch, mlmodel_activator; print(len(names), 'extension modules import on the runtime root')"]
LABEL org.opencontainers.image.title="mlmodel-operator" \
      org.opencontainers.image.description="TFLite model serving on Kubernetes: mlmodel serve | operator | fetch" \
      org.opencontainers.image.licenses="Apache-2.0"
# Numeric, so runAsNonRoot can verify it without a passwd entry.
USER 65532:65532
WORKDIR /
EXPOSE 8080 8081
ENTRYPOINT ["mlmodel"]
CMD ["--help"]
