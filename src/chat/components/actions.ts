/**
 * What the chat components need from the outside world (the sidebar widget
 * implements it): the service, rendering, and the actions that reach into
 * JupyterLab (open a file, scroll to a cell, upload, dialogs).
 */
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { TranslationBundle } from '@jupyterlab/translation';
import { ISignal } from '@lumino/signaling';

import { ICodeInterp } from '../../tokens';
import { ChatModel } from '../model';

/** What the components need from the outside world. */
export interface IChatActions {
  service: ICodeInterp;
  rendermime: IRenderMimeRegistry;
  trans: TranslationBundle;
  openFile(path: string): void;
  goToCell(chat: ChatModel, cellId: string): void;
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
