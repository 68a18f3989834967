/**
 * The chat sidebar widget (`jp-codeinterp-chat`) and the actions its
 * components call: uploads, links to cells and files, export, the "what the
 * model sees" view.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { Dialog, Notification, showDialog } from '@jupyterlab/apputils';
import { PathExt } from '@jupyterlab/coreutils';
import { NotebookPanel } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { TranslationBundle } from '@jupyterlab/translation';
import { ReactWidget } from '@jupyterlab/ui-components';
import { Signal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';
import * as React from 'react';

import { findCell } from '../executor';
import { requestAPI } from '../handler';
import { codeInterpIcon } from '../icons';
import { IContextInfo } from '../protocol';
import { ICodeInterp } from '../tokens';
import { assessTurnChanges, countChanges } from '../turnChanges';
import { notebookSnapshot, UndoOutcome, undoTurnChanges } from '../undoTurn';
import { formatBytes, uploadFile } from '../upload';
import { ChatPanel, IChatActions } from './components/index';
import { ChatModel, ITurnView } from './model';

export const SIDEBAR_ID = 'jp-codeinterp-chat';

export interface IChatSidebarOptions {
  app: JupyterFrontEnd;
  service: ICodeInterp;
  rendermime: IRenderMimeRegistry;
  trans: TranslationBundle;
  /** Persist the model choice in the settings. */
  saveModel?: (model: string) => void;
}

export class ChatSidebar extends ReactWidget implements IChatActions {
  constructor(options: IChatSidebarOptions) {
    super();
    this._app = options.app;
    this.service = options.service;
    this.rendermime = options.rendermime.clone();
    this.trans = options.trans;
    this._saveModel = options.saveModel;
    this.id = SIDEBAR_ID;
    this.addClass('jp-codeinterp-sidebar');
    this.title.icon = codeInterpIcon;
    this.title.caption = this.trans.__('Code Interpreter');
    this.node.setAttribute('role', 'complementary');
    this.node.setAttribute(
      'aria-label',
      this.trans.__('Code Interpreter chat')
    );
    this._fileInput = document.createElement('input');
    this._fileInput.type = 'file';
    this._fileInput.multiple = true;
    this._fileInput.className = 'jp-codeinterp-file-input';
    this._fileInput.style.display = 'none';
    this._fileInput.setAttribute('aria-hidden', 'true');
    this._fileInput.addEventListener('change', () => {
      const files = Array.from(this._fileInput.files ?? []);
      this._fileInput.value = '';
      if (files.length) {
        void this.upload(files);
      }
    });
    // outside the React root (React owns the sidebar node's children)
    document.body.appendChild(this._fileInput);
  }

  dispose(): void {
    this._fileInput.remove();
    super.dispose();
  }

  readonly service: ICodeInterp;
  readonly rendermime: IRenderMimeRegistry;
  readonly trans: TranslationBundle;

  get uploadsChanged(): Signal<this, void> {
    return this._uploadsChanged;
  }

  render(): JSX.Element {
    return <ChatPanel actions={this} />;
  }

  /** Focus the message box (after the command opened the sidebar). */
  focusInput(): void {
    const input = this.node.querySelector<HTMLTextAreaElement>(
      '.jp-codeinterp-input'
    );
    input?.focus();
  }

  openFile(path: string): void {
    void this._app.commands.execute('docmanager:open', { path });
  }

  goToCell(chat: ChatModel, cellId: string): void {
    const panel = this.service.notebookForChat(chat.chatId);
    if (!panel) {
      return;
    }
    const found = findCell(panel, cellId);
    if (!found) {
      Notification.warning(
        this.trans.__('That cell is no longer in the notebook.'),
        {
          autoClose: 4000
        }
      );
      return;
    }
    this._app.shell.activateById(panel.id);
    const notebook = panel.content;
    notebook.activeCellIndex = found.index;
    const widget = notebook.widgets[found.index];
    void notebook.scrollToCell(widget, 'center');
  }

  notebookFor(chat: ChatModel): NotebookPanel | null {
    return this.service.notebookForChat(chat.chatId);
  }

