/**
 * The state of one chat, built only from server messages.
 *
 * The same reducer serves live messages and history replays (the server keeps
 * each chat's display log: the messages it sent), so a reloaded chat looks
 * exactly like the live one did.
 */
import { ISignal, Signal } from '@lumino/signaling';

import { ApprovalDecision, PromptMsg, ServerMessage, Usage } from '../protocol';
import { chatToMarkdown } from './exportMarkdown';
import { IChatNotice, IStepView, ITurnView } from './types';

export type { IChatNotice, IStepView, ITurnView, TurnItem } from './types';

let noticeCounter = 0;

export class ChatModel {
  constructor(notebookPath: string, chatId: string) {
    this._notebookPath = notebookPath;
    this._chatId = chatId;
  }

  get notebookPath(): string {
    return this._notebookPath;
  }
  set notebookPath(path: string) {
    this._notebookPath = path;
    this._emit();
  }

  get chatId(): string {
    return this._chatId;
  }

  get title(): string {
    return this._title || (this._turns[0]?.prompt.split('\n')[0] ?? '');
  }
  set title(value: string) {
    this._title = value;
    this._emit();
  }

  get turns(): ReadonlyArray<ITurnView> {
    return this._turns;
  }

  get notices(): ReadonlyArray<IChatNotice> {
    return this._notices;
  }

  get chatUsage(): Usage | undefined {
    return this._chatUsage;
  }

  /** True while a prompt is in flight or a turn has not ended. */
  get isRunning(): boolean {
    const last = this._turns[this._turns.length - 1];
    return this._pending.size > 0 || (!!last && last.status === undefined);
  }

  /** True while the history of this chat is being loaded. */
  get loading(): boolean {
    return this._loading;
  }
  set loading(value: boolean) {
    this._loading = value;
    this._emit();
  }

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  step(stepId: string): IStepView | undefined {
    return this._steps.get(stepId);
  }

  get steps(): ReadonlyMap<string, IStepView> {
    return this._steps;
  }

  /** Steps waiting for the user's decision. */
  pendingApprovals(): IStepView[] {
    return Array.from(this._steps.values()).filter(
      s => s.approval && !s.decided && s.state === 'waiting_approval'
    );
  }

  /** Remember a prompt sent with `id` until its turn starts (or is refused). */
  addPending(
    id: string,
    request: Pick<PromptMsg, 'text' | 'mode' | 'cell_id'>
  ): void {
    this._pending.set(id, request);
    this._emit();
  }

  /** The prompt of a pending request id. */
  pendingRequest(
    id: string
  ): Pick<PromptMsg, 'text' | 'mode' | 'cell_id'> | undefined {
    return this._pending.get(id);
  }

  /** Forget a prompt that will never start a turn. */
  dropPending(id: string): void {
    if (this._pending.delete(id)) {
      this._emit();
    }
  }

  /** Record a local decision on an approval (the server confirms with a step message). */
  decide(stepId: string, decision: ApprovalDecision): void {
    const step = this._steps.get(stepId);
    if (step) {
      step.decided = decision;
      this._emit();
    }
  }

  /** Link a step to the cell the executor made for it. */
  setLocalCell(stepId: string, cellId: string): void {
    const step = this._steps.get(stepId);
    if (step && step.localCellId !== cellId) {
      step.localCellId = cellId;
      this._emit();
    }
  }

  addNotice(notice: Omit<IChatNotice, 'id'>): void {
    this._notices.push({ id: `n${++noticeCounter}`, ...notice });
    this._emit();
  }

  dismissNotice(id: string): void {
    this._notices = this._notices.filter(n => n.id !== id);
    this._emit();
  }

  /** Mark this tab's running turns as ended (the socket dropped; the server cancelled them). */
  interruptRunning(reason: string): void {
    let changed = false;
    const stopped = new Set<number>();
    for (const turn of this._turns) {
      // a turn another tab runs goes on; the reconnection re-reads it
      if (turn.status === undefined && turn.ownedHere) {
        turn.status = 'stopped';
        turn.items.push({ kind: 'note', text: reason });
        stopped.add(turn.turn);
        changed = true;
      }
    }
    for (const step of this._steps.values()) {
      if (
        stopped.has(step.turn) &&
        (step.state === 'running' || step.state === 'waiting_approval')
      ) {
        step.state = 'aborted';
        changed = true;
      }
    }
    if (this._pending.size) {
      this._pending.clear();
      changed = true;
    }
    if (changed) {
      this._emit();
    }
  }

