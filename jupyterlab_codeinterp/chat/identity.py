"""Which notebook a chat belongs to: an identity that differs between projects.

A server-relative path ("t.ipynb") names a different notebook in every folder a server
is started in, so chats are keyed by the notebook's **location**:

- with a file-system contents manager (jupyter_server's file managers and their
  subclasses, jupytext's included): the notebook's absolute path on disk, symlinks
  resolved (``file:/home/me/project/t.ipynb``). Two servers started in different folders
  never share a chat; two servers whose roots contain the same file do.
- with any other contents manager (S3, databases...): the server-relative path inside a
  *scope* naming the storage (``contents:<scope>/t.ipynb``). The scope is
  ``c.CodeInterp.history_scope`` when set (say ``s3://bucket/prefix``, so servers over the
  same storage share chats), else the manager's class, its ``root_dir`` and the server's
  root folder: never shared between two storages, at the price of not being shared either
  between servers started in different folders over the same storage.

Generated cells carry their chat's id (``metadata.codeinterp.chat_id``), which proves
which notebook a chat belongs to when its location cannot (see ``ChatStore.list``).
"""

from __future__ import annotations

import os
import re
from typing import Any, Optional

#: chat ids recorded in generated cells' metadata (``"chat_id": "..."``)
_CHAT_ID_IN_JSON = re.compile(rb'"chat_id"\s*:\s*"([A-Za-z0-9_-]{1,64})"')

#: notebooks larger than this are not read to look for chat ids (they hold outputs, not ids)
MAX_NOTEBOOK_SCAN_BYTES = 64 * 1024 * 1024


def is_file_based(contents_manager: Any) -> bool:
    """True for contents managers that store files on this machine's file system."""
    try:
        from jupyter_server.services.contents.fileio import FileManagerMixin
    except ImportError:  # pragma: no cover - jupyter_server always has it
        return False
    return isinstance(contents_manager, FileManagerMixin)


class NotebookLocator:
    """Maps a server-relative notebook path to the notebook's location (see module doc)."""

    def __init__(self, *, root_dir: Optional[str] = None, scope: str = "") -> None:
        if (root_dir is None) == (not scope):
            raise ValueError("give either the root folder of a file system or a scope")
        self.root_dir = os.path.realpath(os.path.expanduser(root_dir)) if root_dir is not None else None
        self.scope = scope.rstrip("/")

    @classmethod
    def for_server(cls, contents_manager: Any, *, server_root: str, scope: str = "") -> "NotebookLocator":
        """The locator for a running server: its contents manager decides."""
        if scope:
            return cls(scope=scope)
        if contents_manager is None or is_file_based(contents_manager):
            root = getattr(contents_manager, "root_dir", None) or server_root
            return cls(root_dir=root)
        kind = f"{type(contents_manager).__module__}.{type(contents_manager).__qualname__}"
        cm_root = str(getattr(contents_manager, "root_dir", "") or "")
        return cls(scope=f"{kind}:{cm_root}@{os.path.realpath(server_root)}")

    @property
    def file_based(self) -> bool:
        return self.root_dir is not None

    def os_path(self, path: str) -> Optional[str]:
        """Where ``path`` is on disk, symlinks resolved (None without a file system)."""
        if self.root_dir is None:
            return None
        rel = path.strip("/")
        return os.path.realpath(os.path.join(self.root_dir, *rel.split("/"))) if rel else self.root_dir

    def location(self, path: str) -> str:
        """The notebook's identity: the same for the same notebook, whatever server asks."""
        os_path = self.os_path(path)
        if os_path is not None:
            return "file:" + os.path.normcase(os_path).replace(os.sep, "/")
        return f"contents:{self.scope}/{path.strip('/')}"

    def exists(self, location: str) -> Optional[bool]:
        """Is something at ``location`` now? None when this locator cannot tell."""
        if location.startswith("file:") and self.root_dir is not None:
            return os.path.exists(location[len("file:"):].replace("/", os.sep))
        return None

    def chat_ids_in(self, path: str) -> set[str]:
        """Chat ids the notebook's generated cells carry (only read from a file system)."""
        os_path = self.os_path(path)
        if os_path is None:
            return set()
        try:
            if os.path.getsize(os_path) > MAX_NOTEBOOK_SCAN_BYTES:
                return set()
            with open(os_path, "rb") as fh:
                data = fh.read()
        except OSError:
            return set()
        if b'"codeinterp"' not in data:
            return set()
        return {m.decode("ascii") for m in _CHAT_ID_IN_JSON.findall(data)}


def under(location: str, folder_location: str) -> Optional[str]:
    """The '/'-separated rest of ``location`` below ``folder_location``, or None."""
    prefix = folder_location.rstrip("/") + "/"
    return location[len(prefix):] if location.startswith(prefix) else None
