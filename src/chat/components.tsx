/**
 * React components of the chat sidebar. All state lives in ChatModel and the
 * service; components re-render on their signals.
 */
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { TranslationBundle } from '@jupyterlab/translation';
import {
  addIcon,
  caretDownIcon,
  caretRightIcon,
  closeIcon,
  deleteIcon,
  downloadIcon,
  fileUploadIcon,
  historyIcon,
  LabIcon,
  linkIcon,
  refreshIcon,
  runIcon,
  searchIcon,
  stopIcon
} from '@jupyterlab/ui-components';
import { ISignal } from '@lumino/signaling';
import * as React from 'react';

import { lineDiff } from '../diff';
import { UntrustedMarkdown } from '../markdown';
import { ErrorMsg, IServerConfig, PromptMsg, StepState } from '../protocol';
import { ICodeInterp } from '../tokens';
import { codeInterpIcon } from '../icons';
import { ChatModel, IChatNotice, IStepView, ITurnView } from './model';
import { useSignal } from './useSignal';

/** What the components need from the outside world. */
export interface IChatActions {
  service: ICodeInterp;
  rendermime: IRenderMimeRegistry;
  trans: TranslationBundle;
  openFile(path: string): void;
  goToCell(chat: ChatModel, cellId: string): void;
  upload(files: File[]): Promise<void>;
  pickFiles(): void;
  showContext(chat: ChatModel): void;
  exportChat(chat: ChatModel): void;
  setModel(model: string): void;
  confirmDelete(title: string): Promise<boolean>;
  /** Files uploaded but not yet mentioned in a prompt. */
  pendingUploads(chat: ChatModel): string[];
  takePendingUploads(chat: ChatModel): string[];
  uploadsChanged: ISignal<any, void>;
}

function IconButton(props: {
  icon: LabIcon;
  label: string;
  onClick: () => void;
  disabled?: boolean;
  className?: string;
  text?: string;
}): JSX.Element {
  return (
    <button
      type="button"
      className={`jp-codeinterp-iconbutton jp-mod-minimal jp-Button ${props.className ?? ''}`}
      title={props.label}
      aria-label={props.label}
      onClick={props.onClick}
      disabled={props.disabled}
    >
      <props.icon.react tag="span" elementPosition="center" />
      {props.text && (
        <span className="jp-codeinterp-iconbutton-text">{props.text}</span>
      )}
    </button>
  );
}

function formatElapsed(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const m = Math.floor(s / 60);
  return m > 0 ? `${m}:${String(s % 60).padStart(2, '0')}` : `${s}s`;
}

