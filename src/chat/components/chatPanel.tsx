/**
 * The whole sidebar: header, toolbar, history, the conversation, the composer
 * and the chat's usage. All state lives in ChatModel and the service;
 * components re-render on their signals.
 */
import {
  addIcon,
  downloadIcon,
  historyIcon,
  searchIcon
} from '@jupyterlab/ui-components';
import * as React from 'react';

import { codeInterpIcon } from '../../icons';
import { useSignal } from '../useSignal';
import { IChatActions } from './actions';
import { Composer } from './composer';
import { HistoryList } from './historyList';
import { ModelPicker } from './modelPicker';
import { NoticeView } from './noticeView';
import { SetupPanel } from './setupPanel';
import { IconButton } from './shared';
import { TurnView } from './turnView';

/** The whole sidebar. */
export function ChatPanel(props: { actions: IChatActions }): JSX.Element {
  const { actions } = props;
  const { service, trans } = actions;
  useSignal(service.currentChanged);
  useSignal(service.configChanged);
  useSignal(service.socket.statusChanged);
  const chat = service.current;
  useSignal(chat?.changed);
  const [showHistory, setShowHistory] = React.useState(false);
  const [dragging, setDragging] = React.useState(false);
  const list = React.useRef<HTMLDivElement>(null);
  const stick = React.useRef(true);

  React.useEffect(() => {
    setShowHistory(false);
  }, [chat]);

  React.useLayoutEffect(() => {
    const node = list.current;
    if (node && stick.current) {
      node.scrollTop = node.scrollHeight;
    }
  });

  const config = service.config;
  const status = service.socket.status;
  const notConfigured = !config || !config.model_configured;
  const name = chat ? chat.notebookPath.split('/').pop() : '';

  return (
    <div
      className={`jp-codeinterp-panel ${dragging ? 'jp-mod-dropTarget' : ''}`}
      onDragOver={e => {
        if (chat && Array.from(e.dataTransfer.types).includes('Files')) {
          e.preventDefault();
          e.dataTransfer.dropEffect = 'copy';
          setDragging(true);
        }
      }}
      onDragLeave={() => setDragging(false)}
      onDrop={e => {
        setDragging(false);
        const files = Array.from(e.dataTransfer.files ?? []);
        if (chat && files.length) {
          e.preventDefault();
          void actions.upload(files);
        }
      }}
    >
      <div className="jp-codeinterp-header">
        <codeInterpIcon.react tag="span" elementPosition="center" />
        <span className="jp-codeinterp-header-title" title={chat?.notebookPath}>
          {chat ? name : trans.__('Code Interpreter')}
        </span>
        {chat?.title && (
          <span className="jp-codeinterp-header-chat" title={chat.title}>
            {chat.title}
          </span>
        )}
        <span
          className={`jp-codeinterp-conn jp-codeinterp-conn-${status}`}
          role="status"
          aria-label={trans.__('Connection: %1', status)}
          title={trans.__('Connection: %1', status)}
        />
      </div>
      <div
        className="jp-codeinterp-toolbar"
        role="toolbar"
        aria-label={trans.__('Chat actions')}
      >
        <ModelPicker actions={actions} />
        <span className="jp-codeinterp-spacer" />
        <IconButton
          icon={addIcon}
          label={trans.__('New chat')}
          disabled={!chat}
          onClick={() => chat && service.newChat(chat)}
        />
        <IconButton
          icon={historyIcon}
          label={trans.__('Chat history')}
          disabled={!chat}
          onClick={() => setShowHistory(!showHistory)}
        />
        <IconButton
          icon={searchIcon}
          label={trans.__('What the model sees')}
          disabled={!chat}
          onClick={() => chat && actions.showContext(chat)}
        />
        <IconButton
          icon={downloadIcon}
          label={trans.__('Export chat to Markdown')}
          disabled={!chat || chat.turns.length === 0}
          onClick={() => chat && actions.exportChat(chat)}
        />
      </div>
      {status !== 'open' && service.socket.connectionCount > 0 && (
        <div className="jp-codeinterp-banner" role="status">
          {trans.__('Reconnecting to the server…')}
        </div>
      )}
      {chat && showHistory && (
        <HistoryList
          chat={chat}
          actions={actions}
          onClose={() => setShowHistory(false)}
        />
      )}
      <div
        className="jp-codeinterp-messages"
        ref={list}
        role="log"
        aria-live="polite"
        aria-label={trans.__('Conversation')}
        onScroll={() => {
          const node = list.current;
          if (node) {
            stick.current =
              node.scrollHeight - node.scrollTop - node.clientHeight < 40;
          }
        }}
      >
        {!chat && (
          <div className="jp-codeinterp-empty">
            {trans.__(
              'Open a notebook to chat about its data. Each notebook keeps its own chats.'
            )}
          </div>
        )}
        {chat && notConfigured && chat.turns.length === 0 && (
          <SetupPanel
            config={config}
            configError={service.configError}
            actions={actions}
          />
        )}
        {chat && !notConfigured && chat.turns.length === 0 && !chat.loading && (
          <div className="jp-codeinterp-empty">
            <p>
              {trans.__('Ask a question about %1 or its data.', name ?? '')}
            </p>
            <p className="jp-codeinterp-note">
              {trans.__(
                'The model writes code, runs it as cells in this notebook, reads the results and repairs errors. Drop files here to upload them next to the notebook.'
              )}
            </p>
          </div>
        )}
        {chat?.loading && (
          <div className="jp-codeinterp-note">{trans.__('Loading chat…')}</div>
        )}
        {chat?.turns.map(turn => (
          <TurnView
            key={`${chat.chatId}-${turn.turn}`}
            chat={chat}
            turn={turn}
            actions={actions}
          />
        ))}
        {chat?.notices.map(notice => (
          <NoticeView
            key={notice.id}
            chat={chat}
            notice={notice}
            actions={actions}
          />
        ))}
        {chat &&
          chat.isRunning &&
          chat.turns.every(t => t.status !== undefined) && (
            <div className="jp-codeinterp-thinking" role="status">
              <span className="jp-codeinterp-dots" aria-hidden="true" />
              {trans.__('Sending…')}
            </div>
          )}
      </div>
      {chat && (
        <Composer chat={chat} actions={actions} disabled={notConfigured} />
      )}
      {chat?.chatUsage && (chat.chatUsage.total_tokens ?? 0) > 0 && (
        <div className="jp-codeinterp-footer">
          {trans.__('This chat: %1 tokens', chat.chatUsage.total_tokens ?? 0)}
          {chat.chatUsage.cost != null &&
            ` · $${chat.chatUsage.cost.toFixed(4)}`}
        </div>
      )}
    </div>
  );
}