  async undoTurn(
    chat: ChatModel,
    turn: ITurnView
  ): Promise<UndoOutcome | null> {
    const panel = this.notebookFor(chat);
    const model = panel?.content.model;
    if (!panel || !model) {
      return null;
    }
    // refuse at once, without asking, when a cell was edited since (the chat names it)
    const assessment = assessTurnChanges(
      turn.changes,
      notebookSnapshot(model),
      chat.chatId
    );
    if (assessment.edited.length > 0) {
      return { ok: false, assessment };
    }
    const removes = assessment.toRemove.length;
    const restores = assessment.toRestore.length;
    if (removes + restores === 0) {
      return { ok: true, removed: 0, restored: 0 };
    }
    const files = countChanges(turn.changes).files;
    const parts = [
      removes &&
        this.trans._n(
          'Removes the cell this turn added.',
          'Removes the %1 cells this turn added.',
          removes
        ),
      restores &&
        this.trans._n(
          'Restores your cell as it was before the fix.',
          'Restores your %1 cells as they were before the fixes.',
          restores
        ),
      files &&
        this.trans._n(
          'The file it wrote stays.',
          'The %1 files it wrote stay.',
          files
        ),
      this.trans.__(
        'The kernel is not touched: variables its cells created stay in the kernel until it restarts.'
      ),
      this.trans.__(
        'Undo in the notebook (Z in command mode) brings it all back.'
      )
    ].filter(Boolean);
    const result = await showDialog({
      title: this.trans.__('Undo this turn?'),
      body: parts.join(' '),
      buttons: [
        Dialog.cancelButton({ label: this.trans.__('Cancel') }),
        Dialog.warnButton({ label: this.trans.__('Undo Turn') })
      ]
    });
    if (!result.button.accept) {
      return null;
    }
    return undoTurnChanges(model, turn.changes, chat.chatId);
  }

  pickFiles(): void {
    if (this.service.current) {
      this._fileInput.click();
    }
  }

  pendingUploads(chat: ChatModel): string[] {
    return this._uploads.get(chat) ?? [];
  }

  takePendingUploads(chat: ChatModel): string[] {
    const names = this._uploads.get(chat) ?? [];
    this._uploads.delete(chat);
    this._uploadsChanged.emit();
    return names;
  }

  async upload(files: File[]): Promise<void> {
    const chat = this.service.current;
    if (!chat) {
      return;
    }
    const directory = PathExt.dirname(chat.notebookPath);
    const maxBytes = this.service.settings.maxUploadMB * 1024 * 1024;
    for (const file of files) {
      const id = Notification.emit(
        this.trans.__('Uploading %1…', file.name),
        'in-progress',
        {
          autoClose: false
        }
      );
      try {
        const result = await uploadFile(file, {
          contents: this._app.serviceManager.contents,
          directory,
          maxBytes,
          trans: this.trans
        });
        if (!result) {
          Notification.update({
            id,
            message: this.trans.__('Upload of %1 cancelled.', file.name),
            type: 'info',
            autoClose: 3000
          });
          continue;
        }
        const list = this._uploads.get(chat) ?? [];
        if (!list.includes(result.name)) {
          list.push(result.name);
        }
        this._uploads.set(chat, list);
        this._uploadsChanged.emit();
        chat.addNotice({
          text: this.trans.__(
            'Uploaded %1 (%2) to %3',
            result.name,
            formatBytes(result.size),
            directory || '/'
          )
        });
        Notification.update({
          id,
          message: this.trans.__('Uploaded %1', result.name),
          type: 'success',
          autoClose: 3000
        });
      } catch (error: any) {
        Notification.update({
          id,
          message: String(error?.message ?? error),
          type: 'error',
          autoClose: false
        });
        chat.addNotice({
          error: {
            type: 'error',
            code: 'upload',
            message: String(error?.message ?? error)
          }
        });
      }
    }
  }

  async showContext(chat: ChatModel): Promise<void> {
    const body = new Widget();
    body.addClass('jp-codeinterp-context-view');
    body.node.textContent = this.trans.__('Gathering context…');
    const dialog = new Dialog({
      title: this.trans.__(
        'What the model sees for %1',
        PathExt.basename(chat.notebookPath)
      ),
      body,
      buttons: [Dialog.okButton({ label: this.trans.__('Close') })]
    });
    const shown = dialog.launch();
    try {
      // the kernel this tab runs the notebook on: the server's session may still carry the
      // notebook's previous name for a moment after a rename
      const kernelId =
        this.notebookFor(chat)?.sessionContext.session?.kernel?.id ?? '';
      const info = await requestAPI<IContextInfo>(
        `context?path=${encodeURIComponent(chat.notebookPath)}` +
          (kernelId ? `&kernel=${encodeURIComponent(kernelId)}` : '')
      );
      renderContext(body.node, info, this.trans);
    } catch (error: any) {
      body.node.textContent = this.trans.__(
        'Could not gather the context: %1',
        String(error?.message ?? error)
      );
    }
    await shown;
  }

