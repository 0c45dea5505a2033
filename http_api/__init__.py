"""The public HTTP API (``shared/API.md``): FastAPI over the case engine.

python -m http_api --host 127.0.0.1 --port 8000
"""

from http_api.app import create_app
from http_api.auth import TokensError, load_tokens

__all__ = ["TokensError", "create_app", "load_tokens"]
