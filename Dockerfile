# One image, every role (worker, api, sandbox, the config step), chosen by the command; built
# once by docker-compose.yml and run by each service.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY domain domain
COPY workflows workflows
COPY activities activities
COPY runtime runtime
COPY http_api http_api
COPY sandbox sandbox
COPY cli cli
COPY aftersales_client aftersales_client
COPY demo demo
COPY i18n i18n
COPY notices notices
COPY worker.py policy.example.toml ./
# The tracing extra too, so AFTERSALES_TRACING=true works without another image.
RUN pip install --no-cache-dir '.[tracing]' \
    && useradd --system --uid 10001 --home-dir /app aftersales \
    && mkdir -p /config && chown aftersales /config
# Not root; /config (a volume in compose) holds the tokens file, owned by this user.
USER aftersales
# 8000: the API (and its /metrics); 9464: a worker's metrics (AFTERSALES_WORKER_METRICS).
EXPOSE 8000 9464
CMD ["python", "worker.py"]