  /** Replace the chat with a stored display log. */
  replay(
    chatId: string,
    messages: ReadonlyArray<Record<string, any>>,
    title = ''
  ): void {
    this._reset(chatId);
    this._title = title;
    this._replaying = true;
    try {
      for (const msg of messages) {
        this.apply(msg as ServerMessage);
      }
    } finally {
      this._replaying = false;
    }
    // a stored turn without turn_end did not finish (server restart, closed tab)
    for (const turn of this._turns) {
      if (turn.status === undefined) {
        turn.status = 'stopped';
      }
    }
    for (const step of this._steps.values()) {
      if (step.state === 'running' || step.state === 'waiting_approval') {
        step.state = 'aborted';
        delete step.approval;
      }
    }
    this._emit();
  }

  /** Start over with a new (empty) chat id. */
  clear(chatId: string): void {
    this._reset(chatId);
    this._emit();
  }

  /** Fold one server message into the chat. Returns true when it belonged here. */
  apply(msg: ServerMessage): boolean {
    switch (msg.type) {
      case 'turn_start': {
        if (msg.chat_id !== this._chatId) {
          return false;
        }
        const pending = msg.reply_to
          ? this._pending.get(msg.reply_to)
          : undefined;
        const request = pending || {
          text: msg.prompt,
          mode: msg.mode
        };
        if (msg.reply_to) {
          this._pending.delete(msg.reply_to);
        }
        const existing = this._turn(msg.turn);
        if (existing) {
          return true;
        }
        this._turns.push({
          turn: msg.turn,
          mode: msg.mode,
          prompt: msg.prompt,
          items: [],
          request,
          ownedHere: pending !== undefined
        });
        this._turns.sort((a, b) => a.turn - b.turn);
        break;
      }
      case 'context_note': {
        const turn = this._turnFor(msg.chat_id, msg.turn);
        if (!turn) {
          return false;
        }
        turn.context = { tokens: msg.tokens, notes: msg.notes ?? [] };
        break;
      }
      case 'text_delta': {
        const turn = this._turnFor(msg.chat_id, msg.turn);
        if (!turn) {
          return false;
        }
        const last = turn.items[turn.items.length - 1];
        if (last && last.kind === 'text' && !this._breakText.has(turn.turn)) {
          last.text += msg.text;
        } else {
          turn.items.push({ kind: 'text', text: msg.text });
        }
        this._breakText.delete(turn.turn);
        break;
      }
      case 'code_delta': {
        const turn = this._turnFor(msg.chat_id, msg.turn);
        if (!turn) {
          return false;
        }
        turn.codePreview = (turn.codePreview ?? '') + msg.text;
        break;
      }
      case 'notice': {
        const turn = this._turnFor(msg.chat_id, msg.turn);
        if (!turn) {
          return false;
        }
        // consecutive notices (e.g. "retrying in 2 s", "retrying in 4 s") replace each other
        const last = turn.items[turn.items.length - 1];
        if (last && last.kind === 'note') {
          last.text = msg.text;
        } else {
          turn.items.push({ kind: 'note', text: msg.text });
        }
        break;
      }
      case 'step': {
        const turn = this._turnFor(msg.chat_id, msg.turn);
        if (!turn) {
          return false;
        }
        delete turn.codePreview;
        const previous = this._steps.get(msg.step_id);
        const view: IStepView = { ...(previous ?? {}), ...msg };
        if (msg.state === 'running') {
          view.runningSince =
            previous?.state === 'running' && previous.runningSince
              ? previous.runningSince
              : Date.now() - (msg.elapsed ?? 0) * 1000;
        }
        if (msg.state !== 'waiting_approval') {
          delete view.approval;
          delete view.decided;
        }
        if (!msg.cell_id && previous?.cell_id) {
          view.cell_id = previous.cell_id;
        }
        this._steps.set(msg.step_id, view);
        // text after a step update is a new paragraph, below the card
        this._breakText.add(turn.turn);
        if (
          !turn.items.some(i => i.kind === 'step' && i.stepId === msg.step_id)
        ) {
          turn.items.push({ kind: 'step', stepId: msg.step_id });
        }
        break;
      }
      case 'approval_request': {
        const turn = this._turnFor(msg.chat_id, msg.turn);
        if (!turn) {
          return false;
        }
        let step = this._steps.get(msg.step_id);
        if (!step) {
          step = {
            type: 'step',
            chat_id: msg.chat_id,
            turn: msg.turn,
            step_id: msg.step_id,
            tool: 'run_code',
            state: 'waiting_approval',
            code: msg.code,
            cell_id: msg.cell_id
          };
          this._steps.set(msg.step_id, step);
          turn.items.push({ kind: 'step', stepId: msg.step_id });
        }
        if (!this._replaying) {
          step.approval = msg;
          delete step.decided;
        }
        break;
      }
      case 'turn_end': {
        const turn = this._turnFor(msg.chat_id, msg.turn);
        if (!turn) {
          return false;
        }
        turn.status = msg.status;
        turn.answer = msg.answer;
        turn.usage = msg.usage;
        turn.grounding = msg.grounding;
        turn.cellsRun = msg.cells_run;
        turn.changes = msg.changes;
        this._chatUsage = msg.chat_usage;
        // a text answer that was not streamed (e.g. an account of a repair that gave up)
        const streamed = turn.items
          .filter(i => i.kind === 'text')
          .map(i => (i as { text: string }).text)
          .join('');
        if (msg.answer && !streamed.includes(msg.answer.trim())) {
          turn.items.push({ kind: 'text', text: msg.answer });
        }
        for (const item of turn.items) {
          if (item.kind === 'step') {
            const step = this._steps.get(item.stepId);
            if (
              step &&
              (step.state === 'running' || step.state === 'waiting_approval')
            ) {
              step.state = msg.status === 'stopped' ? 'interrupted' : 'aborted';
              delete step.approval;
            }
          }
        }
        break;
      }
      case 'error': {
        if (msg.chat_id && msg.chat_id !== this._chatId) {
          return false;
        }
        const pending = msg.reply_to
          ? this._pending.get(msg.reply_to)
          : undefined;
        if (msg.reply_to && pending) {
          // the server refused a prompt: no turn started
          this._pending.delete(msg.reply_to);
          this._notices.push({
            id: `n${++noticeCounter}`,
            error: msg,
            request: pending
          });
          break;
        }
        if (!msg.chat_id) {
          return false;
        }
        const last = this._turns[this._turns.length - 1];
        if (last && last.status === undefined) {
          last.items.push({ kind: 'error', error: msg });
        } else if (msg.code !== 'not_running') {
          this._notices.push({ id: `n${++noticeCounter}`, error: msg });
        }
        break;
      }
      default:
        return false;
    }
    this._emit();
    return true;
  }

