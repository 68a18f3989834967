/**
 * The chat protocol: every message that crosses `WS codeinterp/chat`.
 *
 * This mirrors `jupyterlab_codeinterp/protocol.py` (the source of truth) one
 * interface per Python class, same names, same fields; a field is optional
 * (`?`) exactly where the Python field has a default. `tests/test_protocol_sync.py`
 * parses this file, so keep each message a plain `export interface X { ... }`
 * with one field per line.
 */

/* eslint-disable @typescript-eslint/naming-convention */

export type TurnMode = 'chat' | 'fix' | 'generate';

export type StepState =
  | 'waiting_approval'
  | 'running'
  | 'ok'
  | 'error'
  | 'skipped'
  | 'interrupted'
  | 'timeout'
  | 'aborted';

export type TurnStatus = 'done' | 'stopped' | 'failed' | 'gave_up';

export type CellOutcomeStatus =
  'ok' | 'error' | 'interrupted' | 'timeout' | 'aborted' | 'skipped';

export type ApprovalDecision = 'run' | 'skip' | 'accept' | 'reject';

export type ExecutorAction = 'run_cell' | 'interrupt' | 'read_cells';

export type ApprovalKind = 'run' | 'fix';

export interface Usage {
  prompt_tokens?: number;
  completion_tokens?: number;
  total_tokens?: number;
  cost?: number | null;
  /** True when the endpoint reported no usage and the counts are our estimate. */
  estimated?: boolean;
}

/** What running one cell produced, as the frontend executor reports it. */
export interface CellOutcome {
  status: CellOutcomeStatus;
  cell_id?: string;
  execution_count?: number | null;
  outputs?: Record<string, any>[];
  ename?: string;
  evalue?: string;
  traceback?: string[];
  elapsed?: number;
}

// ---------------------------------------------------------------- client -> server

export interface PromptMsg {
  type: 'prompt';
  id?: string | null;
  chat_id: string;
  notebook_path: string;
  text: string;
  mode?: TurnMode;
  /** For `fix` the failed cell; for `generate` the cell below which code goes. */
  cell_id?: string | null;
  model?: string | null;
  auto_run?: boolean | null;
  /** The user's setting; the server caps it at its own max_repairs. */
  max_repairs?: number | null;
  /** Send cell images to the model (only when the server allows vision). */
  vision?: boolean | null;
  /** The user's setting; the server caps it at its own budget. */
  context_token_budget?: number | null;
}

export interface StopMsg {
  type: 'stop';
  id?: string | null;
  chat_id: string;
}

/** The browser's answer to an ExecutorRequestMsg. */
export interface ExecutorReplyMsg {
  type: 'executor_reply';
  request_id: string;
  ok?: boolean;
  result?: Record<string, any> | null;
  error?: string | null;
}

export interface ApprovalReplyMsg {
  type: 'approval_reply';
  step_id: string;
  decision: ApprovalDecision;
  /** Edited code when the user changed it before running. */
  code?: string | null;
}

/** Ask for the chats of a notebook (no chat_id) or one chat's messages. */
export interface HistoryRequestMsg {
  type: 'history_request';
  id?: string | null;
  notebook_path: string;
  chat_id?: string | null;
}

export interface DeleteChatMsg {
  type: 'delete_chat';
  id?: string | null;
  notebook_path: string;
  chat_id: string;
}

export type ClientMessage =
  | PromptMsg
  | StopMsg
  | ExecutorReplyMsg
  | ApprovalReplyMsg
  | HistoryRequestMsg
  | DeleteChatMsg;

// ---------------------------------------------------------------- server -> client

export interface HelloMsg {
  type: 'hello';
  protocol_version: number;
  server_version: string;
}

export interface TurnStartMsg {
  type: 'turn_start';
  chat_id: string;
  turn: number;
  mode: TurnMode;
  prompt: string;
  reply_to?: string | null;
}

/** What context was gathered for the turn (and what was skipped). */
export interface ContextNoteMsg {
  type: 'context_note';
  chat_id: string;
  turn: number;
  tokens: number;
  notes?: string[];
}

export interface TextDeltaMsg {
  type: 'text_delta';
  chat_id: string;
  turn: number;
  text: string;
}

/** A tool step (a generated cell, or a read-only look), sent on every state change. */
/** Code of a `run_code` call as it streams (tool protocol), for a live preview cell. */
export interface CodeDeltaMsg {
  type: 'code_delta';
  chat_id: string;
  turn: number;
  text: string;
}

export interface StepMsg {
  type: 'step';
  chat_id: string;
  turn: number;
  step_id: string;
  tool: string;
  state: StepState;
  code?: string;
  attempt?: number;
  max_attempts?: number;
  cell_id?: string;
  /** Compact result text (what the model was told). */
  summary?: string;
  /** base64 PNGs produced by the cell. */
  images?: string[];
  /** Paths (relative to the server root) of files the cell wrote. */
  files?: string[];
  /** Why the step waits for approval (e.g. "deletes files"). */
  reason?: string;
  elapsed?: number;
}

export interface ApprovalRequestMsg {
  type: 'approval_request';
  chat_id: string;
  turn: number;
  step_id: string;
  kind: ApprovalKind;
  code: string;
  /** For `fix`: the current source of the user's cell, to show a diff. */
  original?: string;
  cell_id?: string;
  reason?: string;
}

