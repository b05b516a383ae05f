# A small image of the gateway: slim Python, non-root, configured by environment.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 gateway && mkdir /data && chown gateway /data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER gateway
# The request log (SQLite), its journal and its spill files live in the working directory: a
# volume, so that records outlive the container (or point LLMGATEWAY_DATABASE_URL at PostgreSQL).
WORKDIR /data
VOLUME /data
# The shutdown grace stays under `docker stop`'s 10 s, so in-flight calls end and are recorded
# before Docker kills the process. Ollama on the host is host.docker.internal (on Linux, run
# with --add-host=host.docker.internal:host-gateway).
ENV LLMGATEWAY_HOST=0.0.0.0 \
    LLMGATEWAY_PORT=8000 \
    LLMGATEWAY_DATABASE_URL=sqlite+aiosqlite:////data/llmgateway.db \
    LLMGATEWAY_SHUTDOWN_GRACE_S=8 \
    OLLAMA_HOST=http://host.docker.internal:11434 \
    PYTHONUNBUFFERED=1
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import os, sys, urllib.request; port = os.environ.get('LLMGATEWAY_PORT', '8000'); sys.exit(urllib.request.urlopen(f'http://127.0.0.1:{port}/health', timeout=2).status != 200)"
CMD ["llmgateway", "serve"]
