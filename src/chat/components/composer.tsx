/**
 * The message box: Enter sends, files pasted into it are uploaded, the files
 * uploaded since the last prompt are listed, Send turns into Stop while the
 * chat runs.
 */
import { fileUploadIcon, runIcon, stopIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import { ChatModel } from '../model';
import { useSignal } from '../useSignal';
import { IChatActions } from './actions';
import { IconButton } from './shared';

export function Composer(props: {
  chat: ChatModel;
  actions: IChatActions;
  disabled: boolean;
}): JSX.Element {
  const { chat, actions, disabled } = props;
  const { trans, service } = actions;
  useSignal(actions.uploadsChanged);
  const [text, setText] = React.useState('');
  const running = chat.isRunning;
  const uploads = actions.pendingUploads(chat);
  const send = () => {
    const value = text.trim();
    if (!value || running || disabled) {
      return;
    }
    const files = actions.takePendingUploads(chat);
    const full = files.length
      ? `${value}\n\n(${trans.__('I just uploaded: %1', files.join(', '))})`
      : value;
    void service.sendPrompt(chat, full);
    setText('');
  };
  return (
    <div className="jp-codeinterp-composer">
      {uploads.length > 0 && (
        <div
          className="jp-codeinterp-uploads"
          aria-label={trans.__('Uploaded files')}
        >
          {uploads.map(name => (
            <span key={name} className="jp-codeinterp-chip">
              {name}
            </span>
          ))}
          <span className="jp-codeinterp-note">
            {trans.__('will be mentioned in your next message')}
          </span>
        </div>
      )}
      <textarea
        className="jp-codeinterp-input"
        aria-label={trans.__('Message to Code Interpreter')}
        placeholder={
          disabled
            ? trans.__('Configure a model to start')
            : trans.__(
                'Ask about your data… (Enter sends, Shift+Enter adds a line)'
              )
        }
        value={text}
        rows={3}
        disabled={disabled}
        onChange={e => setText(e.target.value)}
        onKeyDown={e => {
          if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
            e.preventDefault();
            send();
          }
        }}
        onPaste={e => {
          const files = Array.from(e.clipboardData?.files ?? []);
          if (files.length) {
            e.preventDefault();
            void actions.upload(files);
          }
        }}
      />
      <div className="jp-codeinterp-composer-buttons">
        <IconButton
          icon={fileUploadIcon}
          label={trans.__('Upload files to the notebook folder')}
          onClick={() => actions.pickFiles()}
        />
        <span className="jp-codeinterp-spacer" />
        {running ? (
          <button
            type="button"
            className="jp-Button jp-mod-styled jp-mod-warn jp-codeinterp-stop"
            onClick={() => service.stop(chat)}
            aria-label={trans.__('Stop')}
          >
            <stopIcon.react tag="span" elementPosition="center" />{' '}
            {trans.__('Stop')}
          </button>
        ) : (
          <button
            type="button"
            className="jp-Button jp-mod-styled jp-mod-accept jp-codeinterp-send"
            onClick={send}
            disabled={disabled || !text.trim()}
            aria-label={trans.__('Send')}
          >
            <runIcon.react tag="span" elementPosition="center" />{' '}
            {trans.__('Send')}
          </button>
        )}
      </div>
    </div>
  );
}
