"""The chat store keys chats by the notebook's location, follows moves, and handles chats of
earlier versions (keyed by the server-relative path alone) without showing one project's
chat to another project's notebook. Real files in temporary folders; the server-level
tests (two real servers, renames through the REST API) are in test_history_server.py."""

from __future__ import annotations

import json
import os
import shutil
import threading

import nbformat
import pytest

from jupyterlab_codeinterp.chat.history import META_FILE, ChatNotFound, ChatStore, legacy_key
from jupyterlab_codeinterp.chat.identity import NotebookLocator, under
from jupyterlab_codeinterp.chat.renames import moved_path


@pytest.fixture
def place(tmp_path):
    """Two project folders and one history folder (one user's jupyter data dir)."""
    a, b, history = tmp_path / "projA", tmp_path / "projB", tmp_path / "history"
    a.mkdir()
    b.mkdir()
    return a, b, str(history)


def store_for(root, history: str) -> ChatStore:
    return ChatStore(history, NotebookLocator(root_dir=str(root)))


def chat_with(store: ChatStore, path: str, chat_id: str, title: str) -> dict:
    chat = store.load_or_new(path, chat_id)
    chat["title"] = title
    chat["turns"] = 1
    chat["conversation"] = [{"role": "user", "content": title}]
    chat["display"] = [{"type": "turn_start", "chat_id": chat_id, "turn": 1, "prompt": title}]
    store.save(chat)
    return chat


def write_notebook(path, chat_ids=()) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("x = 1"))  # the user's own cell
    for chat_id in chat_ids:
        nb.cells.append(nbformat.v4.new_code_cell(
            "print(x)", metadata={"codeinterp": {"generated": True, "chat_id": chat_id, "turn": 1}}))
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))


def write_legacy_chat(history: str, notebook_path: str, chat_id: str, title: str) -> str:
    """A chat as earlier versions stored it: under a hash of the relative path only."""
    folder = os.path.join(history, legacy_key(notebook_path))
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{chat_id}.json")
    with open(path, "w", encoding="utf-8") as fh:
        json.dump({"id": chat_id, "notebook_path": notebook_path, "title": title, "created": 1.0, "updated": 2.0,
                   "turns": 1, "usage": {}, "conversation": [{"role": "user", "content": title}],
                   "display": [{"type": "turn_start", "prompt": title}]}, fh)
    return path


def ids(chats: list[dict]) -> list[str]:
    return [c["id"] for c in chats]


def test_same_relative_path_in_two_projects_gets_two_chats(place):
    a, b, history = place
    sa, sb = store_for(a, history), store_for(b, history)
    chat_with(sa, "t.ipynb", "chatA", "sales in A")
    assert ids(sa.list("t.ipynb")) == ["chatA"]
    assert sb.list("t.ipynb") == []
    with pytest.raises(ChatNotFound):
        sb.load("t.ipynb", "chatA")
    assert sb.load_or_new("t.ipynb", "chatA")["conversation"] == []  # a new chat, not A's
    chat_with(sb, "t.ipynb", "chatB", "weather in B")
    assert ids(sa.list("t.ipynb")) == ["chatA"]
    assert ids(sb.list("t.ipynb")) == ["chatB"]
    # the same project opened by a server started one folder up: the same notebook, the same chat
    parent = store_for(a.parent, history)
    assert ids(parent.list("projA/t.ipynb")) == ["chatA"]
    assert parent.load("projA/t.ipynb", "chatA")["title"] == "sales in A"


def test_the_folder_records_its_notebook(place):
    a, _b, history = place
    store = store_for(a, history)
    chat_with(store, "sub/t.ipynb", "c1", "hello")
    (folder,) = os.listdir(history)
    meta = json.load(open(os.path.join(history, folder, META_FILE)))
    assert meta["path"] == "sub/t.ipynb"
    assert meta["location"] == "file:" + os.path.realpath(a / "sub" / "t.ipynb").replace(os.sep, "/")
    assert sorted(os.listdir(os.path.join(history, folder))) == [META_FILE, "c1.json"]
    assert oct(os.stat(os.path.join(history, folder, "c1.json")).st_mode & 0o777) == "0o600"


def test_symlinked_root_is_the_same_notebook(place, tmp_path):
    a, _b, history = place
    os.symlink(a, tmp_path / "link-to-A")
    chat_with(store_for(a, history), "t.ipynb", "c1", "hello")
    assert ids(store_for(tmp_path / "link-to-A", history).list("t.ipynb")) == ["c1"]


