"""Chat histories on disk, outside the notebook.

One JSON file per chat under ``<history_dir>/<notebook key>/<chat id>.json``; the key is a
hash of the notebook's server-relative path, so any path is safe as a folder name. Writes go
through a temporary file and ``os.replace`` so a crash never leaves half a file, and the
files are readable by their owner only (they hold prompts and outputs).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import threading
import time
from typing import Any

_CHAT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

#: a chat's display log keeps at most this many messages (oldest dropped first)
MAX_DISPLAY_MESSAGES = 2000


class ChatNotFound(KeyError):
    pass


def valid_chat_id(chat_id: str) -> bool:
    return bool(_CHAT_ID.match(chat_id or ""))


class ChatStore:
    def __init__(self, root: str) -> None:
        self.root = root
        self._lock = threading.Lock()

    def _dir(self, notebook_path: str) -> str:
        key = hashlib.sha256(notebook_path.strip("/").encode("utf-8")).hexdigest()[:24]
        return os.path.join(self.root, key)

    def _file(self, notebook_path: str, chat_id: str) -> str:
        if not valid_chat_id(chat_id):
            raise ValueError(f"invalid chat id {chat_id!r}")
        return os.path.join(self._dir(notebook_path), f"{chat_id}.json")

    # ------------------------------------------------------------------ read

    def load(self, notebook_path: str, chat_id: str) -> dict[str, Any]:
        path = self._file(notebook_path, chat_id)
        try:
            with open(path, encoding="utf-8") as fh:
                return json.load(fh)
        except FileNotFoundError:
            raise ChatNotFound(chat_id) from None
        except (OSError, json.JSONDecodeError) as exc:
            raise ChatNotFound(f"{chat_id}: unreadable ({exc})") from exc

    def load_or_new(self, notebook_path: str, chat_id: str) -> dict[str, Any]:
        try:
            return self.load(notebook_path, chat_id)
        except ChatNotFound:
            now = time.time()
            return {"id": chat_id, "notebook_path": notebook_path, "title": "", "created": now,
                    "updated": now, "turns": 0, "usage": {"prompt_tokens": 0, "completion_tokens": 0,
                                                          "total_tokens": 0, "cost": None},
                    "conversation": [], "display": []}

    def list(self, notebook_path: str) -> list[dict[str, Any]]:
        folder = self._dir(notebook_path)
        chats = []
        try:
            names = os.listdir(folder)
        except FileNotFoundError:
            return []
        for name in names:
            if not name.endswith(".json"):
                continue
            try:
                with open(os.path.join(folder, name), encoding="utf-8") as fh:
                    data = json.load(fh)
            except (OSError, json.JSONDecodeError):
                continue
            chats.append({k: data.get(k) for k in ("id", "title", "created", "updated", "turns", "usage")})
        chats.sort(key=lambda c: c.get("updated") or 0, reverse=True)
        return chats

    # ------------------------------------------------------------------ write

    def save(self, chat: dict[str, Any]) -> None:
        chat["updated"] = time.time()
        if len(chat.get("display", [])) > MAX_DISPLAY_MESSAGES:
            chat["display"] = chat["display"][-MAX_DISPLAY_MESSAGES:]
        path = self._file(chat["notebook_path"], chat["id"])
        folder = os.path.dirname(path)
        with self._lock:
            os.makedirs(folder, mode=0o700, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".chat-", suffix=".json", dir=folder)
            try:
                # dumps, not dump: json.dump streams through the pure-Python encoder
                text = json.dumps(chat, ensure_ascii=False)
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    fh.write(text)
                os.chmod(tmp, 0o600)
                os.replace(tmp, path)
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise

    def delete(self, notebook_path: str, chat_id: str) -> bool:
        try:
            os.unlink(self._file(notebook_path, chat_id))
            return True
        except FileNotFoundError:
            return False

