"""Checking paths that come from the browser: they must stay inside the server root."""

from __future__ import annotations

import os


class PathError(ValueError):
    """A path that is malformed or leads outside the server root."""


def resolve_notebook_path(root_dir: str, path: str) -> str:
    """The normalized server-relative form of ``path`` ('/'-separated, no leading slash).

    Rejects absolute paths, ``..`` segments that climb out of the root, NUL bytes and
    symlinks that resolve outside the root.
    """
    if not isinstance(path, str) or not path.strip():
        raise PathError("a notebook path is required")
    if "\x00" in path or len(path) > 4096:
        raise PathError("invalid notebook path")
    rel = path.replace("\\", "/").strip()
    if rel.startswith("/") or (len(rel) > 1 and rel[1] == ":"):
        raise PathError(f"the path must be relative to the server root: {path!r}")
    norm = os.path.normpath(rel).replace(os.sep, "/")
    if norm == ".." or norm.startswith("../") or norm.startswith("/"):
        raise PathError(f"the path leads outside the server root: {path!r}")
    root_real = os.path.realpath(root_dir)
    full = os.path.realpath(os.path.join(root_real, norm))
    if not (full == root_real or full.startswith(root_real + os.sep)):
        raise PathError(f"the path leads outside the server root: {path!r}")
    return "" if norm == "." else norm
