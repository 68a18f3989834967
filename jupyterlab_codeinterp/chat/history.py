"""Chat histories on disk, outside the notebook.

One JSON file per chat under ``<history_dir>/<notebook key>/<chat id>.json``. The key is a
hash of the notebook's *location* (``identity.py``: its absolute path on disk, or its path
inside a named storage), so two projects' ``t.ipynb`` never share a chat and any path is
safe as a folder name. Each notebook folder records its location and last known path in
``.notebook.json`` (not a valid chat id), so a renamed folder's chats can be found and
moved. Writes go through a temporary file and ``os.replace`` so a crash never leaves half
a file, and the files are readable by their owner only (they hold prompts and outputs).

Renames, moves and deletions made through the server (JupyterLab, the REST API) are
followed (``renames.py`` queues them: ``queue_move``, ``queue_delete``): the first store call after the event
applies them, under the store's lock, so nothing reads or writes a notebook's chats
before its move landed. Chats of notebooks moved some other way, and chats stored by
versions that keyed them by the relative path alone, are handled in ``list``.
"""

from __future__ import annotations

import collections
import hashlib
import json
import logging
import os
import re
import tempfile
import threading
import time
from typing import Any, Iterable, Optional

from .identity import NotebookLocator, under

log = logging.getLogger(__name__)

_CHAT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

#: a chat's display log keeps at most this many messages (oldest dropped first)
MAX_DISPLAY_MESSAGES = 2000

#: a notebook folder's record of where its notebook is
META_FILE = ".notebook.json"

#: chats moved while a turn may still hold their old path: (chat id, old location) -> new
MAX_REDIRECTS = 10_000


class ChatNotFound(KeyError):
    pass


def valid_chat_id(chat_id: str) -> bool:
    return bool(_CHAT_ID.match(chat_id or ""))


def legacy_key(notebook_path: str) -> str:
    """The folder name earlier versions used: a hash of the server-relative path only."""
    return hashlib.sha256(notebook_path.strip("/").encode("utf-8")).hexdigest()[:24]


def location_key(location: str) -> str:
    return "nb-" + hashlib.sha256(location.encode("utf-8")).hexdigest()[:32]


def _summary(data: dict[str, Any]) -> dict[str, Any]:
    return {k: data.get(k) for k in ("id", "title", "created", "updated", "turns", "usage")}