/** Ask the browser to act on the open notebook; answered by ExecutorReplyMsg. */
export interface ExecutorRequestMsg {
  type: 'executor_request';
  request_id: string;
  chat_id: string;
  action: ExecutorAction;
  code?: string;
  /** Set for a repair: replace this generated cell's source and re-run it. */
  replace_cell_id?: string | null;
  /** Insert below this cell (default: below the turn's last cell, else the active cell). */
  anchor_cell_id?: string | null;
  metadata?: Record<string, any>;
  timeout?: number;
}

/**
 * Whether a turn's answer rests on cells that ran in it: `computed` (it does),
 * `not_computed` (the request needed code and no cell computed the answer's values), `unverified` (it states numbers no
 * output of the turn shows), `''` (nothing to compute).
 */
export type Grounding = '' | 'computed' | 'not_computed' | 'unverified';

/** One notebook cell a turn changed: a cell it added, or a cell of the user it replaced. */
export interface CellChange {
  kind: 'added' | 'replaced';
  /** Empty when the turn never learnt it: find the cell by `step_id` in its metadata. */
  cell_id?: string;
  step_id?: string;
  /** What the turn left in the cell (the cell counts as edited since when it differs). */
  source?: string;
  /** For `replaced`: the cell's source before the turn (what undo restores). */
  original?: string;
}

/** What a turn changed in the notebook (saved with its `turn_end`, for review and undo). */
export interface TurnChanges {
  cells?: CellChange[];
  /** Paths (relative to the server root) of the files its cells wrote. */
  files?: string[];
}

export interface TurnEndMsg {
  type: 'turn_end';
  chat_id: string;
  turn: number;
  status: TurnStatus;
  answer?: string;
  usage?: Usage;
  chat_usage?: Usage;
  grounding?: Grounding;
  /** Generated cells that ran (ok or not) in this turn. */
  cells_run?: number;
  /** What the turn changed in the notebook (absent in histories saved before it was kept). */
  changes?: TurnChanges | null;
}

export interface ErrorMsg {
  type: 'error';
  /** Stable machine-readable kind: bad_message, auth, model_not_found, rate_limit, ... */
  code: string;
  message: string;
  chat_id?: string | null;
  reply_to?: string | null;
  retryable?: boolean;
  hint?: string;
}

/** Progress worth a line in the chat that is not an error (e.g. "retrying in 2 s"). */
export interface NoticeMsg {
  type: 'notice';
  chat_id: string;
  turn: number;
  level?: 'info' | 'warning';
  text: string;
}

export interface HistoryMsg {
  type: 'history';
  notebook_path: string;
  reply_to?: string | null;
  /** Summaries (id, title, created, updated, turns) when no chat was asked for. */
  chats?: Record<string, any>[];
  chat_id?: string | null;
  /** The asked-for chat's display log: the server messages it was built from. */
  messages?: Record<string, any>[];
}

export type ServerMessage =
  | HelloMsg
  | TurnStartMsg
  | ContextNoteMsg
  | TextDeltaMsg
  | CodeDeltaMsg
  | StepMsg
  | ApprovalRequestMsg
  | ExecutorRequestMsg
  | TurnEndMsg
  | ErrorMsg
  | NoticeMsg
  | HistoryMsg;

export type ServerMessageType = ServerMessage['type'];

/** The server message of a given `type`. */
export type ServerMessageOf<T extends ServerMessageType> = Extract<
  ServerMessage,
  { type: T }
>;

export const PROTOCOL_VERSION = 1;

export const CLIENT_MESSAGE_TYPES: ReadonlyArray<ClientMessage['type']> = [
  'prompt',
  'stop',
  'executor_reply',
  'approval_reply',
  'history_request',
  'delete_chat'
];

export const SERVER_MESSAGE_TYPES: ReadonlyArray<ServerMessageType> = [
  'hello',
  'turn_start',
  'context_note',
  'text_delta',
  'code_delta',
  'step',
  'approval_request',
  'executor_request',
  'turn_end',
  'error',
  'notice',
  'history'
];

/** True when `data` looks like a server message this client understands. */
export function isServerMessage(data: unknown): data is ServerMessage {
  return (
    typeof data === 'object' &&
    data !== null &&
    typeof (data as { type?: unknown }).type === 'string' &&
    (SERVER_MESSAGE_TYPES as ReadonlyArray<string>).includes(
      (data as { type: string }).type
    )
  );
}

/** The public configuration from `GET codeinterp/config`. */
export interface IServerConfig {
  preset: string;
  base_url: string;
  model: string;
  model_configured: boolean;
  models: string[];
  protocol: string;
  max_repairs: number;
  auto_run: boolean;
  vision: boolean;
  context_token_budget: number;
  has_api_key: boolean;
  /** OpenAI-compatible servers found running locally (when the server looks). */
  local_servers?: ILocalServer[];
  [key: string]: unknown;
}

export interface ILocalServer {
  preset?: string;
  label?: string;
  name?: string;
  base_url: string;
  models?: string[];
  [key: string]: unknown;
}

/** `GET codeinterp/context?path=` — what the model would be sent right now. */
export interface IContextInfo {
  parts?: Record<string, any>[] | Record<string, any>;
  text?: string;
  tokens?: number;
  notes?: string[];
  [key: string]: unknown;
}
