/**
 * The approval card of a step that waits for the user: Accept / Reject for a
 * fix of the user's cell (with its diff), Run / Edit / Skip for new code.
 */
import * as React from 'react';

import { ChatModel, IStepView } from '../model';
import { IChatActions } from './actions';
import { DiffView } from './diffView';

export function Approval(props: {
  chat: ChatModel;
  step: IStepView;
  actions: IChatActions;
}): JSX.Element | null {
  const { chat, step, actions } = props;
  const { trans, service } = actions;
  const [editing, setEditing] = React.useState(false);
  const [code, setCode] = React.useState(
    step.approval?.code ?? step.code ?? ''
  );
  const request = step.approval;
  if (!request || step.decided) {
    return step.decided ? (
      <div className="jp-codeinterp-approval-sent" role="status">
        {trans.__('Sent: %1', step.decided)}
      </div>
    ) : null;
  }
  if (request.kind === 'fix') {
    return (
      <div
        className="jp-codeinterp-approval"
        role="group"
        aria-label={trans.__('Proposed fix')}
      >
        <div className="jp-codeinterp-approval-reason">
          {trans.__(
            'Proposed fix for your cell. Accept replaces its source and runs it; Reject leaves it unchanged.'
          )}
        </div>
        <DiffView
          before={request.original ?? ''}
          after={request.code}
          label={trans.__('Changes to the cell')}
        />
        <div className="jp-codeinterp-approval-buttons">
          <button
            type="button"
            className="jp-Button jp-mod-styled jp-mod-accept jp-codeinterp-accept"
            onClick={() => service.approve(chat, step.step_id, 'accept')}
          >
            {trans.__('Accept')}
          </button>
          <button
            type="button"
            className="jp-Button jp-mod-styled jp-mod-reject jp-codeinterp-reject"
            onClick={() => service.approve(chat, step.step_id, 'reject')}
          >
            {trans.__('Reject')}
          </button>
        </div>
      </div>
    );
  }
  return (
    <div
      className="jp-codeinterp-approval"
      role="group"
      aria-label={trans.__('Approve running this code')}
    >
      <div className="jp-codeinterp-approval-reason">
        {request.reason && request.reason !== 'ask before running'
          ? trans.__('This code waits for you: %1.', request.reason)
          : trans.__('Run this code in your kernel?')}
      </div>
      {editing && (
        <textarea
          className="jp-codeinterp-edit-code"
          aria-label={trans.__('Code to run')}
          value={code}
          rows={Math.min(20, Math.max(4, code.split('\n').length + 1))}
          onChange={e => setCode(e.target.value)}
          autoFocus
        />
      )}
      <div className="jp-codeinterp-approval-buttons">
        <button
          type="button"
          className="jp-Button jp-mod-styled jp-mod-accept jp-codeinterp-run"
          onClick={() =>
            service.approve(
              chat,
              step.step_id,
              'run',
              editing && code !== request.code ? code : undefined
            )
          }
        >
          {editing ? trans.__('Run Edited Code') : trans.__('Run')}
        </button>
        {!editing && (
          <button
            type="button"
            className="jp-Button jp-mod-styled jp-codeinterp-edit"
            onClick={() => {
              setCode(request.code);
              setEditing(true);
            }}
          >
            {trans.__('Edit')}
          </button>
        )}
        <button
          type="button"
          className="jp-Button jp-mod-styled jp-mod-reject jp-codeinterp-skip"
          onClick={() => service.approve(chat, step.step_id, 'skip')}
        >
          {trans.__('Skip')}
        </button>
      </div>
    </div>
  );
}
