"""Requests asked on their own, outside the turn's conversation.

Inside the conversation, where its earlier reply already stands, a small model sends that
reply again whatever it is told. So three requests are asked apart, each with a short system
prompt, the earlier turns, the context and the user's request:

- the request as one whole program, after an answer no code computed
  (:func:`program_messages`, the way the single-shot baseline asks);
- the same, once a turn, after the repairs of a cell gave up, told the error and its hint but
  not shown the failed code (:func:`failure_note`), or after results that do not fit the
  requested form (:func:`.formcheck.unfit_note`);
- the last chance of a repair: the failed cell, its error, the hint and the instruction to
  take another approach (:func:`repair_messages`).

A request that must not get the same reply again is sampled warmer (:func:`explore_temperature`).
"""

from __future__ import annotations

from typing import Any, Optional

from . import prompts
from .repair import FailedCell, different_approach
from .results import strip_ansi

#: a request after which the model must not send the same reply (a repair identical to the
#: failed code, a second request for a program) is sampled at least this warm
EXPLORE_TEMPERATURE = 0.7

Messages = list[dict[str, Any]]


def explore_temperature(configured: Optional[float]) -> float:
    """The temperature of a request that must not get the same reply again (the configured
    one when warmer)."""
    return max(EXPLORE_TEMPERATURE, configured or 0.0)


def program_messages(earlier: Messages, prompt: str, context_text: str, note: str = "") -> Messages:
    """The request asked as one whole program, with ``note`` on an earlier program. The
    program that comes back runs as the turn's cell and the turn goes on as usual."""
    request = prompts.program_request(prompt, context_text, note)
    return [{"role": "system", "content": prompts.PROGRAM_SYSTEM}, *earlier,
            {"role": "user", "content": request}]


def failure_note(failed: FailedCell) -> str:
    """The last error of a cell whose repairs gave up, and its hint, without the cell."""
    last = failed.attempts[-1]
    error = next((ln.strip() for ln in reversed(strip_ansi(last.summary).splitlines()) if ln.strip()), "")
    facts = f"\n{prompts.workspace_data('repair-hint', failed.hint)}" if failed.hint else ""
    return (f"An earlier program for this request failed with `{error[:200] or last.signature or 'an error'}`; "
            f"write it afresh, another way, so that this cannot happen.{facts}")


def repair_messages(earlier: Messages, prompt: str, context_text: str, failed: FailedCell) -> Messages:
    """The failed cell asked to be fixed on its own (after a repair identical to it, or the
    same error again); the reply is the repair, vetted and run as any other."""
    last = failed.attempts[-1]
    request = prompts.repair_request(prompt, context_text, last.code, last.summary, failed.hint,
                                     told=failed.told, instruction=different_approach(failed.hint))
    return [{"role": "system", "content": prompts.REPAIR_SYSTEM}, *earlier,
            {"role": "user", "content": request}]
