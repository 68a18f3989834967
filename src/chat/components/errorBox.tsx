/**
 * An error in the chat (a provider error, a refused prompt) with its hint and
 * Retry / Dismiss, and the Retry action that sends the same prompt again.
 */
import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { ErrorMsg, PromptMsg } from '../../protocol';
import { ChatModel } from '../model';
import { IChatActions } from './actions';

export function ErrorBox(props: {
  error: ErrorMsg;
  onRetry?: () => void;
  onDismiss?: () => void;
  trans: TranslationBundle;
}): JSX.Element {
  const { error, trans } = props;
  return (
    <div className="jp-codeinterp-error" role="alert">
      <div className="jp-codeinterp-error-message">{error.message}</div>
      {error.hint && (
        <div className="jp-codeinterp-error-hint">{error.hint}</div>
      )}
      <div className="jp-codeinterp-error-buttons">
        {props.onRetry && (
          <button
            type="button"
            className="jp-Button jp-mod-styled jp-codeinterp-retry"
            onClick={props.onRetry}
          >
            {trans.__('Retry')}
          </button>
        )}
        {props.onDismiss && (
          <button
            type="button"
            className="jp-Button jp-mod-minimal"
            onClick={props.onDismiss}
          >
            {trans.__('Dismiss')}
          </button>
        )}
      </div>
    </div>
  );
}

export function retry(
  actions: IChatActions,
  chat: ChatModel,
  request: Pick<PromptMsg, 'text' | 'mode' | 'cell_id'> | undefined
): (() => void) | undefined {
  if (!request || !request.text) {
    return undefined;
  }
  return () => {
    if (!chat.isRunning) {
      void actions.service.sendPrompt(chat, request.text, {
        mode: request.mode,
        cellId: request.cell_id
      });
    }
  };
}
