"""A minimal client for an OpenAI-compatible `/completions` endpoint (a local Ollama or llama.cpp server).

    sftbench bench --experiment domain --api-base http://127.0.0.1:11434/v1 --api-model smollm2:135m

Off by default. Plain urllib, greedy (temperature 0); the key, if the server wants one, comes from an
environment variable, never from a file that could be committed.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request

from sftbench_common.errors import UserError


def complete(
    api_base: str, model: str, prompt: str, max_tokens: int, api_key_env: str = "OPENAI_API_KEY", timeout_s: float = 120
) -> str:
    url = api_base.rstrip("/") + "/completions"
    body = json.dumps({"model": model, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0}).encode()
    headers = {"Content-Type": "application/json"}
    if os.environ.get(api_key_env):
        headers["Authorization"] = f"Bearer {os.environ[api_key_env]}"
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            reply = json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as err:
        raise UserError(f"{url}: HTTP {err.code} {err.reason} for model '{model}'") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
        raise UserError(f"{url}: unreachable ({getattr(err, 'reason', err)}); is the server running?") from None
    except json.JSONDecodeError:
        raise UserError(f"{url}: the reply is not JSON; is this an OpenAI-compatible endpoint?") from None
    try:
        return reply["choices"][0]["text"]
    except (KeyError, IndexError, TypeError):
        raise UserError(f"{url}: the reply has no choices[0].text (got {json.dumps(reply)[:120]})") from None
