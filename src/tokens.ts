/**
 * Plugin tokens and shared interfaces of jupyterlab-codeinterp.
 */
import { NotebookPanel } from '@jupyterlab/notebook';
import { Token } from '@lumino/coreutils';
import { ISignal } from '@lumino/signaling';

import { ChatModel } from './chat/model';
import { NotebookExecutor } from './executor';
import { ApprovalRequestMsg, IServerConfig, TurnMode } from './protocol';
import { ChatSocket } from './socket';

/** The user settings (schema/plugin.json). */
export interface ICodeInterpSettings {
  autoRun: boolean;
  maxRepairs: number;
  contextTokenBudget: number;
  vision: boolean;
  model: string;
  maxUploadMB: number;
}

export const DEFAULT_SETTINGS: ICodeInterpSettings = {
  autoRun: true,
  maxRepairs: 3,
  contextTokenBudget: 6000,
  vision: false,
  model: '',
  maxUploadMB: 100
};

export interface ISendOptions {
  mode?: TurnMode;
  cellId?: string | null;
}

/** An approval request with the chat it belongs to. */
export interface IApprovalEvent {
  chat: ChatModel;
  request: ApprovalRequestMsg;
}

/** The Code Interpreter service: socket, configuration, chats and executor. */
export interface ICodeInterp {
  readonly socket: ChatSocket;
  readonly executor: NotebookExecutor;
  readonly config: IServerConfig | null;
  readonly configError: string | null;
  readonly configChanged: ISignal<ICodeInterp, IServerConfig | null>;
  readonly settings: ICodeInterpSettings;
  readonly settingsChanged: ISignal<ICodeInterp, ICodeInterpSettings>;
  /** The model prompts go to (settings, else the server's default). */
  readonly model: string;
  setModel(model: string): void;
  /** Emitted when the server asks the user to approve something. */
  readonly approvalRequested: ISignal<ICodeInterp, IApprovalEvent>;
  /** Emitted when the notebook the sidebar follows changes. */
  readonly currentChanged: ISignal<ICodeInterp, ChatModel | null>;
  readonly current: ChatModel | null;

  reloadConfig(): Promise<IServerConfig | null>;
  /** The chat of a notebook (created and loaded from history on first use). */
  chatForNotebook(panel: NotebookPanel): ChatModel;
  chatById(chatId: string): ChatModel | undefined;
  notebookForChat(chatId: string): NotebookPanel | null;
  sendPrompt(
    chat: ChatModel,
    text: string,
    options?: ISendOptions
  ): Promise<void>;
  stop(chat: ChatModel): void;
  approve(
    chat: ChatModel,
    stepId: string,
    decision: 'run' | 'skip' | 'accept' | 'reject',
    code?: string
  ): void;
  listChats(chat: ChatModel): Promise<Record<string, any>[]>;
  openChat(chat: ChatModel, chatId: string): Promise<void>;
  newChat(chat: ChatModel): void;
  deleteChat(chat: ChatModel, chatId: string): Promise<Record<string, any>[]>;
}

export const ICodeInterp = new Token<ICodeInterp>(
  'jupyterlab-codeinterp:ICodeInterp',
  'The Code Interpreter chat service.'
);
