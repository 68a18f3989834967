/**
 * What a finished turn changed in the notebook — cells added, cells of the
 * user replaced by an accepted fix, files written — with links to each cell,
 * and "Undo this turn". The list follows the notebook live: a cell edited
 * since the turn is marked, and Undo then refuses, naming it.
 */
import { undoIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import {
  assessTurnChanges,
  countChanges,
  hasChanges,
  IAssessedChange
} from '../../turnChanges';
import { cachedSnapshot } from '../../undoTurn';
import { ChatModel, ITurnView } from '../model';
import { useSignal } from '../useSignal';
import { IChatActions } from './actions';
import { FileLink } from './shared';

export function TurnChangesView(props: {
  chat: ChatModel;
  turn: ITurnView;
  actions: IChatActions;
}): JSX.Element | null {
  const { chat, turn, actions } = props;
  const { trans } = actions;
  const panel = actions.notebookFor(chat);
  const model = panel?.content.model ?? null;
  useSignal(model?.contentChanged);
  const [tried, setTried] = React.useState(false);
  const [undoneHere, setUndoneHere] = React.useState(false);
  const changes = turn.changes;
  if (turn.status === undefined || !hasChanges(changes)) {
    return null;
  }
  const assessment = model
    ? assessTurnChanges(changes, cachedSnapshot(model), chat.chatId)
    : null;
  const counts = countChanges(changes);
  const summary = [
    counts.added && trans._n('%1 cell added', '%1 cells added', counts.added),
    counts.replaced &&
      trans._n('%1 cell fixed', '%1 cells fixed', counts.replaced),
    counts.files &&
      trans._n('%1 file written', '%1 files written', counts.files)
  ].filter(Boolean);
  const undoable =
    !!assessment &&
    !assessment.undone &&
    assessment.toRemove.length +
      assessment.toRestore.length +
      assessment.edited.length >
      0;
  const undo = async () => {
    setTried(true);
    const outcome = await actions.undoTurn(chat, turn);
    if (outcome?.ok) {
      setTried(false);
      setUndoneHere(true);
    }
  };
  const cellLink = (a: IAssessedChange) => (
    <button
      type="button"
      className="jp-codeinterp-link jp-codeinterp-change-cell"
      disabled={!a.cellId}
      onClick={() => a.cellId && actions.goToCell(chat, a.cellId)}
      title={
        a.cellId
          ? trans.__('Scroll to this cell')
          : trans.__('This cell is no longer in the notebook')
      }
    >
      {a.cellId ? trans.__('cell %1', a.index + 1) : trans.__('a cell')}
    </button>
  );
  return (
    <section
      className="jp-codeinterp-changes"
      aria-label={trans.__('Changes made by this turn')}
    >
      <div className="jp-codeinterp-changes-header">
        <span className="jp-codeinterp-changes-summary">
          {summary.join(' · ')}
        </span>
        <span className="jp-codeinterp-spacer" />
        {assessment?.undone ? (
          <span className="jp-codeinterp-changes-undone" role="status">
            {undoneHere
              ? trans.__('Undone — notebook undo (Z) brings it back')
              : trans.__('Nothing left to undo')}
          </span>
        ) : (
          undoable && (
            <button
              type="button"
              className="jp-Button jp-mod-minimal jp-codeinterp-undo-turn"
              onClick={() => void undo()}
              disabled={chat.isRunning}
              title={trans.__(
                'Remove the cells this turn added and restore the cells it replaced'
              )}
            >
              <undoIcon.react tag="span" elementPosition="center" />{' '}
              {trans.__('Undo this turn')}
            </button>
          )
        )}
      </div>
      <ul className="jp-codeinterp-changes-list">
        {(assessment?.cells ?? []).map((a, i) => (
          <li
            key={i}
            className={`jp-codeinterp-change jp-codeinterp-change-${a.change.kind} jp-codeinterp-change-${a.status}`}
          >
            <span className="jp-codeinterp-change-kind">
              {a.change.kind === 'added'
                ? trans.__('added')
                : trans.__('fixed (your cell)')}
            </span>{' '}
            {cellLink(a)}{' '}
            <code className="jp-codeinterp-change-source">
              {firstLine(a.change.source ?? '')}
            </code>
            {a.status !== 'as_left' && (
              <span className="jp-codeinterp-change-status">
                {a.status === 'edited'
                  ? trans.__('edited since')
                  : a.status === 'reverted'
                    ? trans.__('restored')
                    : trans.__('removed')}
              </span>
            )}
          </li>
        ))}
        {(changes?.files ?? []).map(path => (
          <li
            key={path}
            className="jp-codeinterp-change jp-codeinterp-change-file"
          >
            <span className="jp-codeinterp-change-kind">
              {trans.__('wrote')}
            </span>{' '}
            <FileLink
              path={path}
              open={p => actions.openFile(p)}
              trans={trans}
            />
          </li>
        ))}
      </ul>
      {tried && assessment && assessment.edited.length > 0 && (
        <div className="jp-codeinterp-undo-refused" role="alert">
          {trans._n(
            'Nothing was undone: this cell changed since the turn, and undo would lose that change:',
            'Nothing was undone: these cells changed since the turn, and undo would lose those changes:',
            assessment.edited.length
          )}{' '}
          {assessment.edited.map(a => (
            <React.Fragment key={a.cellId ?? a.change.step_id}>
              {cellLink(a)}{' '}
            </React.Fragment>
          ))}
        </div>
      )}
    </section>
  );
}

/** The first line of a cell's source, shortened for the change list. */
function firstLine(source: string): string {
  const line = source.split('\n').find(l => l.trim()) ?? '';
  return line.length > 48 ? `${line.slice(0, 47)}…` : line;
}