class ChatStore:
    def __init__(self, root: str, locator: NotebookLocator) -> None:
        self.root = root
        self.locator = locator
        self._lock = threading.RLock()
        self._moves: collections.deque[tuple[str, Optional[str]]] = collections.deque()
        self._redirects: dict[tuple[str, str], str] = {}

    # ------------------------------------------------------------------ where

    def _folder(self, location: str) -> str:
        return os.path.join(self.root, location_key(location))

    def _current_location(self, notebook_path: str, chat_id: str) -> str:
        """Where the chat is now: a turn that started before its notebook moved still
        names the old path, and must read and write the chat at its new place."""
        location = self.locator.location(notebook_path)
        for _ in range(64):  # chains of moves during one turn; never a cycle (see _moved)
            nxt = self._redirects.get((chat_id, location))
            if nxt is None:
                break
            location = nxt
        return location

    def _file(self, notebook_path: str, chat_id: str) -> str:
        if not valid_chat_id(chat_id):
            raise ValueError(f"invalid chat id {chat_id!r}")
        return os.path.join(self._folder(self._current_location(notebook_path, chat_id)), f"{chat_id}.json")

    def _legacy_file(self, notebook_path: str, chat_id: str) -> str:
        return os.path.join(self.root, legacy_key(notebook_path), f"{chat_id}.json")

    # ------------------------------------------------------------------ read

    def load(self, notebook_path: str, chat_id: str) -> dict[str, Any]:
        """A chat of this notebook; also one from an earlier version listed for it."""
        self._settle()
        path = self._file(notebook_path, chat_id)
        earlier = None
        if not os.path.exists(path):
            earlier = self._legacy_file(notebook_path, chat_id)
            path = earlier if os.path.exists(earlier) else path
        try:
            with open(path, encoding="utf-8") as fh:
                chat = json.load(fh)
        except FileNotFoundError:
            raise ChatNotFound(chat_id) from None
        except (OSError, json.JSONDecodeError) as exc:
            raise ChatNotFound(f"{chat_id}: unreadable ({exc})") from exc
        chat["notebook_path"] = notebook_path
        if path == earlier:
            chat["_earlier_version_file"] = earlier  # continuing it moves it here (save)
        return chat

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
        """The notebook's chats, newest first, then chats "from an earlier version".

        Those come from versions that keyed chats by the server-relative path alone, so
        the folder for ``t.ipynb`` may hold chats of every project's ``t.ipynb``. A chat
        whose id is in this notebook's generated cells is this notebook's: it is moved
        here. The others are listed after this notebook's own chats with
        ``earlier_version: true``, never opened by themselves; continuing one moves it
        here. Chats of a notebook moved outside the server are found the same way: a chat
        whose id is in this notebook's cells, stored for a location where nothing is
        any more, brings its notebook's whole folder here.
        """
        self._settle()
        location = self.locator.location(notebook_path)
        folder = self._folder(location)
        proof = self.locator.chat_ids_in(notebook_path)  # read outside the lock: saves go on
        if proof:
            with self._lock:
                self._claim(notebook_path, location, folder, proof)
        own = self._summaries(folder)
        own_ids = {c["id"] for c in own}
        earlier = [{**c, "earlier_version": True}
                   for c in self._summaries(os.path.join(self.root, legacy_key(notebook_path)))
                   if c["id"] not in own_ids]
        return own + earlier

    def _summaries(self, folder: str) -> list[dict[str, Any]]:
        chats = []
        for name in self._chat_files(folder):
            try:
                with open(os.path.join(folder, name), encoding="utf-8") as fh:
                    chats.append(_summary(json.load(fh)))
            except (OSError, json.JSONDecodeError):
                continue
        chats.sort(key=lambda c: c.get("updated") or 0, reverse=True)
        return chats

    @staticmethod
    def _chat_files(folder: str) -> list[str]:
        try:
            names = os.listdir(folder)
        except (FileNotFoundError, NotADirectoryError):
            return []
        return [n for n in names if n.endswith(".json") and valid_chat_id(n[:-5])]

    # ------------------------------------------------------------------ write

    def save(self, chat: dict[str, Any]) -> None:
        self._settle()
        chat["updated"] = time.time()
        if len(chat.get("display", [])) > MAX_DISPLAY_MESSAGES:
            chat["display"] = chat["display"][-MAX_DISPLAY_MESSAGES:]
        earlier = chat.get("_earlier_version_file")
        record = {k: v for k, v in chat.items() if not k.startswith("_")}
        with self._lock:
            location = self._current_location(chat["notebook_path"], chat["id"])
            folder = self._folder(location)
            self._ensure_folder(folder, location, chat["notebook_path"])
            path = os.path.join(folder, f"{self._checked(chat['id'])}.json")
            self._write_json(folder, path, record)
            if earlier:
                self._unlink(earlier)
                self._remove_if_empty(os.path.dirname(earlier))

    def delete(self, notebook_path: str, chat_id: str) -> bool:
        self._settle()
        with self._lock:
            found = self._unlink(self._file(notebook_path, chat_id))
            legacy = self._legacy_file(notebook_path, chat_id)
            if self._unlink(legacy):
                self._remove_if_empty(os.path.dirname(legacy))
                found = True
            return found

    @staticmethod
    def _checked(chat_id: str) -> str:
        if not valid_chat_id(chat_id):
            raise ValueError(f"invalid chat id {chat_id!r}")
        return chat_id

    def _ensure_folder(self, folder: str, location: str, notebook_path: str) -> None:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        if not os.path.exists(os.path.join(folder, META_FILE)):
            self._write_meta(folder, location, notebook_path)

    def _write_meta(self, folder: str, location: str, notebook_path: str) -> None:
        self._write_json(folder, os.path.join(folder, META_FILE),
                         {"location": location, "path": notebook_path.strip("/"), "format": 2})

    @staticmethod
    def _write_json(folder: str, path: str, data: dict[str, Any]) -> None:
        fd, tmp = tempfile.mkstemp(prefix=".chat-", suffix=".tmp", dir=folder)
        try:
            # dumps, not dump: json.dump streams through the pure-Python encoder
            text = json.dumps(data, ensure_ascii=False)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    @staticmethod
    def _unlink(path: str) -> bool:
        try:
            os.unlink(path)
            return True
        except FileNotFoundError:
            return False

    @staticmethod
    def _remove_if_empty(folder: str) -> None:
        try:
            names = os.listdir(folder)
            if names in ([], [META_FILE]):
                for name in names:
                    os.unlink(os.path.join(folder, name))
                os.rmdir(folder)
        except OSError:
            pass

    def _read_meta(self, folder: str) -> Optional[dict[str, Any]]:
        try:
            with open(os.path.join(folder, META_FILE), encoding="utf-8") as fh:
                meta = json.load(fh)
        except (OSError, json.JSONDecodeError):
            return None
        return meta if isinstance(meta, dict) and isinstance(meta.get("location"), str) else None

    # ------------------------------------------------------------------ moves

    def queue_move(self, old_path: str, new_path: str) -> None:
        """A file or folder was renamed: its chats follow on the next store call (cheap;
        call it on the server's loop as the rename is reported)."""
        self._moves.append((old_path, new_path))

    def queue_delete(self, path: str) -> None:
        """A file or folder was deleted: its chats are set aside (see ``_retire``)."""
        self._moves.append((path, None))

    def apply_moves(self) -> None:
        self._settle()

    def _settle(self) -> None:
        if not self._moves:
            return
        with self._lock:
            while self._moves:
                # taken off the queue only once done: a reader that finds the queue
                # non-empty waits on the lock until the move is complete
                old_path, new_path = self._moves[0]
                try:
                    if new_path is None:
                        self._retire(old_path)
                    else:
                        self._move(old_path, new_path)
                except OSError:  # the chats stay where they were; list() can still claim them
                    log.exception("could not move the chats of %s to %s", old_path, new_path)
                finally:
                    self._moves.popleft()

    def _move(self, old_path: str, new_path: str) -> None:
        old_loc, new_loc = self.locator.location(old_path), self.locator.location(new_path)
        if old_loc == new_loc:
            return
        src = self._folder(old_loc)
        if os.path.isdir(src):
            self._move_folder(src, old_loc, new_loc, new_path)
        new_os = self.locator.os_path(new_path)
        if new_os is not None and not os.path.isdir(new_os):
            return  # a file: nothing below it
        for folder, meta in self._notebook_folders():
            rest = under(meta["location"], old_loc)
            if rest is not None:
                self._move_folder(folder, meta["location"], new_loc + "/" + rest,
                                  new_path.strip("/") + "/" + rest)

    def _retire(self, path: str) -> None:
        """Set aside the chats of a deleted notebook (or of every one in a deleted folder):
        a new notebook later created under the same name is another notebook and starts
        without them. They keep their record of where they were, so a notebook that comes
        back there (restored from the trash, checked out again) and names them in its cells
        gets them back (``_claim``)."""
        location = self.locator.location(path)
        targets = [(self._folder(location), location)]
        targets += [(folder, meta["location"]) for folder, meta in self._notebook_folders()
                    if under(meta["location"], location) is not None]
        for folder, loc in targets:
            if os.path.isdir(folder):
                os.rename(folder, os.path.join(self.root, location_key(f"{loc}\0deleted\0{time.time_ns()}")))

    def _move_folder(self, src: str, old_loc: str, new_loc: str, new_path: str) -> None:
        """Move one notebook's chats to its new location (merged if some are there)."""
        dst = self._folder(new_loc)
        names = self._chat_files(src)
        if not os.path.exists(dst):
            os.rename(src, dst)
        else:
            for name in names:
                if not os.path.exists(os.path.join(dst, name)):
                    os.replace(os.path.join(src, name), os.path.join(dst, name))
            self._remove_if_empty(src)
        self._write_meta(dst, new_loc, new_path)
        for name in names:
            self._moved(name[:-5], old_loc, new_loc)

    def _moved(self, chat_id: str, old_loc: str, new_loc: str) -> None:
        if old_loc == new_loc:
            return
        self._redirects.pop((chat_id, new_loc), None)  # it lives there now: no cycle
        self._redirects[(chat_id, old_loc)] = new_loc
        while len(self._redirects) > MAX_REDIRECTS:
            self._redirects.pop(next(iter(self._redirects)))

    def _folder_names(self) -> list[str]:
        try:
            names = os.listdir(self.root)
        except FileNotFoundError:
            return []
        return [os.path.join(self.root, n) for n in names if n.startswith("nb-")]

    def _notebook_folders(self) -> Iterable[tuple[str, dict[str, Any]]]:
        for folder in self._folder_names():
            meta = self._read_meta(folder)
            if meta is not None:
                yield folder, meta

    # ------------------------------------------------------------------ claims

    def _claim(self, notebook_path: str, location: str, folder: str, proof: set[str]) -> None:
        """Bring here the chats this notebook's generated cells (``proof``: their chat ids)
        show are its own."""
        wanted = proof - {n[:-5] for n in self._chat_files(folder)}
        if not wanted:
            return
        legacy = os.path.join(self.root, legacy_key(notebook_path))
        for name in self._chat_files(legacy):
            if name[:-5] in wanted:
                self._ensure_folder(folder, location, notebook_path)
                os.replace(os.path.join(legacy, name), os.path.join(folder, name))
                wanted.discard(name[:-5])
        self._remove_if_empty(legacy)
        if not wanted:
            return
        for other in self._folder_names():
            if other == folder or not any(os.path.exists(os.path.join(other, f"{i}.json")) for i in wanted):
                continue
            meta = self._read_meta(other)
            if meta is None or (meta["location"] != location and self.locator.exists(meta["location"]) is not False):
                continue  # its notebook is still there (this one is a copy): leave it
            wanted -= {n[:-5] for n in self._chat_files(other)}
            self._move_folder(other, meta["location"], location, notebook_path)
            if not wanted:
                return
