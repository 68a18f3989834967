"""The agent loop: one user request in, cells run and repaired, one answer out.

It knows nothing of its transport: it acts on the notebook through a
:class:`~jupyterlab_codeinterp.executors.base.NotebookExecutor` and reports through a
:class:`TurnSink` (the chat socket, or the command line's printer). The same loop,
prompts and repair policy serve the browser and ``jupyter codeinterp run``.

This module is the flow of a turn: gather context, ask the model, act on its reply, end.
Running code (approval, the cell, tool dispatch) is in :mod:`.cells`; when to repair a
failed cell and when to give up is in :mod:`.repair`; whether the answer may be passed on
is in :mod:`.grounding`; whether it has the form the request asks for, in :mod:`.formcheck`;
requests asked apart from the conversation (a whole program, a refocused repair) are in
:mod:`.reasks`; what a turn is, in :mod:`.turn`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any, Optional

from pydantic import BaseModel

from ..config import CodeInterp
from ..context.gather import gather_context
from ..executors.base import ExecutorError, NotebookExecutor
from ..instrumentation import turn_timing
from ..llm.types import ModelReply, ProviderError, TokenUsage, ToolCall
from ..protocol import CodeDeltaMsg, ContextNoteMsg, ErrorMsg, NoticeMsg, TextDeltaMsg, TurnStatus
from . import prompts, reasks
from .cells import CellRunner, Finished, Rejected, image_message
from .codeblocks import (CODEBLOCK_INSTRUCTIONS, compact_system_prompt, extract_code, outside_code,
                         through_last_block, unfence_answers)
from .formcheck import answer_from_printed, form_problems, unfit_note, without_echoed_form
from .grounding import Grounding, GroundingRule, printed_results
from .repair import GaveUp, Repairs
from .streamtext import BROKEN_CALL_NOTE, CallTextGuard, names_a_tool
from .textual_calls import parse_textual_tool_calls
from .tools import RUN_CODE, TOOL_NAMES, TOOL_SPECS, parse_arguments, partial_code_argument
from .window import stable_window
from .turn import (  # noqa: F401  (Turn, TurnResult, price_of... are imported from here)
    ModelLike,
    Turn,
    TurnResult,
    TurnSink,
    for_model,
    price_of,
    to_usage,
)

log = logging.getLogger(__name__)

NOTICE_FORM = "The answer leaves out results asked for by name: asking the model to restate it."
NOTICE_UNFIT = "A result does not fit the form the request gives it: asking the model to compute it again."
NOTICE_START_OVER = ("The repairs did not fix the cell: asking the model once more for the whole "
                     "program, from the start.")


class Agent:
    """Runs turns for one chat on one notebook."""

    def __init__(
        self,
        *,
        config: CodeInterp,
        model: ModelLike,
        executor: NotebookExecutor,
        sink: TurnSink,
        root_dir: str,
    ) -> None:
        self.config = config
        self.model = model
        self.executor = executor
        self.sink = sink
        self.root_dir = root_dir

    # ------------------------------------------------------------------ public

    async def run_turn(self, turn: Turn, history: list[dict[str, Any]]) -> TurnResult:
        """Run one turn. On cancellation (Stop, closed tab) the kernel is interrupted if a
        generated cell is running, and :attr:`partial` holds what the turn had done."""
        run = _TurnRun(self, turn, history)
        self.partial: Optional[TurnResult] = None
        try:
            return await run.run()
        except asyncio.CancelledError:
            self.partial = run.stopped()
            raise


class _TurnRun:
    """State of one turn (kept off the Agent so concurrent chats cannot mix)."""

    def __init__(self, agent: Agent, turn: Turn, history: list[dict[str, Any]]) -> None:
        self.agent = agent
        self.cfg = agent.config
        self.turn = turn
        self.history = history
        self.new_messages: list[dict[str, Any]] = []
        self.usage = TokenUsage()
        self._last_error: Optional[ProviderError] = None
        auto_run = self.cfg.auto_run if turn.auto_run is None else turn.auto_run
        max_repairs = self.cfg.max_repairs if turn.max_repairs is None else turn.max_repairs
        self.vision = self.cfg.vision if turn.vision is None else turn.vision
        self.token_budget = (self.cfg.context_token_budget if turn.context_token_budget is None
                             else turn.context_token_budget)
        self.repairs = Repairs(max_repairs)
        self.conversation: list[dict[str, Any]] = []
        self.turn_start = 0
        self.code_asked = False
        """The loop's last message asked the model for a cell (grounding)."""
        self.program_asks = 0
        """Times the request was asked as one whole program (see :mod:`.reasks`)."""
        self.program_next = False
        self.context_text = ""
        self.form_asked = False
        """The model was asked once to restate its answer in the requested form."""
        self.started_over = False
        """The repairs gave up once and the request was asked afresh as a program."""
        self.program_note = ""
        """What was wrong with an earlier program, for the next program request."""
        self.cells = CellRunner(agent=agent, turn=turn, config=self.cfg, auto_run=auto_run,
                                repairs=self.repairs, send=self.send)

    # ------------------------------------------------------------------ helpers

    async def send(self, msg: BaseModel) -> None:
        await self.agent.sink.send(msg)

    @property
    def codeblocks(self) -> bool:
        return getattr(self.agent.model, "protocol", "tools") == "codeblocks"

    def _end(self, status: TurnStatus, answer: str, error: Optional[ProviderError] = None,
             grounding: Grounding = "") -> TurnResult:
        return TurnResult(
            status=status,
            answer=answer,
            usage=to_usage(self.cfg, self.agent.model.model, self.usage),
            messages=self.new_messages,
            error=error,
            grounding=grounding,
            cells_run=self.cells.cells_run,
            transcript=self.conversation[self.turn_start:],
        )

    def stopped(self) -> TurnResult:
        """The turn so far, with any open tool calls closed so the history stays valid."""
        answered = {m.get("tool_call_id") for m in self.new_messages if m.get("role") == "tool"}
        for m in list(self.new_messages):
            for call in m.get("tool_calls") or []:
                if call["id"] not in answered:
                    self.new_messages.append({"role": "tool", "tool_call_id": call["id"],
                                              "content": "stopped by the user"})
        note = {"role": "assistant", "content": "(stopped by the user)"}
        self.new_messages.append(note)
        return self._end("stopped", "Stopped.")

    # ------------------------------------------------------------------ the turn

    async def run(self) -> TurnResult:
        turn = self.turn
        context_text, fix_target = await self._gather()
        self.context_text = context_text
        if turn.mode == "fix" and turn.cell_id and self.repairs.failed is None:
            return self._end("failed", "The cell to fix was not found in the notebook.")
        conversation = stable_window(list(self.history), max(2000, self.token_budget * 2))
        self.conversation, self.turn_start = conversation, len(conversation)
        # the rule's sources are the request, the context and earlier turns' results
        self.grounding = GroundingRule(prompt=turn.prompt, context_text=f"{context_text}\n{fix_target or ''}",
                                       mode=turn.mode, codeblocks=self.codeblocks, history=conversation)
        self.repairs.give_up_on_identical = self.grounding.wants_data  # see _start_over
        content = prompts.user_message(turn.prompt, context_text, fix_target, self.history,
                                       code_first=self.grounding.wants_data, codeblocks=self.codeblocks)
        user_msg = {"role": "user", "content": content, "turn_start": True}
        # later turns see this request as it was sent: their prompts start with this one's
        self.new_messages.append(dict(user_msg))
        conversation.append(user_msg)
        self.verdict: Grounding = ""

        answer = ""
        try:
            for _step in range(self.cfg.max_steps):
                reply = await self._ask(conversation)
                if reply is None:  # provider error already reported
                    return self._end("failed", "", self._last_error)
                try:
                    done, answer = await self._handle_reply(reply, conversation)
                except GaveUp as gave_up:
                    if not await self._start_over(gave_up):
                        raise
                    continue
                if done:
                    break
            else:
                answer = (
                    f"I stopped after {self.cfg.max_steps} model calls without a final answer. "
                    "The cells that ran are in the notebook."
                )
                self.new_messages.append({"role": "assistant", "content": answer})
                return self._end("gave_up", answer)
        except GaveUp as gave_up:
            self.new_messages.append({"role": "assistant", "content": gave_up.account})
            return self._end("gave_up", gave_up.account)
        except Finished as finished:
            verdict = self.grounding.settle(finished.answer, outputs=self.cells.outputs, code=self.cells.codes)
            self.new_messages.append({"role": "assistant", "content": verdict.answer})
            return self._end("done", verdict.answer, grounding=verdict.grounding)
        except Rejected:
            answer = "You rejected the proposed fix; your cell is unchanged."
            self.new_messages.append({"role": "assistant", "content": answer})
            return self._end("done", answer)
        return self._end("done", answer, grounding=self.verdict)

    async def _gather(self) -> tuple[str, Optional[str]]:
        """Context for the model, and in fix mode the failing cell (also sets up the repair)."""
        turn = self.turn
        notes: list[str] = []
        text = ""
        tokens = 0
        cells: Optional[list[dict[str, Any]]] = None
        try:
            with turn_timing.waiting("executor"):
                cells = await self.agent.executor.read_cells()
        except ExecutorError as exc:
            notes.append(f"notebook cells unavailable: {exc}")
        try:
            with turn_timing.waiting("kernel_client"):
                client = await self.agent.executor.kernel_client()
        except Exception as exc:  # a dead kernel must not stop the turn
            client = None
            notes.append(f"kernel unavailable for context: {exc}")
        try:
            ctx = await gather_context(
                root_dir=self.agent.root_dir,
                notebook_path=turn.notebook_path,
                kernel_client=client,
                cells=cells if cells is not None else [],
                token_budget=self.token_budget,
                probe_timeout=self.cfg.probe_timeout,
                probe_max_bytes=self.cfg.probe_max_bytes,
            )
            text, tokens = ctx.text, ctx.tokens
            notes.extend(ctx.notes)
        except Exception as exc:
            log.warning("context gathering failed", exc_info=True)
            notes.append(f"context unavailable: {exc}")
        await self.send(ContextNoteMsg(chat_id=turn.chat_id, turn=turn.turn, tokens=tokens, notes=notes))

        fix_target = None
        if turn.mode == "fix" and turn.cell_id:
            cell = next((c for c in cells or [] if c.get("id") == turn.cell_id), None)
            if cell is not None:
                self.cells.fix_original, fix_target = self.repairs.start_fix(cell)
                err = next((o for o in cell.get("outputs", []) if o.get("output_type") == "error"), None)
                if err and self.repairs.failed is not None:
                    hint = await self.cells.hint(err.get("ename", ""), err.get("evalue", ""),
                                                 err.get("traceback", []), self.cells.fix_original)
                    self.repairs.failed.hint = hint
                    fix_target += f"\n\n{hint}" if hint else ""
        return text, fix_target

    async def _ask(self, conversation: list[dict[str, Any]]) -> Optional[ModelReply]:
        turn = self.turn

        async def emit(text: str) -> None:
            await self.send(TextDeltaMsg(chat_id=turn.chat_id, turn=turn.turn, text=text))

        self._guard = guard = CallTextGuard(emit)

        async def on_text(delta: str) -> None:
            with turn_timing.own("stream_callbacks"):
                await guard.feed(delta)

        preview = {"sent": 0}

        async def on_tool_delta(name: str, arguments: str) -> None:
            if name != RUN_CODE:
                return
            with turn_timing.own("stream_callbacks"):
                code = partial_code_argument(arguments)
                if len(code) > preview["sent"]:
                    await self.send(CodeDeltaMsg(chat_id=turn.chat_id, turn=turn.turn, text=code[preview["sent"]:]))
                    preview["sent"] = len(code)

        async def on_retry(notice: Any) -> None:
            await self.send(NoticeMsg(chat_id=turn.chat_id, turn=turn.turn, level="warning",
                                      text=notice.message))

        program, self.program_next = self.program_next, False
        explore = self.repairs.take_explore()
        refocus = explore and self.repairs.failed is not None and not program and turn.mode != "fix"
        extra: dict[str, Any] = {}
        if explore or (program and self.program_asks > 1):
            extra["temperature"] = reasks.explore_temperature(self.cfg.temperature)
        earlier = for_model(conversation[:self.turn_start])
        while True:
            if program:
                messages = reasks.program_messages(earlier, turn.prompt, self.context_text, self.program_note)
            elif refocus:
                assert self.repairs.failed is not None
                messages = reasks.repair_messages(earlier, turn.prompt, self.context_text, self.repairs.failed)
            elif self.cfg.prompt_style == "compact" and turn.mode == "chat":  # small local models
                messages = [{"role": "system", "content": compact_system_prompt(codeblocks=self.codeblocks)}]
                messages += for_model(conversation)
            else:
                system = prompts.system_prompt(
                    mode=turn.mode, codeblocks=self.codeblocks, codeblock_instructions=CODEBLOCK_INSTRUCTIONS
                )
                messages = [{"role": "system", "content": system}] + for_model(conversation)
            turn_timing.mark("model_call")
            try:
                with turn_timing.waiting("model"):
                    reply = await self.agent.model.stream(
                        messages, tools=None if (self.codeblocks or program or refocus) else TOOL_SPECS,
                        on_text=on_text,
                        on_retry=on_retry, on_tool_delta=on_tool_delta, **extra,
                    )
            except ProviderError as exc:
                if exc.kind == "tools_unsupported" and self.codeblocks:
                    continue  # the client switched itself to the code-block protocol (auto)
                if exc.kind == "empty_answer" and self.cells.ran_code:
                    return ModelReply(text="")
                self._last_error = exc
                await self.send(ErrorMsg(code=exc.kind, message=exc.message, hint=exc.hint,
                                         retryable=exc.retryable or exc.kind in ("timeout", "connection", "rate_limit", "server_error", "stream_broken", "empty_answer"),
                                         chat_id=turn.chat_id))
                return None
            self.usage.add(reply.usage)
            return reply

    async def _start_over(self, gave_up: GaveUp) -> bool:
        """Once a turn, when the repairs of a cell gave up on a data request, the request is
        asked again as one whole program, with the error and its hint; the program runs in a
        new cell (the failed one stays, with its error) and the turn goes on from its output.
        On DABench, the program asked once (the single-shot baseline) was right on two of the
        six questions whose repairs gave up.  Returns False when the turn must stop."""
        failed = self.repairs.failed
        self.repairs.give_up_on_identical = False
        if self.started_over or self.turn.mode == "fix" or failed is None or not self.grounding.wants_data:
            return False
        self.started_over, self.program_note = True, reasks.failure_note(failed)
        self.repairs.failed = None
        self.program_next = self.code_asked = True
        self.program_asks += 1
        log.info("codeinterp: repairs gave up (%s); asking for the program afresh", gave_up.account.splitlines()[0])
        await self.send(NoticeMsg(chat_id=self.turn.chat_id, turn=self.turn.turn, level="info",
                                  text=NOTICE_START_OVER))
        return True

    async def _handle_reply(self, reply: ModelReply, conversation: list[dict[str, Any]]) -> tuple[bool, str]:
        """Act on one model reply; returns (turn finished, answer)."""
        code_asked, self.code_asked = self.code_asked, False
        calls = list(reply.tool_calls)
        if not calls:
            calls = parse_textual_tool_calls(reply.text, TOOL_NAMES)
            if calls and not self.codeblocks:
                # the endpoint took our tools but the model could not call them (servers
                # whose chat template drops tools): with protocol "auto", go on, and start
                # later requests to this endpoint, with the code-block prompt it can follow
                switch = getattr(self.agent.model, "use_codeblocks", None)
                if switch is not None:
                    switch()
        # a call written as text is shown as the cell it runs, never as its JSON (nor when
        # too broken to run: then the answer says so)
        broken = not calls and self._guard.held and names_a_tool(self._guard.text[len(self._guard.shown):], TOOL_NAMES)
        await self._guard.finish(was_call=bool(calls and not reply.tool_calls) or broken)
        if self.codeblocks and not calls:
            blocks = extract_code(reply.text)
            if blocks:
                return await self._run_blocks(reply, blocks, conversation)
        elif not calls and (not self.cells.ran_code or self.repairs.failed is not None or code_asked
                            or self._only_code(reply.text)) and self.turn.mode != "fix":
            # Offered tools, some models (small local ones, e.g. Qwen2.5-Coder-1.5B at
            # temperature 0) write a ```python block instead of calling run_code. Before any
            # code ran this turn, right after a cell failed, when the loop asked for a cell,
            # or when a reply to a data request is code and nothing else, such a block is the
            # work (the repair), not an illustration: run it.
            blocks = extract_code(reply.text)
            if blocks:
                return await self._run_blocks(reply, blocks, conversation)
        if not calls:
            answer = unfence_answers(reply.text).strip()
            if broken:
                shown = self._guard.shown.strip()
                await self._guard.emit(("\n\n" if shown else "") + BROKEN_CALL_NOTE)
                answer = f"{shown}\n\n{BROKEN_CALL_NOTE}".strip()
            return await self._final_answer(answer or self.cells.fallback_answer(), conversation)

        if self.codeblocks or not reply.tool_calls:
            # A tool call printed as text (code-block models, and small models offered tools):
            # run its code once and answer in text, as for a code block. Chat templates of
            # local servers often drop tool_calls/tool messages the model never produced
            # natively, and the model would then not see its own result and call again.
            codes = [self._code_of(c) for c in calls if c.name == RUN_CODE]
            codes = [c for c in codes if c]
            if codes:
                return await self._run_blocks(reply, codes, conversation)

        seen: set[str] = set()
        for call in calls:
            if not call.id or call.id in seen:  # missing or repeated ids (some local servers)
                call.id = f"call_{uuid.uuid4().hex[:16]}"
            seen.add(call.id)
        assistant = {
            "role": "assistant",
            "content": reply.text or "",  # strict servers reject null
            "tool_calls": [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in calls
            ],
        }
        conversation.append(assistant)
        self.new_messages.append(assistant)
        extra_user: list[dict[str, Any]] = []
        for i, call in enumerate(calls):
            result, images = await self.cells.dispatch(call)
            if call.name == RUN_CODE and "status: ok" in result[:120]:
                result += self._form_reminder(ok=True)
            tool_msg = {"role": "tool", "tool_call_id": call.id, "content": result}
            conversation.append(tool_msg)
            self.new_messages.append(tool_msg)
            if images and self.vision:
                extra_user.append(image_message(images))
            if self.repairs.failed is not None and call.name == RUN_CODE and i < len(calls) - 1:
                # later calls were written before this failure was known: skip them
                for later in calls[i + 1:]:
                    skipped = {"role": "tool", "tool_call_id": later.id,
                               "content": "not run: an earlier cell in this reply failed; fix it first"}
                    conversation.append(skipped)
                    self.new_messages.append(skipped)
                break
        conversation.extend(extra_user)
        self._end_if_printed()
        return False, ""

    async def _final_answer(self, answer: str, conversation: list[dict[str, Any]]) -> tuple[bool, str]:
        """The model's answer, under the grounding rule: it may be sent back to the model
        (compute it, print its numbers), or passed on as it is, completed or withheld."""
        if self.turn.mode == "chat":
            answer = without_echoed_form(self.turn.prompt, answer)
        verdict = self.grounding.review(answer, outputs=self.cells.outputs, cells_run=self.cells.cells_run,
                                        declined=self.cells.declined, code=self.cells.codes)
        turn = self.turn
        if verdict.asks:
            # the model sees why its answer is not accepted, and the answer unless it is withdrawn
            # (then the request is asked again as a program); later turns see neither
            if verdict.ask_program:  # the conversation stays as it was
                self.program_next = True
                self.program_asks += 1
            else:
                conversation.append({"role": "assistant", "content": answer})
                conversation.append({"role": "user", "content": verdict.ask or ""})
            self.code_asked = True
            await self.send(NoticeMsg(chat_id=turn.chat_id, turn=turn.turn, level="info",
                                      text=verdict.notice))
            return False, ""
        stated = self.cells.cells_run and verdict.grounding != "not_computed"
        missing, unfit = form_problems(turn.prompt, verdict.answer) if stated else ([], [])
        if (missing or unfit) and not self.form_asked and turn.mode != "fix":
            self.form_asked = self.code_asked = True
            if missing:
                conversation.append({"role": "assistant", "content": answer})
                conversation.append({"role": "user", "content": prompts.form_request(turn.prompt, missing)})
            else:  # asked in the conversation, the model sent its cell back unchanged
                self.program_next, self.program_note = True, unfit_note(unfit)
                self.program_asks += 1
            await self.send(NoticeMsg(chat_id=turn.chat_id, turn=turn.turn, level="info",
                                      text=NOTICE_FORM if missing else NOTICE_UNFIT))
            return False, ""
        if verdict.answer != answer and verdict.answer.startswith(answer):
            # results a cell printed that the answer left out: shown after what was streamed
            await self.send(TextDeltaMsg(chat_id=turn.chat_id, turn=turn.turn, text=verdict.answer[len(answer):]))
        self.verdict = verdict.grounding
        msg = {"role": "assistant", "content": verdict.answer}
        conversation.append(msg)
        self.new_messages.append(msg)
        return True, verdict.answer

    def _only_code(self, text: str) -> bool:
        """A reply to a data request in the chat that holds Python and no words: passed on as
        the answer, the user would get an unrun program (Qwen2.5-Coder-1.5B's last reply
        after a cell printed ``nan``); the identical-code check keeps a program it repeats
        from running twice."""
        return (self.turn.mode == "chat" and self.grounding.wants_data and bool(extract_code(text))
                and not outside_code(text).strip())

    def _form_reminder(self, ok: bool) -> str:
        """The answer's form, after a cell's result; after a cell that ran, the results the
        request asks for that no cell printed yet, with a request for a cell (so a code block
        sent back is run)."""
        printed = printed_results(self.cells.outputs) if ok else None
        if printed is not None and any(n not in printed for n in prompts.form_names(self.turn.prompt)):
            self.code_asked = True
        return prompts.form_reminder(self.turn.prompt, printed)

    def _code_of(self, call: ToolCall) -> str:
        args, _err = parse_arguments(call.arguments)
        return str((args or {}).get("code", "")).strip()

    async def _run_blocks(self, reply: ModelReply, blocks: list[str], conversation: list[dict[str, Any]]) -> tuple[bool, str]:
        # kept without what follows its code: an answer written before the code ran
        assistant = {"role": "assistant", "content": through_last_block(reply.text)}
        conversation.append(assistant)
        self.new_messages.append(assistant)
        results, images = await self.cells.run_blocks(blocks)
        ok = bool(results) and "status: ok" in results[-1][:120]
        user = {"role": "user", "content": prompts.result_message_for_codeblocks(results, self._form_reminder(ok))}
        if images and self.vision:
            user = {"role": "user", "content": [{"type": "text", "text": user["content"]}]
                    + image_message(images)["content"][1:]}
        conversation.append(user)
        self.new_messages.append(user)
        self._end_if_printed()
        return False, ""

    def _end_if_printed(self) -> None:
        """End a chat turn on a data request when no cell is left failed and the cells printed
        every result the request names, fitting its form (:func:`.formcheck.answer_from_printed`)."""
        turn = self.turn
        if turn.mode != "chat" or self.repairs.failed is not None or not self.grounding.wants_data:
            return
        answer = answer_from_printed(turn.prompt, self.cells.outputs)
        if answer:
            raise Finished(answer)


def new_chat_id() -> str:
    return uuid.uuid4().hex
