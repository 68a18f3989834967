"""Find OpenAI-compatible model servers already running on this machine.

With no API key configured, the settings UI offers what it finds: Ollama on 11434, LM Studio
on 1234, vLLM on 8000, llama.cpp server on 8080 (the presets' default ports).  Why it is
safe and cheap enough to do on every ``GET codeinterp/config``:

* **loopback only** — ``127.0.0.1``; nothing is ever sent to another host, so opening the
  settings cannot scan a network;
* **short timeouts** — a closed port refuses at once; an open one must answer
  ``GET /v1/models`` within ``timeout`` (0.3 s by default), and the whole probe is bounded
  by one ``asyncio.wait_for`` well under a second;
* **cached** — the result is kept for ``ttl`` seconds (30 by default) and concurrent callers
  share one probe in flight;
* **strict** — only a JSON answer with a ``data`` list counts (a Jupyter server or some other
  web app on port 8000/8080 answers 404 or HTML and is ignored).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Optional

import httpx

from .presets import LOCAL_PRESETS, PRESETS

LOOPBACK = "127.0.0.1"
DEFAULT_TIMEOUT = 0.3
DEFAULT_TTL = 30.0

_cache: dict[tuple, tuple[float, list[dict[str, Any]]]] = {}
_inflight: dict[tuple, "asyncio.Future[list[dict[str, Any]]]"] = {}


def default_ports() -> dict[str, int]:
    """preset name -> default loopback port."""
    return {p.name: int(p.port) for p in LOCAL_PRESETS if p.port}


def forget_discovery_cache() -> None:
    _cache.clear()


async def _probe(client: httpx.AsyncClient, preset: str, port: int) -> Optional[dict[str, Any]]:
    base_url = f"http://{LOOPBACK}:{port}/v1"
    try:
        resp = await client.get(f"{base_url}/models", headers={"Authorization": "Bearer sk-no-key"})
    except (httpx.HTTPError, OSError):
        return None
    if resp.status_code != 200:
        return None
    try:
        data = resp.json()
    except ValueError:
        return None
    items = data.get("data") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return None
    models = [str(m.get("id")) for m in items if isinstance(m, dict) and m.get("id")]
    p = PRESETS.get(preset)
    return {"preset": preset, "label": p.label if p else preset, "base_url": base_url,
            "models": models}


async def discover_local_servers(ports: Optional[dict[str, int]] = None, *,
                                 timeout: float = DEFAULT_TIMEOUT) -> list[dict[str, Any]]:
    """Probe ``ports`` (preset -> port; default: every local preset's default port) on
    loopback, in parallel; return ``[{"preset", "label", "base_url", "models"}]`` for the
    servers that answered ``/v1/models``, in the order of ``ports``. Never raises."""
    ports = dict(default_ports() if ports is None else ports)
    if not ports:
        return []
    limits = httpx.Timeout(timeout, connect=timeout)
    try:
        async with httpx.AsyncClient(timeout=limits, trust_env=False,
                                     follow_redirects=False) as client:
            found = await asyncio.wait_for(
                asyncio.gather(*(_probe(client, name, port) for name, port in ports.items())),
                timeout=timeout * 2 + 0.1)
    except (asyncio.TimeoutError, httpx.HTTPError, OSError):
        return []
    seen: set[str] = set()
    out = []
    for item in found:
        if item and item["base_url"] not in seen:
            seen.add(item["base_url"])
            out.append(item)
    return out


async def cached_discovery(ports: Optional[dict[str, int]] = None, *,
                           timeout: float = DEFAULT_TIMEOUT,
                           ttl: float = DEFAULT_TTL) -> list[dict[str, Any]]:
    """:func:`discover_local_servers`, cached for ``ttl`` seconds; callers share a probe."""
    key = tuple(sorted((ports if ports is not None else default_ports()).items()))
    now = time.monotonic()
    hit = _cache.get(key)
    if hit and now - hit[0] < ttl:
        return hit[1]
    running = _inflight.get(key)
    if running is not None:
        return await asyncio.shield(running)
    fut: asyncio.Future[list[dict[str, Any]]] = asyncio.get_running_loop().create_future()
    _inflight[key] = fut
    try:
        result = await discover_local_servers(ports, timeout=timeout)
        _cache[key] = (time.monotonic(), result)
        fut.set_result(result)
        return result
    except BaseException as exc:  # pragma: no cover - discover never raises but be safe
        fut.set_exception(exc)
        raise
    finally:
        _inflight.pop(key, None)
        if fut.done() and not fut.cancelled():
            fut.exception()  # mark retrieved
