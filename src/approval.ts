/**
 * Approvals in the notebook: when the server asks before running code, the
 * request shows on the notebook as well as in the chat card.
 *
 * - kind "fix" (a user cell): a diff above that cell with Accept / Reject;
 * - kind "run" for an existing cell (a repair): a diff above it with Run / Skip;
 * - kind "run" for new code: the proposed code below the cell it would follow,
 *   with Run / Edit / Skip (Edit lets the user change the code first).
 *
 * Either place answers the approval; the other one disappears with it.
 */
import { Cell } from '@jupyterlab/cells';
import { NotebookPanel } from '@jupyterlab/notebook';
import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import { attachToCell, findDecoration } from './cellDecorations';
import { ChatModel } from './chat/model';
import { lineDiff, renderDiff } from './diff';
import { findCell } from './executor';
import { ApprovalRequestMsg } from './protocol';
import { ICodeInterp } from './tokens';

const APPROVAL_CLASS = 'jp-codeinterp-celldiff';

type Decision = 'accept' | 'reject' | 'run' | 'skip';

/** The approval widget placed on a cell. */
export class CellApproval extends Widget {
  constructor(
    readonly request: ApprovalRequestMsg,
    before: string | null,
    trans: TranslationBundle,
    onDecide: (decision: Decision, code?: string) => void
  ) {
    super();
    this.addClass(APPROVAL_CLASS);
    this.node.dataset.stepId = request.step_id;
    this.node.setAttribute('role', 'group');
    const isFix = request.kind === 'fix';
    this.node.setAttribute(
      'aria-label',
      isFix
        ? trans.__('Proposed fix for this cell')
        : trans.__('Code waiting for your approval')
    );
    const title = document.createElement('div');
    title.className = 'jp-codeinterp-celldiff-title';
    if (isFix) {
      title.textContent = trans.__(
        'Proposed fix — Accept replaces this cell and runs it; Reject leaves it as it is.'
      );
    } else if (request.reason && request.reason !== 'ask before running') {
      title.textContent = trans.__(
        'Code Interpreter wants to run this (%1):',
        request.reason
      );
    } else {
      title.textContent = trans.__('Code Interpreter wants to run this:');
    }
    let body: HTMLElement;
    if (before !== null) {
      body = renderDiff(
        lineDiff(before, request.code),
        trans.__('Changes to the cell')
      );
    } else {
      body = document.createElement('pre');
      body.className = 'jp-codeinterp-code';
      body.setAttribute('aria-label', trans.__('Proposed code'));
      body.textContent = request.code;
    }
    const editor = document.createElement('textarea');
    editor.className = 'jp-codeinterp-edit-code';
    editor.setAttribute('aria-label', trans.__('Code to run'));
    editor.value = request.code;
    editor.rows = Math.min(
      20,
      Math.max(4, request.code.split('\n').length + 1)
    );
    editor.hidden = true;
    // keep notebook shortcuts out of the editor
    editor.addEventListener('keydown', event => event.stopPropagation());

    const buttons = document.createElement('div');
    buttons.className = 'jp-codeinterp-approval-buttons';
    const make = (
      label: string,
      cls: string,
      onClick: () => void
    ): HTMLButtonElement => {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = `jp-Button jp-mod-styled ${cls}`;
      b.textContent = label;
      b.addEventListener('click', onClick);
      buttons.appendChild(b);
      return b;
    };
    if (isFix) {
      make(trans.__('Accept'), 'jp-mod-accept jp-codeinterp-accept', () =>
        onDecide('accept')
      );
      make(trans.__('Reject'), 'jp-mod-reject jp-codeinterp-reject', () =>
        onDecide('reject')
      );
    } else {
      const run = make(
        trans.__('Run'),
        'jp-mod-accept jp-codeinterp-run',
        () => {
          const edited =
            !editor.hidden && editor.value !== request.code
              ? editor.value
              : undefined;
          onDecide('run', edited);
        }
      );
      if (before === null) {
        const edit = make(trans.__('Edit'), 'jp-codeinterp-edit', () => {
          editor.hidden = false;
          body.hidden = true;
          edit.remove();
          run.textContent = trans.__('Run Edited Code');
          editor.focus();
        });
      }
      make(trans.__('Skip'), 'jp-mod-reject jp-codeinterp-skip', () =>
        onDecide('skip')
      );
    }
    this.node.append(title, body, editor, buttons);
  }
}

/** Places approval requests on the notebook of their chat. */
export class ApprovalManager {
  constructor(
    private _service: ICodeInterp,
    private _trans: TranslationBundle
  ) {
    _service.approvalRequested.connect((_, { chat, request }) =>
      this._show(chat, request)
    );
  }

  private _show(chat: ChatModel, request: ApprovalRequestMsg): void {
    const panel = this._service.notebookForChat(chat.chatId);
    if (!panel) {
      return;
    }
    let cell: Cell | undefined;
    let before: string | null = null;
    let place: 'above-input' | 'below-output' = 'above-input';
    if (request.cell_id) {
      const found = findCell(panel, request.cell_id);
      cell = found ? panel.content.widgets[found.index] : undefined;
      before = cell ? cell.model.sharedModel.getSource() : null;
    } else {
      cell = this._anchorCell(panel, chat, request);
      place = 'below-output';
    }
    if (!cell) {
      return; // the chat card still asks
    }
    findDecoration<CellApproval>(cell, APPROVAL_CLASS)?.dispose();
    const widget = new CellApproval(
      request,
      before,
      this._trans,
      (decision, code) => {
        this._service.approve(chat, request.step_id, decision, code);
        widget.dispose();
      }
    );
    const target = cell;
    void attachToCell(target, widget, place).then(() => {
      void panel.content.scrollToCell(target, 'smart').catch(() => undefined);
    });
    const onChange = () => {
      const step = chat.step(request.step_id);
      if (widget.isDisposed) {
        chat.changed.disconnect(onChange);
        return;
      }
      if (!step || step.decided || step.state !== 'waiting_approval') {
        widget.dispose();
        chat.changed.disconnect(onChange);
      }
    };
    chat.changed.connect(onChange);
  }

  /** The cell new code would go below: the turn's last cell, else the active one. */
  private _anchorCell(
    panel: NotebookPanel,
    chat: ChatModel,
    request: ApprovalRequestMsg
  ): Cell | undefined {
    const turn = chat.turns.find(t => t.turn === request.turn);
    let anchorId: string | undefined;
    for (const item of turn?.items ?? []) {
      if (item.kind === 'step') {
        const step = chat.step(item.stepId);
        const id = step?.cell_id || step?.localCellId;
        if (id && item.stepId !== request.step_id) {
          anchorId = id;
        }
      }
    }
    if (!anchorId && turn?.mode === 'generate' && turn.request?.cell_id) {
      anchorId = turn.request.cell_id;
    }
    if (anchorId) {
      const found = findCell(panel, anchorId);
      if (found) {
        return panel.content.widgets[found.index];
      }
    }
    return panel.content.activeCell ?? undefined;
  }
}
