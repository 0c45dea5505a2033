# One image, several roles (worker, api, sandbox), chosen by the command.
FROM python:3.11-slim
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
COPY worker.py policy.example.toml ./
RUN pip install --no-cache-dir .
CMD ["python", "worker.py"]
