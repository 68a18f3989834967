/**
 * The chats of the notebook: open one, delete one, start a new one.
 */
import { closeIcon, deleteIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import { ChatModel } from '../model';
import { IChatActions } from './actions';
import { IconButton } from './shared';

export function HistoryList(props: {
  chat: ChatModel;
  actions: IChatActions;
  onClose: () => void;
}): JSX.Element {
  const { chat, actions, onClose } = props;
  const { trans, service } = actions;
  const [chats, setChats] = React.useState<Record<string, any>[] | null>(null);
  const dialog = React.useRef<HTMLDivElement>(null);
  React.useEffect(() => {
    dialog.current
      ?.querySelector<HTMLButtonElement>('.jp-codeinterp-newchat')
      ?.focus();
  }, []);
  const [error, setError] = React.useState('');
  React.useEffect(() => {
    service
      .listChats(chat)
      .then(setChats)
      .catch(e => setError(String(e?.message ?? e)));
  }, [chat]);
  const open = async (id: string) => {
    await service.openChat(chat, id);
    onClose();
  };
  const remove = async (c: Record<string, any>) => {
    if (await actions.confirmDelete(String(c.title || c.id))) {
      try {
        setChats(await service.deleteChat(chat, String(c.id)));
      } catch (e: any) {
        setError(String(e?.message ?? e));
      }
    }
  };
  return (
    <div
      className="jp-codeinterp-history"
      role="dialog"
      aria-label={trans.__('Chat history')}
      ref={dialog}
      onKeyDown={e => {
        if (e.key === 'Escape') {
          e.preventDefault();
          e.stopPropagation();
          onClose();
        }
      }}
    >
      <div className="jp-codeinterp-history-header">
        <span>{trans.__('Chats of this notebook')}</span>
        <IconButton
          icon={closeIcon}
          label={trans.__('Close history')}
          onClick={onClose}
        />
      </div>
      <button
        type="button"
        className="jp-Button jp-mod-styled jp-codeinterp-newchat"
        onClick={() => {
          service.newChat(chat);
          onClose();
        }}
      >
        {trans.__('New Chat')}
      </button>
      {error && <div className="jp-codeinterp-error-message">{error}</div>}
      {chats === null && !error && (
        <div className="jp-codeinterp-note">{trans.__('Loading…')}</div>
      )}
      {chats && chats.length === 0 && (
        <div className="jp-codeinterp-note">
          {trans.__('No saved chats yet.')}
        </div>
      )}
      <ul className="jp-codeinterp-history-list">
        {(chats ?? []).map(c => (
          <li
            key={String(c.id)}
            className={c.id === chat.chatId ? 'jp-mod-current' : ''}
          >
            <button
              type="button"
              className="jp-codeinterp-history-item"
              onClick={() => void open(String(c.id))}
              aria-current={c.id === chat.chatId ? 'true' : undefined}
            >
              <span className="jp-codeinterp-history-title">
                {c.title || trans.__('(untitled)')}
              </span>
              <span className="jp-codeinterp-history-meta">
                {c.updated
                  ? new Date(Number(c.updated) * 1000).toLocaleString()
                  : ''}
                {' · '}
                {trans._n('%1 turn', '%1 turns', Number(c.turns ?? 0))}
              </span>
            </button>
            <IconButton
              icon={deleteIcon}
              label={trans.__('Delete chat "%1"', c.title || c.id)}
              onClick={() => void remove(c)}
            />
          </li>
        ))}
      </ul>
    </div>
  );
}