def test_rename_and_move_keep_the_chats(place):
    a, _b, history = place
    store = store_for(a, history)
    chat_with(store, "t.ipynb", "c1", "first")
    chat_with(store, "t.ipynb", "c2", "second")
    write_notebook(a / "t.ipynb")
    os.rename(a / "t.ipynb", a / "renamed.ipynb")
    store.queue_move("t.ipynb", "renamed.ipynb")
    assert sorted(ids(store.list("renamed.ipynb"))) == ["c1", "c2"]
    assert store.list("t.ipynb") == []
    (a / "sub").mkdir()
    os.rename(a / "renamed.ipynb", a / "sub" / "renamed.ipynb")
    store.queue_move("renamed.ipynb", "sub/renamed.ipynb")
    assert sorted(ids(store.list("sub/renamed.ipynb"))) == ["c1", "c2"]
    assert store.load("sub/renamed.ipynb", "c2")["title"] == "second"
    # a new notebook under the old name starts with no chats
    assert store.list("t.ipynb") == [] and store.list("renamed.ipynb") == []


def test_folder_rename_moves_every_notebook_below(place):
    a, _b, history = place
    store = store_for(a, history)
    for path, chat_id in (("proj/x.ipynb", "cx"), ("proj/deep/y.ipynb", "cy"), ("other/z.ipynb", "cz")):
        write_notebook(a / path)
        chat_with(store, path, chat_id, path)
    os.rename(a / "proj", a / "proj2")
    store.queue_move("proj", "proj2")
    assert ids(store.list("proj2/x.ipynb")) == ["cx"]
    assert ids(store.list("proj2/deep/y.ipynb")) == ["cy"]
    assert ids(store.list("other/z.ipynb")) == ["cz"]
    assert store.list("proj/x.ipynb") == []
    # "proj" is not a prefix of "project"
    write_notebook(a / "project" / "p.ipynb")
    chat_with(store, "project/p.ipynb", "cp", "p")
    os.rename(a / "proj2", a / "proj")
    store.queue_move("proj2", "proj")
    assert ids(store.list("project/p.ipynb")) == ["cp"]
    assert ids(store.list("proj/deep/y.ipynb")) == ["cy"]


def test_a_turn_that_still_holds_the_old_path_saves_at_the_new_place(place):
    """A turn loaded its chat before the rename; its end-of-turn save (and a load made with
    the path it was started with) must land on the moved chat, not beside it."""
    a, _b, history = place
    store = store_for(a, history)
    chat = chat_with(store, "t.ipynb", "c1", "first")
    write_notebook(a / "t.ipynb")
    os.rename(a / "t.ipynb", a / "u.ipynb")
    store.queue_move("t.ipynb", "u.ipynb")
    store.apply_moves()
    assert store.load("t.ipynb", "c1")["title"] == "first"  # the old path still finds it
    chat["turns"] = 2
    store.save(chat)  # notebook_path is still "t.ipynb"
    assert ids(store.list("u.ipynb")) == ["c1"]
    assert store.load("u.ipynb", "c1")["turns"] == 2
    assert len([d for d in os.listdir(history) if d.startswith("nb-")]) == 1
    # and back again: no loop between the two names
    os.rename(a / "u.ipynb", a / "t.ipynb")
    store.queue_move("u.ipynb", "t.ipynb")
    assert ids(store.list("t.ipynb")) == ["c1"] and store.list("u.ipynb") == []
    assert store.load("u.ipynb", "c1")["turns"] == 2


class GatedLocator(NotebookLocator):
    """The real locator, which can hold the thread named "mover" in the middle of a move."""

    def __init__(self, root) -> None:
        super().__init__(root_dir=str(root))
        self.inside, self.go = threading.Event(), threading.Event()

    def location(self, path: str) -> str:
        if threading.current_thread().name == "mover":
            self.inside.set()
            self.go.wait(30)
        return super().location(path)


