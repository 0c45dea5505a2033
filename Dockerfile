# One image, every role (worker, api, sandbox, the config step), chosen by the command; built
# once by docker-compose.yml and run by each service.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /app
# Everything but what .dockerignore leaves out (tests, docs, caches): a package added to the
# project is in the image without another line here (tests/operations/test_deploy.py checks).
COPY . .
# The tracing extra too, so AFTERSALES_TRACING=true works without another image.
RUN pip install --no-cache-dir '.[tracing]' \
    && useradd --system --uid 10001 --home-dir /app aftersales \
    && mkdir -p /config /data && chown aftersales /config /data
# Not root; /config (a volume in compose) holds the tokens file and /data the event store, owned by this user.
USER aftersales
# 8000: the API (and its /metrics); 9464: a worker's metrics (AFTERSALES_WORKER_METRICS).
EXPOSE 8000 9464
CMD ["python", "worker.py"]