  async exportChat(chat: ChatModel): Promise<void> {
    const dir = PathExt.dirname(chat.notebookPath);
    const stem = PathExt.basename(
      chat.notebookPath,
      PathExt.extname(chat.notebookPath)
    );
    const stamp = new Date().toISOString().slice(0, 16).replace(/[:T]/g, '-');
    const path = PathExt.join(dir, `${stem}-chat-${stamp}.md`);
    try {
      await this._app.serviceManager.contents.save(path, {
        type: 'file',
        format: 'text',
        content: chat.toMarkdown(PathExt.basename(chat.notebookPath))
      });
      await this._app.commands.execute('docmanager:open', { path });
      Notification.success(this.trans.__('Exported the chat to %1', path), {
        autoClose: 4000
      });
    } catch (error: any) {
      Notification.error(
        this.trans.__('Export failed: %1', String(error?.message ?? error))
      );
    }
  }

  setModel(model: string): void {
    this.service.setModel(model);
    this._saveModel?.(model);
  }

  async confirmDelete(title: string): Promise<boolean> {
    const result = await showDialog({
      title: this.trans.__('Delete chat?'),
      body: this.trans.__('Delete "%1"? This cannot be undone.', title),
      buttons: [
        Dialog.cancelButton({ label: this.trans.__('Cancel') }),
        Dialog.warnButton({ label: this.trans.__('Delete') })
      ]
    });
    return result.button.accept;
  }

  private _app: JupyterFrontEnd;
  private _saveModel?: (model: string) => void;
  private _fileInput: HTMLInputElement;
  private _uploads = new Map<ChatModel, string[]>();
  private _uploadsChanged = new Signal<this, void>(this);
}

/** Fill the "what the model sees" view: totals, notes, per-part numbers, the text. */
export function renderContext(
  node: HTMLElement,
  info: IContextInfo,
  trans: TranslationBundle
): void {
  node.textContent = '';
  const summary = document.createElement('p');
  const budget = (info as any).budget;
  summary.textContent =
    budget !== undefined
      ? trans.__(
          'About %1 of %2 tokens; gathered in %3 ms.',
          info.tokens ?? 0,
          budget,
          Math.round(Number((info as any).elapsed_ms ?? 0))
        )
      : trans.__('About %1 tokens.', info.tokens ?? 0);
  node.appendChild(summary);
  if (info.notes && info.notes.length) {
    const ul = document.createElement('ul');
    ul.className = 'jp-codeinterp-context-notes';
    for (const note of info.notes) {
      const li = document.createElement('li');
      li.textContent = note;
      ul.appendChild(li);
    }
    node.appendChild(ul);
  }
  const parts = info.parts;
  if (parts && typeof parts === 'object' && !Array.isArray(parts)) {
    const table = document.createElement('table');
    table.className = 'jp-codeinterp-context-parts';
    const head = document.createElement('tr');
    for (const h of [
      trans.__('Part'),
      trans.__('Tokens'),
      trans.__('Time (ms)'),
      trans.__('Note')
    ]) {
      const th = document.createElement('th');
      th.textContent = h;
      head.appendChild(th);
    }
    table.appendChild(head);
    for (const [name, part] of Object.entries(parts as Record<string, any>)) {
      const tr = document.createElement('tr');
      const cells = [
        name,
        String(part?.tokens ?? ''),
        part?.elapsed_ms !== undefined
          ? String(Math.round(Number(part.elapsed_ms) * 10) / 10)
          : '',
        String(part?.note ?? part?.rung ?? '')
      ];
      for (const c of cells) {
        const td = document.createElement('td');
        td.textContent = c;
        tr.appendChild(td);
      }
      table.appendChild(tr);
    }
    node.appendChild(table);
  }
  const pre = document.createElement('pre');
  pre.className = 'jp-codeinterp-context-text';
  pre.textContent = info.text ?? '';
  pre.setAttribute('aria-label', trans.__('Context text sent to the model'));
  pre.tabIndex = 0;
  node.appendChild(pre);
}
