"""Keeps src/protocol.ts in step with jupyterlab_codeinterp/protocol.py.

Every Python message class must have a TypeScript interface of the same name with the same
fields; a field is optional in TypeScript exactly when it has a default in Python (the
``type`` discriminator excepted: required in TypeScript, with the same literal); string
literal unions (directly or through a ``type`` alias) must list the same values.
"""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest

from jupyterlab_codeinterp import protocol

TS_FILE = Path(__file__).resolve().parents[1] / "src" / "protocol.ts"

_INTERFACE = re.compile(r"export interface (\w+)\s*\{(.*?)\n\}", re.S)
_FIELD = re.compile(r"^\s*(\w+)(\??):\s*(.+?);\s*$")
_ALIAS = re.compile(r"export type (\w+)\s*=\s*(.*?);", re.S)


def _ts() -> tuple[dict[str, dict[str, tuple[bool, str]]], dict[str, str]]:
    source = TS_FILE.read_text()
    # drop comments so doc lines are not read as fields
    source = re.sub(r"/\*.*?\*/", "", source, flags=re.S)
    source = re.sub(r"//[^\n]*", "", source)
    aliases = {m.group(1): " ".join(m.group(2).split()) for m in _ALIAS.finditer(source)}
    interfaces: dict[str, dict[str, tuple[bool, str]]] = {}
    for m in _INTERFACE.finditer(source):
        fields: dict[str, tuple[bool, str]] = {}
        for line in m.group(2).splitlines():
            f = _FIELD.match(line)
            if f:
                fields[f.group(1)] = (f.group(2) == "?", f.group(3).strip())
        interfaces[m.group(1)] = fields
    return interfaces, aliases


def _literals(ts_type: str, aliases: dict[str, str]) -> set[str] | None:
    ts_type = ts_type.strip()
    if ts_type in aliases:
        ts_type = aliases[ts_type]
    parts = [p.strip() for p in ts_type.strip("| ").split("|")]
    if parts and all(re.fullmatch(r"'[^']*'", p) for p in parts):
        return {p.strip("'") for p in parts}
    return None


MODELS = list(protocol.CLIENT_MESSAGES) + list(protocol.SERVER_MESSAGES) + [
    protocol.Usage, protocol.CellOutcome, protocol.CellChange, protocol.TurnChanges]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_typescript_mirrors_python(model):
    interfaces, aliases = _ts()
    assert model.__name__ in interfaces, f"src/protocol.ts lacks interface {model.__name__}"
    ts_fields = interfaces[model.__name__]
    py_fields = model.model_fields
    assert set(ts_fields) == set(py_fields), (
        f"{model.__name__}: only in Python {set(py_fields) - set(ts_fields)}, "
        f"only in TypeScript {set(ts_fields) - set(py_fields)}")
    for name, info in py_fields.items():
        optional, ts_type = ts_fields[name]
        if name == "type":
            assert not optional, f"{model.__name__}.type must be required in TypeScript"
            assert ts_type == f"'{info.default}'", f"{model.__name__}.type should be '{info.default}'"
            continue
        assert optional == (not info.is_required()), (
            f"{model.__name__}.{name}: {'optional' if optional else 'required'} in TypeScript, "
            f"{'required' if info.is_required() else 'has a default'} in Python")
        annotation = info.annotation
        args = typing.get_args(annotation)
        if typing.get_origin(annotation) is typing.Union:  # Optional[Literal[...]]
            annotation = next((a for a in args if a is not type(None)), annotation)
        if typing.get_origin(annotation) is typing.Literal:
            values = set(typing.get_args(annotation))
            assert _literals(ts_type.replace("| null", "").replace("| undefined", ""), aliases) == values, (
                f"{model.__name__}.{name}: TypeScript {ts_type} vs Python {sorted(values)}")


def test_every_typescript_message_exists_in_python():
    interfaces, _ = _ts()
    py_names = {m.__name__ for m in MODELS}
    ts_messages = {n for n in interfaces if n.endswith("Msg")}
    assert ts_messages <= py_names, f"TypeScript-only messages: {ts_messages - py_names}"


def test_parse_client_message_rejects_unknown_and_server_types():
    with pytest.raises(ValueError):
        protocol.parse_client_message({"type": "turn_end"})
    with pytest.raises(ValueError):
        protocol.parse_client_message(["prompt"])
    msg = protocol.parse_client_message({"type": "stop", "chat_id": "a"})
    assert isinstance(msg, protocol.StopMsg)
