/**
 * What the chat components need from the outside world (the sidebar widget
 * implements it): the service, rendering, and the actions that reach into
 * JupyterLab (open a file, scroll to a cell, upload, dialogs).
 */
import { NotebookPanel } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { TranslationBundle } from '@jupyterlab/translation';
import { ISignal } from '@lumino/signaling';

import { ICodeInterp } from '../../tokens';
import { UndoOutcome } from '../../undoTurn';
import { ChatModel, ITurnView } from '../model';

/** What the components need from the outside world. */
export interface IChatActions {
  service: ICodeInterp;
  rendermime: IRenderMimeRegistry;
  trans: TranslationBundle;
  openFile(path: string): void;
  goToCell(chat: ChatModel, cellId: string): void;
  /** The open notebook of a chat (null when it is not open). */
  notebookFor(chat: ChatModel): NotebookPanel | null;
  /**
   * Undo a turn's changes in its notebook once the user confirms; null when
   * the user cancelled or the notebook is not open.
   */
  undoTurn(chat: ChatModel, turn: ITurnView): Promise<UndoOutcome | null>;
  upload(files: File[]): Promise<void>;
  pickFiles(): void;
  showContext(chat: ChatModel): void;
  exportChat(chat: ChatModel): void;
  setModel(model: string): void;
  confirmDelete(title: string): Promise<boolean>;
  /** Files uploaded but not yet mentioned in a prompt. */
  pendingUploads(chat: ChatModel): string[];
  takePendingUploads(chat: ChatModel): string[];
  uploadsChanged: ISignal<any, void>;
}