  /** The chat as Markdown (for export). */
  toMarkdown(notebookName: string): string {
    return chatToMarkdown(this, notebookName);
  }

  private _turn(n: number): ITurnView | undefined {
    return this._turns.find(t => t.turn === n);
  }

  private _turnFor(chatId: string, n: number): ITurnView | undefined {
    if (chatId !== this._chatId) {
      return undefined;
    }
    let turn = this._turn(n);
    if (!turn) {
      // a message for a turn we never saw start (joined late): make room for it
      turn = { turn: n, mode: 'chat', prompt: '', items: [] };
      this._turns.push(turn);
      this._turns.sort((a, b) => a.turn - b.turn);
    }
    return turn;
  }

  private _reset(chatId: string): void {
    this._chatId = chatId;
    this._title = '';
    this._turns = [];
    this._steps = new Map();
    this._notices = [];
    this._pending = new Map();
    this._chatUsage = undefined;
    this._breakText = new Set();
  }

  private _emit(): void {
    if (!this._replaying) {
      this._changed.emit();
    }
  }

  private _notebookPath: string;
  private _chatId: string;
  private _title = '';
  private _turns: ITurnView[] = [];
  private _steps = new Map<string, IStepView>();
  private _notices: IChatNotice[] = [];
  private _pending = new Map<
    string,
    Pick<PromptMsg, 'text' | 'mode' | 'cell_id'>
  >();
  private _chatUsage: Usage | undefined;
  private _breakText = new Set<number>();
  private _loading = false;
  private _replaying = false;
  private _changed = new Signal<this, void>(this);
}

/** A fresh chat id the server accepts (letters, digits, - and _). */
export function newChatId(): string {
  const rnd = () => Math.random().toString(36).slice(2, 10);
  return `c${Date.now().toString(36)}${rnd()}${rnd()}`.slice(0, 40);
}