/** Ticks once a second while `active`. */
function useNow(active: boolean): number {
  const [now, setNow] = React.useState(Date.now());
  React.useEffect(() => {
    if (!active) {
      return;
    }
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [active]);
  return now;
}

/** Markdown from the model, rendered untrusted and re-rendered as it streams. */
export function MarkdownView(props: {
  text: string;
  rendermime: IRenderMimeRegistry;
}): JSX.Element {
  const host = React.useRef<HTMLDivElement>(null);
  const renderer = React.useRef<UntrustedMarkdown | null>(null);
  React.useEffect(() => {
    renderer.current = new UntrustedMarkdown(props.rendermime, host.current!);
    return () => renderer.current?.dispose();
  }, [props.rendermime]);
  React.useEffect(() => {
    const timer = setTimeout(
      () => void renderer.current?.render(props.text),
      40
    );
    return () => clearTimeout(timer);
  }, [props.text]);
  return <div className="jp-codeinterp-markdown" ref={host} />;
}

function stateLabel(state: StepState, trans: TranslationBundle): string {
  switch (state) {
    case 'waiting_approval':
      return trans.__('waiting for you');
    case 'running':
      return trans.__('running');
    case 'ok':
      return trans.__('ok');
    case 'error':
      return trans.__('error');
    case 'skipped':
      return trans.__('skipped');
    case 'interrupted':
      return trans.__('interrupted');
    case 'timeout':
      return trans.__('timed out');
    case 'aborted':
      return trans.__('not run');
    default:
      return state;
  }
}

function toolLabel(step: IStepView, trans: TranslationBundle): string {
  switch (step.tool) {
    case 'run_code':
      return trans.__('Run code');
    case 'inspect_variable':
      return trans.__('Inspect %1', step.summary || trans.__('variable'));
    case 'read_file':
      return trans.__('Read file');
    default:
      return step.tool;
  }
}

function DiffView(props: {
  before: string;
  after: string;
  label: string;
}): JSX.Element {
  const lines = React.useMemo(
    () => lineDiff(props.before, props.after),
    [props.before, props.after]
  );
  return (
    <pre className="jp-codeinterp-diff" role="figure" aria-label={props.label}>
      {lines.map((line, i) => (
        <div
          key={i}
          className={`jp-codeinterp-diff-line jp-codeinterp-diff-${line.kind}`}
        >
          <span className="jp-codeinterp-diff-sign" aria-hidden="true">
            {line.kind === 'add' ? '+' : line.kind === 'del' ? '-' : ' '}
          </span>
          <span className="jp-codeinterp-diff-text">{line.text || ' '}</span>
        </div>
      ))}
    </pre>
  );
}

function Approval(props: {
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
              <button
                type="button"
                className="jp-codeinterp-link"
                onClick={() => actions.openFile(path)}
                title={trans.__('Open %1', path)}
              >
                {path.split('/').pop()}
              </button>
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

function ErrorBox(props: {
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

function retry(
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

function modeLabel(mode: string, trans: TranslationBundle): string {
  return mode === 'fix'
    ? trans.__('Fix')
    : mode === 'generate'
      ? trans.__('Generate')
      : '';
}

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
        {turn.usage && (turn.usage.total_tokens ?? 0) > 0 && (
          <div className="jp-codeinterp-usage">
            {trans.__('%1 tokens', turn.usage.total_tokens ?? 0)}
            {turn.usage.cost != null && ` · $${turn.usage.cost.toFixed(4)}`}
          </div>
        )}
      </div>
    </article>
  );
}

/** Shown before the first prompt when no model is configured. */
export function SetupPanel(props: {
  config: IServerConfig | null;
  configError: string | null;
  actions: IChatActions;
}): JSX.Element {
  const { config, configError, actions } = props;
  const { trans } = actions;
  const local = config?.local_servers ?? [];
  return (
    <div
      className="jp-codeinterp-setup"
      role="region"
      aria-label={trans.__('Configure a model')}
    >
      <h3>{trans.__('Connect a model')}</h3>
      {configError ? (
        <p className="jp-codeinterp-error-message">
          {trans.__('The server extension did not answer: %1', configError)}
        </p>
      ) : (
        <p>
          {trans.__(
            'No model is configured yet. Code Interpreter works with any OpenAI-compatible endpoint: OpenAI, Azure OpenAI, OpenRouter, or a local server (Ollama, vLLM, llama.cpp, LM Studio).'
          )}
        </p>
      )}
      {local.length > 0 && (
        <div className="jp-codeinterp-local">
          <p>{trans.__('Found running on this machine:')}</p>
          <ul>
            {local.map(server => (
              <li key={server.base_url}>
                <strong>
                  {server.label ||
                    server.name ||
                    server.preset ||
                    server.base_url}
                </strong>{' '}
                <code>{server.base_url}</code>
                {server.models && server.models.length > 0 && (
                  <span>
                    {' '}
                    —{' '}
                    {trans.__(
                      'models: %1',
                      server.models.slice(0, 5).join(', ')
                    )}
                  </span>
                )}
              </li>
            ))}
          </ul>
          <pre className="jp-codeinterp-snippet">
            {`c.CodeInterp.base_url = "${local[0].base_url}"\nc.CodeInterp.model = "${local[0].models?.[0] ?? 'MODEL'}"`}
          </pre>
        </div>
      )}
      <p>{trans.__('Set these before starting JupyterLab:')}</p>
      <pre className="jp-codeinterp-snippet">
        {
          'export OPENAI_API_KEY=sk-...\nexport CODEINTERP_MODEL=gpt-4.1-mini\n# for another endpoint:\nexport OPENAI_BASE_URL=http://localhost:11434/v1'
        }
      </pre>
      <p>{trans.__('or in jupyter_server_config.py:')}</p>
      <pre className="jp-codeinterp-snippet">
        {
          'c.CodeInterp.base_url = "http://localhost:11434/v1"\nc.CodeInterp.model = "qwen2.5-coder:7b"\nc.CodeInterp.api_key = "..."  # if the endpoint needs one'
        }
      </pre>
      <button
        type="button"
        className="jp-Button jp-mod-styled jp-codeinterp-reload-config"
        onClick={() => void actions.service.reloadConfig()}
      >
        <refreshIcon.react tag="span" elementPosition="center" />{' '}
        {trans.__('Check Again')}
      </button>
    </div>
  );
}

function HistoryList(props: {
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

function NoticeView(props: {
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

function Composer(props: {
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

function ModelPicker(props: { actions: IChatActions }): JSX.Element | null {
  const { actions } = props;
  const { service, trans } = actions;
  useSignal(service.settingsChanged);
  const config = service.config;
  if (!config) {
    return null;
  }
  const current = service.model;
  const models = Array.from(
    new Set([current, config.model, ...(config.models ?? [])].filter(Boolean))
  );
  return (
    <select
      className="jp-codeinterp-model-picker"
      aria-label={trans.__('Model')}
      title={trans.__('Model')}
      value={current}
      onChange={e =>
        actions.setModel(e.target.value === config.model ? '' : e.target.value)
      }
    >
      {models.map(m => (
        <option key={m} value={m}>
          {m}
        </option>
      ))}
    </select>
  );
}

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
