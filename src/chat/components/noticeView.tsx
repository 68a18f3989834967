/**
 * A message outside any turn (an upload, a prompt the server refused).
 */
import * as React from 'react';

import { ChatModel, IChatNotice } from '../model';
import { IChatActions } from './actions';
import { ErrorBox, retry } from './errorBox';

export function NoticeView(props: {
  chat: ChatModel;
  notice: IChatNotice;
  actions: IChatActions;
}): JSX.Element {
  const { chat, notice, actions } = props;
  if (notice.error) {
    return (
      <ErrorBox
        error={notice.error}
        trans={actions.trans}
        onRetry={retry(actions, chat, notice.request)}
        onDismiss={() => chat.dismissNotice(notice.id)}
      />
    );
  }
  return (
    <div className="jp-codeinterp-note" role="status">
      {notice.text}
      <button
        type="button"
        className="jp-Button jp-mod-minimal"
        aria-label={actions.trans.__('Dismiss')}
        onClick={() => chat.dismissNotice(notice.id)}
      >
        ×
      </button>
    </div>
  );
}
