/**
 * One turn of the chat: the user's prompt, then the model's text, step cards,
 * errors and notes in the order they arrived, the turn's status and usage.
 */
import * as React from 'react';

import { ChatModel, ITurnView } from '../model';
import { IChatActions } from './actions';
import { ErrorBox, retry } from './errorBox';
import { GroundingMarker } from './groundingMarker';
import { MarkdownView } from './markdownView';
import { modeLabel } from './shared';
import { StepCard } from './stepCard';
import { TurnChangesView } from './turnChanges';

export function TurnView(props: {
  chat: ChatModel;
  turn: ITurnView;
  actions: IChatActions;
}): JSX.Element {
  const { chat, turn, actions } = props;
  const { trans, rendermime } = actions;
  const running = turn.status === undefined;
  const lastIsError = turn.items.some(i => i.kind === 'error');
  return (
    <article
      className="jp-codeinterp-turn"
      aria-label={trans.__('Turn %1', turn.turn)}
    >
      {turn.prompt && (
        <div className="jp-codeinterp-user">
          {turn.mode !== 'chat' && (
            <span className="jp-codeinterp-mode">
              {modeLabel(turn.mode, trans)}
            </span>
          )}
          <div className="jp-codeinterp-user-text">{turn.prompt}</div>
        </div>
      )}
      <div className="jp-codeinterp-assistant">
        {turn.context && (
          <div className="jp-codeinterp-context-note">
            {trans.__('Context: about %1 tokens', turn.context.tokens)}
            {turn.context.notes.length > 0 &&
              ` · ${turn.context.notes.join(' · ')}`}
          </div>
        )}
        {turn.items.map((item, i) => {
          switch (item.kind) {
            case 'text':
              return (
                <MarkdownView
                  key={i}
                  text={item.text}
                  rendermime={rendermime}
                />
              );
            case 'step': {
              const step = chat.step(item.stepId);
              return step ? (
                <StepCard
                  key={item.stepId}
                  chat={chat}
                  step={step}
                  actions={actions}
                />
              ) : null;
            }
            case 'error':
              return (
                <ErrorBox
                  key={i}
                  error={item.error}
                  trans={trans}
                  onRetry={
                    !running || item.error.retryable
                      ? retry(actions, chat, turn.request)
                      : undefined
                  }
                />
              );
            case 'note':
              return (
                <div key={i} className="jp-codeinterp-note">
                  {item.text}
                </div>
              );
            default:
              return null;
          }
        })}
        {running && turn.codePreview && (
          <section
            className="jp-codeinterp-step jp-codeinterp-step-running"
            aria-label={trans.__('Code being written')}
          >
            <header className="jp-codeinterp-step-header">
              <span className="jp-codeinterp-step-title">
                {trans.__('Writing code…')}
              </span>
            </header>
            <pre className="jp-codeinterp-code">
              <code>{turn.codePreview}</code>
            </pre>
          </section>
        )}
        {running && (
          <div
            className="jp-codeinterp-thinking"
            role="status"
            aria-live="polite"
          >
            <span className="jp-codeinterp-dots" aria-hidden="true" />
            {chat.pendingApprovals().length > 0
              ? trans.__('Waiting for your decision…')
              : trans.__('Working…')}
          </div>
        )}
        {!running && (
          <GroundingMarker grounding={turn.grounding} trans={trans} />
        )}
        {turn.status && turn.status !== 'done' && !lastIsError && (
          <div
            className={`jp-codeinterp-turn-status jp-codeinterp-turn-${turn.status}`}
          >
            {turn.status === 'stopped'
              ? trans.__('Stopped.')
              : turn.status === 'gave_up'
                ? trans.__('Gave up; see above.')
                : trans.__('The turn failed.')}
            {turn.status !== 'gave_up' &&
              retry(actions, chat, turn.request) && (
                <button
                  type="button"
                  className="jp-Button jp-mod-minimal jp-codeinterp-retry"
                  onClick={retry(actions, chat, turn.request)}
                >
                  {trans.__('Retry')}
                </button>
              )}
          </div>
        )}
        <TurnChangesView chat={chat} turn={turn} actions={actions} />
        {turn.usage && (turn.usage.total_tokens ?? 0) > 0 && (
          <div className="jp-codeinterp-usage">
            {(turn.cellsRun ?? 0) > 0 &&
              `${trans._n('%1 cell ran', '%1 cells ran', turn.cellsRun ?? 0)} · `}
            {trans.__('%1 tokens', turn.usage.total_tokens ?? 0)}
            {turn.usage.cost != null && ` · $${turn.usage.cost.toFixed(4)}`}
          </div>
        )}
      </div>
    </article>
  );
}
