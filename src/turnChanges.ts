/**
 * A turn's change set against the notebook as it is now: which cells the turn
 * added or replaced are still as the turn left them, which the user has
 * edited since, which are gone, and so what "Undo this turn" would do.
 *
 * Pure functions over plain cell snapshots (no widgets), shared by the chat's
 * change list, Undo this turn and Keep / Discard of generate-and-run.
 */
import { CellChange, TurnChanges } from './protocol';

/** What the change set needs to know of one notebook cell. */
export interface ICellSnapshot {
  id: string;
  source: string;
  /** `metadata.codeinterp.step_id` and `chat_id`, for cells found by step. */
  stepId?: string;
  chatId?: string;
}

/**
 * - `as_left`: the cell holds what the turn left (undo can act on it);
 * - `edited`: it holds something else (undo refuses: it would lose that edit);
 * - `reverted`: a replaced cell already holds its source from before the turn;
 * - `gone`: the cell is no longer in the notebook.
 */
export type CellChangeStatus = 'as_left' | 'edited' | 'reverted' | 'gone';

export interface IAssessedChange {
  change: CellChange;
  status: CellChangeStatus;
  /** The cell's id and position now (null / -1 when gone). */
  cellId: string | null;
  index: number;
}

export interface ITurnChangeAssessment {
  cells: IAssessedChange[];
  /** Cells changed since the turn: undo refuses while there are any. */
  edited: IAssessedChange[];
  /** Added cells undo removes. */
  toRemove: IAssessedChange[];
  /** Replaced cells whose source from before the turn undo restores. */
  toRestore: IAssessedChange[];
  /** The turn touched cells and none of them is left to undo (undone, or removed by hand). */
  undone: boolean;
}

/** Sources compare equal across line-ending styles. */
export function sameSource(a: string, b: string): boolean {
  return a.replace(/\r\n?/g, '\n') === b.replace(/\r\n?/g, '\n');
}

/** Where a changed cell is now: by id, else (id never learnt) by the step that wrote it. */
export function findChangedCell(
  change: CellChange,
  cells: ReadonlyArray<ICellSnapshot>,
  chatId: string
): number {
  if (change.cell_id) {
    return cells.findIndex(c => c.id === change.cell_id);
  }
  if (!change.step_id) {
    return -1;
  }
  return cells.findIndex(
    c => c.stepId === change.step_id && (!c.chatId || c.chatId === chatId)
  );
}

/** Compare a turn's change set with the notebook's cells now. */
export function assessTurnChanges(
  changes: TurnChanges | null | undefined,
  cells: ReadonlyArray<ICellSnapshot>,
  chatId: string
): ITurnChangeAssessment {
  const assessed: IAssessedChange[] = (changes?.cells ?? []).map(change => {
    const index = findChangedCell(change, cells, chatId);
    if (index < 0) {
      return { change, status: 'gone', cellId: null, index: -1 };
    }
    const now = cells[index].source;
    let status: CellChangeStatus;
    if (sameSource(now, change.source ?? '')) {
      status = 'as_left';
    } else if (
      change.kind === 'replaced' &&
      sameSource(now, change.original ?? '')
    ) {
      status = 'reverted';
    } else {
      status = 'edited';
    }
    return { change, status, cellId: cells[index].id, index };
  });
  const toRemove = assessed.filter(
    a => a.status === 'as_left' && a.change.kind === 'added'
  );
  const toRestore = assessed.filter(
    a => a.status === 'as_left' && a.change.kind === 'replaced'
  );
  return {
    cells: assessed,
    edited: assessed.filter(a => a.status === 'edited'),
    toRemove,
    toRestore,
    undone:
      assessed.length > 0 &&
      assessed.every(a => a.status === 'gone' || a.status === 'reverted')
  };
}

/** How many cells the turn added and replaced, and files it wrote. */
export function countChanges(changes: TurnChanges | null | undefined): {
  added: number;
  replaced: number;
  files: number;
} {
  const cells = changes?.cells ?? [];
  return {
    added: cells.filter(c => c.kind === 'added').length,
    replaced: cells.filter(c => c.kind === 'replaced').length,
    files: (changes?.files ?? []).length
  };
}

/** True when the change set has anything to show. */
export function hasChanges(changes: TurnChanges | null | undefined): boolean {
  const n = countChanges(changes);
  return n.added + n.replaced + n.files > 0;
}
