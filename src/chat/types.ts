/**
 * The chat as the sidebar shows it: turns, their items and steps, notices.
 * ChatModel (model.ts) builds these from server messages.
 */
import {
  ApprovalDecision,
  ApprovalRequestMsg,
  ErrorMsg,
  Grounding,
  PromptMsg,
  StepMsg,
  TurnChanges,
  TurnMode,
  TurnStatus,
  Usage
} from '../protocol';

/** A tool step as the chat shows it. */
export interface IStepView extends StepMsg {
  /** When the browser first saw this step running (ms since epoch). */
  runningSince?: number;
  /** The pending approval request, while the step waits for the user. */
  approval?: ApprovalRequestMsg;
  /** What the user decided (set locally until the server confirms). */
  decided?: ApprovalDecision;
  /** The cell the executor created for this step (known before the server says). */
  localCellId?: string;
}

export type TurnItem =
  | { kind: 'text'; text: string }
  | { kind: 'step'; stepId: string }
  | { kind: 'error'; error: ErrorMsg }
  | { kind: 'note'; text: string };

export interface ITurnView {
  turn: number;
  mode: TurnMode;
  prompt: string;
  /** Text, steps and errors in the order they arrived. */
  items: TurnItem[];
  /** Undefined while running. */
  status?: TurnStatus;
  answer?: string;
  usage?: Usage;
  context?: { tokens: number; notes: string[] };
  /** The prompt that started the turn, for Retry. */
  request?: Pick<PromptMsg, 'text' | 'mode' | 'cell_id'>;
  /**
   * Started by a prompt from this tab. Other tabs showing the chat see the
   * turn too, but a lost connection stops only the turns of the tab that lost it.
   */
  ownedHere?: boolean;
  /** Code of a run_code call while it streams (code_delta), until its step starts. */
  codePreview?: string;
  /** Whether the answer rests on cells that ran in the turn (from turn_end). */
  grounding?: Grounding;
  /** Generated cells that ran in the turn (from turn_end). */
  cellsRun?: number;
  /** What the turn changed in the notebook (from turn_end; absent in older histories). */
  changes?: TurnChanges | null;
}

/** A message shown outside any turn (e.g. a prompt the server refused). */
export interface IChatNotice {
  id: string;
  error?: ErrorMsg;
  text?: string;
  request?: Pick<PromptMsg, 'text' | 'mode' | 'cell_id'>;
}