def test_a_reader_waits_for_a_move_in_progress(place):
    """The rename listener applies a move in a thread; a history request arriving meanwhile
    (the browser asks as soon as the rename answered) must see the chats at the new name."""
    a, _b, history = place
    locator = GatedLocator(a)
    store = ChatStore(history, locator)
    chat_with(store, "t.ipynb", "c1", "first")
    store.queue_move("t.ipynb", "u.ipynb")
    mover = threading.Thread(target=store.apply_moves, name="mover")
    mover.start()
    assert locator.inside.wait(30)  # the move has begun (and holds the store)
    seen: list = []
    reader = threading.Thread(target=lambda: seen.append(ids(store.list("u.ipynb"))))
    reader.start()
    reader.join(0.5)  # a reader that did not wait would be done by now, with nothing listed
    locator.go.set()
    mover.join(30)
    reader.join(30)
    assert seen == [["c1"]]


def test_rename_onto_a_location_with_leftover_chats_merges(place):
    a, _b, history = place
    store = store_for(a, history)
    chat_with(store, "old.ipynb", "left", "leftover of a deleted notebook")
    chat_with(store, "t.ipynb", "c1", "mine")
    write_notebook(a / "t.ipynb")
    os.rename(a / "t.ipynb", a / "old.ipynb")
    store.queue_move("t.ipynb", "old.ipynb")
    assert sorted(ids(store.list("old.ipynb"))) == ["c1", "left"]


def test_earlier_version_chats_are_listed_apart_never_adopted_silently(place):
    a, b, history = place
    write_legacy_chat(history, "t.ipynb", "oldA", "from some project")
    write_notebook(a / "t.ipynb")
    write_notebook(b / "t.ipynb")
    sa, sb = store_for(a, history), store_for(b, history)
    chat_with(sa, "t.ipynb", "newA", "A's own")
    listed = sa.list("t.ipynb")
    assert ids(listed) == ["newA", "oldA"]  # its own first: the one opened by default
    assert "earlier_version" not in listed[0] and listed[1]["earlier_version"] is True
    assert sb.list("t.ipynb")[0]["earlier_version"] is True  # B sees it only as "earlier"
    # looking at it moves nothing
    assert sa.load("t.ipynb", "oldA")["title"] == "from some project"
    assert sb.list("t.ipynb")[0]["id"] == "oldA"
    # continuing it in A makes it A's: B no longer lists it
    chat = sa.load("t.ipynb", "oldA")
    chat["turns"] = 2
    sa.save(chat)
    assert ids(sa.list("t.ipynb")) == ["oldA", "newA"]
    assert all(not c.get("earlier_version") for c in sa.list("t.ipynb"))
    assert sb.list("t.ipynb") == []
    assert not os.path.exists(os.path.join(history, legacy_key("t.ipynb")))
    assert "_earlier_version_file" not in json.dumps(sa.load("t.ipynb", "oldA"))


def test_earlier_version_chat_proven_by_the_notebooks_cells_is_adopted(place):
    """Generated cells carry their chat's id: a legacy chat whose id is in this notebook's
    cells is this notebook's, and only that one moves."""
    a, b, history = place
    write_legacy_chat(history, "t.ipynb", "chatOfA", "A's")
    write_legacy_chat(history, "t.ipynb", "chatOfB", "B's")
    write_notebook(a / "t.ipynb", ["chatOfA"])
    write_notebook(b / "t.ipynb", ["chatOfB"])
    sa, sb = store_for(a, history), store_for(b, history)
    listed = sa.list("t.ipynb")
    assert [(c["id"], c.get("earlier_version", False)) for c in listed] == [("chatOfA", False), ("chatOfB", True)]
    listed = sb.list("t.ipynb")
    assert [(c["id"], c.get("earlier_version", False)) for c in listed] == [("chatOfB", False)]
    assert ids(sa.list("t.ipynb")) == ["chatOfA"]
    assert sa.load("t.ipynb", "chatOfA")["conversation"][0]["content"] == "A's"


def test_delete_removes_an_earlier_version_chat(place):
    a, _b, history = place
    write_legacy_chat(history, "t.ipynb", "old", "old")
    store = store_for(a, history)
    assert store.delete("t.ipynb", "old") is True
    assert store.list("t.ipynb") == []
    assert store.delete("t.ipynb", "old") is False


def test_notebook_moved_outside_the_server_gets_its_chats_back(place):
    """No rename event (moved with mv): the chat stays under the old location until the
    notebook, at its new place, shows one of its chats' ids in a generated cell."""
    a, _b, history = place
    store = store_for(a, history)
    chat_with(store, "t.ipynb", "ran", "ran a cell")
    chat_with(store, "t.ipynb", "talk", "only talked")
    write_notebook(a / "t.ipynb", ["ran"])
    (a / "elsewhere").mkdir()
    shutil.move(str(a / "t.ipynb"), str(a / "elsewhere" / "t.ipynb"))
    assert sorted(ids(store.list("elsewhere/t.ipynb"))) == ["ran", "talk"]  # the whole folder
    assert store.list("t.ipynb") == []


