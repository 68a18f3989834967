/**
 * One tool step of a turn: its code, state (with the elapsed time while it
 * runs), repair attempt, approval, images, files written, the summary the
 * model was told, and a link to its cell.
 */
import {
  caretDownIcon,
  caretRightIcon,
  linkIcon
} from '@jupyterlab/ui-components';
import * as React from 'react';

import { ChatModel, IStepView } from '../model';
import { IChatActions } from './actions';
import { Approval } from './approval';
import {
  FileLink,
  formatElapsed,
  stateLabel,
  toolLabel,
  useNow
} from './shared';

export function StepCard(props: {
  chat: ChatModel;
  step: IStepView;
  actions: IChatActions;
}): JSX.Element {
  const { chat, step, actions } = props;
  const { trans } = actions;
  const running = step.state === 'running';
  const now = useNow(running);
  const [open, setOpen] = React.useState(true);
  const cellId = step.cell_id || step.localCellId;
  const elapsed =
    running && step.runningSince
      ? (now - step.runningSince) / 1000
      : (step.elapsed ?? 0);
  const attempt = step.attempt ?? 1;
  const maxAttempts = step.max_attempts ?? 1;
  const isCode = step.tool === 'run_code';
  return (
    <section
      className={`jp-codeinterp-step jp-codeinterp-step-${step.state}`}
      aria-label={toolLabel(step, trans)}
      data-step-id={step.step_id}
    >
      <header className="jp-codeinterp-step-header">
        {isCode ? (
          <button
            type="button"
            className="jp-codeinterp-step-toggle"
            aria-expanded={open}
            aria-label={open ? trans.__('Hide code') : trans.__('Show code')}
            onClick={() => setOpen(!open)}
          >
            {open ? (
              <caretDownIcon.react tag="span" />
            ) : (
              <caretRightIcon.react tag="span" />
            )}
          </button>
        ) : null}
        <span className="jp-codeinterp-step-title">
          {toolLabel(step, trans)}
        </span>
        <span
          className={`jp-codeinterp-badge jp-codeinterp-badge-${step.state}`}
          role="status"
          aria-live="polite"
        >
          {stateLabel(step.state, trans)}
          {(running || (elapsed > 0 && isCode)) &&
            ` · ${formatElapsed(elapsed)}`}
        </span>
        {maxAttempts > 1 && attempt > 1 && (
          <span className="jp-codeinterp-attempt">
            {trans.__('attempt %1 of %2', attempt, maxAttempts)}
          </span>
        )}
        <span className="jp-codeinterp-spacer" />
        {cellId && (
          <button
            type="button"
            className="jp-codeinterp-link jp-codeinterp-goto-cell"
            onClick={() => actions.goToCell(chat, cellId)}
            aria-label={trans.__('Scroll to the cell of this step')}
            title={trans.__('Scroll to the cell of this step')}
          >
            <linkIcon.react tag="span" />
            {trans.__('cell')}
          </button>
        )}
      </header>
      {isCode && open && step.code && step.approval?.kind !== 'fix' && (
        <pre className="jp-codeinterp-code" aria-label={trans.__('Code')}>
          <code>{step.code}</code>
        </pre>
      )}
      {step.state === 'waiting_approval' && (
        <Approval chat={chat} step={step} actions={actions} />
      )}
      {step.images && step.images.length > 0 && (
        <div className="jp-codeinterp-images">
          {step.images.map((b64, i) => (
            <img
              key={i}
              src={`data:image/png;base64,${b64}`}
              alt={trans.__('Image %1 produced by the cell', i + 1)}
            />
          ))}
        </div>
      )}
      {step.files && step.files.length > 0 && (
        <ul
          className="jp-codeinterp-files"
          aria-label={trans.__('Files written')}
        >
          {step.files.map(path => (
            <li key={path}>
              <FileLink
                path={path}
                open={p => actions.openFile(p)}
                trans={trans}
              />
            </li>
          ))}
        </ul>
      )}
      {isCode &&
        step.summary &&
        step.state !== 'running' &&
        step.state !== 'waiting_approval' && (
          <details className="jp-codeinterp-summary">
            <summary>{trans.__('What the model was told')}</summary>
            <pre>{step.summary}</pre>
          </details>
        )}
    </section>
  );
}
