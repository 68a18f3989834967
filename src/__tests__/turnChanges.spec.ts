/**
 * A turn's change set against the notebook now: what undo would remove,
 * restore, or refuse for.
 */
import { TurnChanges } from '../protocol';
import {
  assessTurnChanges,
  countChanges,
  hasChanges,
  ICellSnapshot,
  sameSource
} from '../turnChanges';

const changes: TurnChanges = {
  cells: [
    { kind: 'added', cell_id: 'a', step_id: 's1', source: 'x = 1' },
    {
      kind: 'replaced',
      cell_id: 'u',
      step_id: 'f',
      source: 'fixed()',
      original: 'broken('
    },
    { kind: 'added', cell_id: '', step_id: 's2', source: 'slow()' }
  ],
  files: ['out.csv']
};

const cell = (
  id: string,
  source: string,
  stepId?: string,
  chatId = 'c'
): ICellSnapshot => ({ id, source, stepId, chatId });

describe('assessTurnChanges', () => {
  it('finds every cell as the turn left it', () => {
    const cells = [
      cell('u', 'fixed()'),
      cell('a', 'x = 1', 's1'),
      cell('z', 'slow()', 's2')
    ];
    const a = assessTurnChanges(changes, cells, 'c');
    expect(a.cells.map(c => [c.status, c.index])).toEqual([
      ['as_left', 1],
      ['as_left', 0],
      ['as_left', 2]
    ]);
    expect(a.toRemove.map(c => c.cellId)).toEqual(['a', 'z']);
    expect(a.toRestore.map(c => c.cellId)).toEqual(['u']);
    expect(a.edited).toEqual([]);
    expect(a.undone).toBe(false);
  });

  it('reports a cell edited since the turn', () => {
    const cells = [cell('u', 'fixed()'), cell('a', 'x = 2', 's1')];
    const a = assessTurnChanges(changes, cells, 'c');
    expect(a.edited.map(c => c.cellId)).toEqual(['a']);
    expect(a.cells[2].status).toBe('gone');
  });

  it('counts a replaced cell back at its original as reverted, and the turn as undone', () => {
    const a = assessTurnChanges(changes, [cell('u', 'broken(')], 'c');
    expect(a.cells.map(c => c.status)).toEqual(['gone', 'reverted', 'gone']);
    expect(a.undone).toBe(true);
    expect(a.toRemove).toEqual([]);
  });

  it('finds a cell by step only in this chat', () => {
    const a = assessTurnChanges(
      { cells: [changes.cells![2]] },
      [cell('other', 'slow()', 's2', 'another-chat')],
      'c'
    );
    expect(a.cells[0].status).toBe('gone');
  });

  it('ignores line-ending differences', () => {
    expect(sameSource('a\r\nb', 'a\nb')).toBe(true);
    expect(sameSource('a\nb', 'a\nb ')).toBe(false);
  });

  it('has nothing to undo without a change set (a history saved before it was kept)', () => {
    const a = assessTurnChanges(undefined, [cell('a', 'x')], 'c');
    expect(a.cells).toEqual([]);
    expect(a.undone).toBe(false);
    expect(hasChanges(undefined)).toBe(false);
    expect(hasChanges({ cells: [], files: [] })).toBe(false);
  });

  it('counts what the turn changed', () => {
    expect(countChanges(changes)).toEqual({ added: 2, replaced: 1, files: 1 });
  });
});