def test_a_copy_does_not_take_the_original_s_chats(place):
    a, _b, history = place
    store = store_for(a, history)
    chat_with(store, "t.ipynb", "c1", "original")
    write_notebook(a / "t.ipynb", ["c1"])
    shutil.copy(a / "t.ipynb", a / "copy.ipynb")
    assert store.list("copy.ipynb") == []
    assert ids(store.list("t.ipynb")) == ["c1"]
    # once the original is gone (deleted), the copy is where those cells live
    os.unlink(a / "t.ipynb")
    assert ids(store.list("copy.ipynb")) == ["c1"]


def test_a_deleted_notebook_s_chats_are_not_inherited_by_a_new_one_of_that_name(place):
    a, _b, history = place
    store = store_for(a, history)
    chat_with(store, "t.ipynb", "ran", "ran a cell")
    chat_with(store, "dir/u.ipynb", "inside", "in a folder")
    write_notebook(a / "t.ipynb", ["ran"])
    saved = (a / "t.ipynb").read_bytes()
    os.unlink(a / "t.ipynb")
    store.queue_delete("t.ipynb")
    shutil.rmtree(a / "dir", ignore_errors=True)
    store.queue_delete("dir")  # a folder: every notebook below it
    write_notebook(a / "t.ipynb")  # a new notebook, same name
    assert store.list("t.ipynb") == []
    assert store.list("dir/u.ipynb") == []
    assert chat_with(store, "t.ipynb", "fresh", "new")["turns"] == 1
    # the old one comes back (from the trash, a checkout): its cells name its chat
    (a / "t.ipynb").write_bytes(saved)
    assert sorted(ids(store.list("t.ipynb"))) == ["fresh", "ran"]


def test_storage_without_a_file_system_is_keyed_by_its_scope(tmp_path):
    history = str(tmp_path / "history")
    one = ChatStore(history, NotebookLocator(scope="s3://bucket-one"))
    two = ChatStore(history, NotebookLocator(scope="s3://bucket-two"))
    chat_with(one, "t.ipynb", "c1", "one")
    assert two.list("t.ipynb") == []
    assert ids(ChatStore(history, NotebookLocator(scope="s3://bucket-one")).list("t.ipynb")) == ["c1"]
    one.queue_move("t.ipynb", "dir/t.ipynb")
    assert ids(one.list("dir/t.ipynb")) == ["c1"]
    one.queue_move("dir", "dir2")  # no file system to ask whether it is a folder: all are checked
    assert ids(one.list("dir2/t.ipynb")) == ["c1"]


def test_locator_for_a_contents_manager(tmp_path):
    from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager
    from jupyter_server.services.contents.manager import AsyncContentsManager

    files = NotebookLocator.for_server(AsyncLargeFileManager(root_dir=str(tmp_path)), server_root=str(tmp_path))
    assert files.file_based
    assert files.location("a/t.ipynb") == "file:" + os.path.realpath(tmp_path / "a" / "t.ipynb").replace(os.sep, "/")

    class RemoteContents(AsyncContentsManager):  # what an S3 or database manager looks like
        pass

    remote = NotebookLocator.for_server(RemoteContents(), server_root=str(tmp_path / "x"))
    other = NotebookLocator.for_server(RemoteContents(), server_root=str(tmp_path / "y"))
    assert not remote.file_based
    assert remote.location("t.ipynb") != other.location("t.ipynb")
    scoped = NotebookLocator.for_server(RemoteContents(), server_root=str(tmp_path / "x"), scope="s3://b/p")
    assert scoped.location("t.ipynb") == "contents:s3://b/p/t.ipynb"
    assert remote.chat_ids_in("t.ipynb") == set() and remote.exists(remote.location("t.ipynb")) is None


def test_path_helpers():
    assert moved_path("a/b.ipynb", "a", "c") == "c/b.ipynb"
    assert moved_path("a.ipynb", "a.ipynb", "b.ipynb") == "b.ipynb"
    assert moved_path("ab/x.ipynb", "a", "c") is None
    assert under("file:/p/q/r", "file:/p") == "q/r"
    assert under("file:/pq/r", "file:/p") is None
