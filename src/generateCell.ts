/**
 * Generate-and-run: a prompt box on the active cell. The request goes to the
 * notebook's chat in `generate` mode with the cell's id; the server inserts
 * the code below that cell (through the executor), runs it and repairs it
 * like any generated cell. When the model streams its code as a fenced block,
 * the code appears in a new cell below while it is written, and the executor
 * reuses that cell for the run. Once the turn ends, the new cell offers
 * Keep / Discard (keepDiscard.ts).
 */
import { Cell } from '@jupyterlab/cells';
import { NotebookPanel } from '@jupyterlab/notebook';
import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import { attachToCell, findDecoration } from './cellDecorations';
import { ChatModel, ITurnView } from './chat/model';
import { findCell, METADATA_KEY } from './executor';
import { offerKeepDiscard } from './keepDiscard';
import { ICodeInterp } from './tokens';

const BOX_CLASS = 'jp-codeinterp-generate';

/** The code of the last fenced block in `text`, even when the fence is still open. */
export function streamingCode(text: string): string | null {
  const opening = /```[^\n`]*\n/g;
  let code: string | null = null;
  let from = 0;
  for (;;) {
    opening.lastIndex = from;
    const open = opening.exec(text);
    if (!open) {
      break;
    }
    const start = open.index + open[0].length;
    const close = text.indexOf('```', start);
    if (close < 0) {
      // still streaming: drop a half-written closing fence
      code = text.slice(start).replace(/\n?`{1,2}$/, '');
      break;
    }
    code = text.slice(start, close);
    from = close + 3;
  }
  return code === null ? null : code.replace(/\n$/, '');
}

class GenerateBox extends Widget {
  constructor(
    trans: TranslationBundle,
    onSubmit: (text: string) => void,
    onCancel: () => void
  ) {
    super();
    this.addClass(BOX_CLASS);
    this.node.setAttribute('role', 'group');
    this.node.setAttribute('aria-label', trans.__('Generate a cell'));
    const input = document.createElement('textarea');
    input.className = 'jp-codeinterp-generate-input';
    input.rows = 2;
    input.placeholder = trans.__(
      'Describe the code to write below this cell (Enter runs, Escape closes)'
    );
    input.setAttribute('aria-label', trans.__('What should the new cell do?'));
    const buttons = document.createElement('div');
    buttons.className = 'jp-codeinterp-approval-buttons';
    const go = document.createElement('button');
    go.type = 'button';
    go.className =
      'jp-Button jp-mod-styled jp-mod-accept jp-codeinterp-generate-submit';
    go.textContent = trans.__('Generate');
    const cancel = document.createElement('button');
    cancel.type = 'button';
    cancel.className = 'jp-Button jp-mod-styled jp-mod-reject';
    cancel.textContent = trans.__('Close');
    buttons.append(go, cancel);
    this._status = document.createElement('div');
    this._status.className = 'jp-codeinterp-generate-status';
    this._status.setAttribute('role', 'status');
    this._status.setAttribute('aria-live', 'polite');
    const submit = () => {
      const text = input.value.trim();
      if (text && !go.disabled) {
        onSubmit(text);
      }
    };
    go.addEventListener('click', submit);
    cancel.addEventListener('click', onCancel);
    input.addEventListener('keydown', event => {
      // keep notebook shortcuts out of the box
      event.stopPropagation();
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        submit();
      } else if (event.key === 'Escape') {
        event.preventDefault();
        onCancel();
      }
    });
    this.node.append(input, buttons, this._status);
    this._input = input;
    this._go = go;
  }

  focusInput(): void {
    this._input.focus();
  }

  setBusy(busy: boolean, status: string): void {
    this._go.disabled = busy;
    this._input.disabled = busy;
    this._status.textContent = status;
  }

  private _input: HTMLTextAreaElement;
  private _go: HTMLButtonElement;
  private _status: HTMLElement;
}

export class GenerateCellManager {
  constructor(
    private _service: ICodeInterp,
    private _trans: TranslationBundle
  ) {}

  /** Open (or focus) the prompt box on `cell`. */
  async open(panel: NotebookPanel, cell: Cell): Promise<void> {
    const existing = findDecoration<GenerateBox>(cell, BOX_CLASS);
    if (existing) {
      existing.focusInput();
      return;
    }
    const box: GenerateBox = new GenerateBox(
      this._trans,
      text => void this._submit(panel, cell, box, text),
      () => {
        box.dispose();
        panel.content.activate();
      }
    );
    await attachToCell(cell, box, 'below-output');
    box.focusInput();
  }

  private async _submit(
    panel: NotebookPanel,
    cell: Cell,
    box: GenerateBox,
    text: string
  ): Promise<void> {
    const chat = this._service.chatForNotebook(panel);
    if (chat.isRunning) {
      box.setBusy(
        false,
        this._trans.__('The chat is busy; stop it or wait, then try again.')
      );
      return;
    }
    box.setBusy(true, this._trans.__('Writing code…'));
    const anchorId = cell.model.id;
    const startTurns = chat.turns.length;
    let previewId: string | null = null;
    const onChange = () => {
      if (box.isDisposed) {
        chat.changed.disconnect(onChange);
        return;
      }
      const turn: ITurnView | undefined = chat.turns[chat.turns.length - 1];
      if (!turn || chat.turns.length <= startTurns) {
        const notice = chat.notices[chat.notices.length - 1];
        if (notice?.error && !chat.isRunning) {
          box.setBusy(false, notice.error.message);
          chat.changed.disconnect(onChange);
        }
        return;
      }
      previewId = this._updatePreview(panel, chat, turn, anchorId, previewId);
      if (turn.status === undefined) {
        const step = turn.items
          .filter(i => i.kind === 'step')
          .map(i => chat.step((i as { stepId: string }).stepId))
          .pop();
        box.setBusy(
          true,
          step
            ? step.state === 'waiting_approval'
              ? this._trans.__('Waiting for your approval (see the chat).')
              : step.state === 'running'
                ? (step.attempt ?? 1) > 1
                  ? this._trans.__(
                      'Repairing (attempt %1 of %2)…',
                      step.attempt ?? 1,
                      step.max_attempts ?? 1
                    )
                  : this._trans.__('Running…')
                : this._trans.__('%1', step.state)
            : this._trans.__('Writing code…')
        );
        return;
      }
      chat.changed.disconnect(onChange);
      this._dropUnusedPreview(panel, previewId);
      void offerKeepDiscard(panel, chat, turn, this._trans);
      const error = turn.items.find(i => i.kind === 'error');
      if (turn.status === 'done' && !error) {
        box.dispose();
        return;
      }
      box.setBusy(
        false,
        error && error.kind === 'error'
          ? error.error.message
          : turn.status === 'stopped'
            ? this._trans.__('Stopped.')
            : (turn.answer ?? '').split('\n')[0]
      );
    };
    chat.changed.connect(onChange);
    await this._service.sendPrompt(chat, text, {
      mode: 'generate',
      cellId: anchorId
    });
  }

  /** Stream the code of a fenced block into a preview cell below the anchor. */
  private _updatePreview(
    panel: NotebookPanel,
    chat: ChatModel,
    turn: ITurnView,
    anchorId: string,
    previewId: string | null
  ): string | null {
    const executor = this._service.executor;
    const hasStep = turn.items.some(i => i.kind === 'step');
    if (hasStep) {
      return previewId; // the real code arrived: the executor owns the cell now
    }
    const text = turn.items
      .filter(i => i.kind === 'text')
      .map(i => (i as { text: string }).text)
      .join('');
    // tool protocol: code_delta; code-block protocol: the fenced block in the text
    const code = turn.codePreview ?? streamingCode(text);
    if (code === null) {
      return previewId;
    }
    const model = panel.content.model;
    if (!model) {
      return previewId;
    }
    const existing = previewId ? findCell(panel, previewId) : null;
    if (existing) {
      if (existing.model.sharedModel.getSource() !== code) {
        existing.model.sharedModel.setSource(code);
      }
      return previewId;
    }
    const anchor = findCell(panel, anchorId);
    if (!anchor) {
      return previewId;
    }
    const index = anchor.index + 1;
    model.sharedModel.transact(() => {
      model.sharedModel.insertCell(index, {
        cell_type: 'code',
        source: code,
        metadata: {
          [METADATA_KEY]: {
            generated: true,
            chat_id: chat.chatId,
            turn: turn.turn,
            preview: true
          }
        } as any
      });
    });
    const id = model.cells.get(index).id;
    executor.registerPreview(chat.chatId, turn.turn, id);
    return id;
  }

  /** A preview the executor never used (no code ran) is removed. */
  private _dropUnusedPreview(
    panel: NotebookPanel,
    previewId: string | null
  ): void {
    if (!previewId) {
      return;
    }
    const found = findCell(panel, previewId);
    const meta = found?.model.getMetadata(METADATA_KEY) as
      { preview?: boolean } | undefined;
    if (found && meta?.preview && panel.content.model) {
      panel.content.model.sharedModel.deleteCell(found.index);
    }
  }
}
