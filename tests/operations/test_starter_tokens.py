"""``python -m http_api --init-tokens PATH``: the compose stack's config step writes a usable
tokens file once and never replaces one (tokens stay valid across restarts)."""

from __future__ import annotations

import stat

from http_api.__main__ import main
from http_api.auth import STARTER_PRINCIPALS, load_tokens


def test_init_tokens_writes_once_and_keeps_the_file(tmp_path, capsys):
    path = tmp_path / "config" / "tokens.json"
    main(["--init-tokens", str(path)])
    assert "wrote a starter tokens file" in capsys.readouterr().out
    first = load_tokens(path)
    assert sorted(first.values(), key=str) == sorted(STARTER_PRINCIPALS, key=str)
    assert all(len(token) > 30 for token in first)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    main(["--init-tokens", str(path)])
    assert "keeping the tokens file" in capsys.readouterr().out
    assert load_tokens(path) == first
