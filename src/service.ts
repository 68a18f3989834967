/**
 * CodeInterpService: one per page. Owns the chat socket, the server
 * configuration, the chats of open notebooks and the notebook executor, and
 * routes every server message to the chat it belongs to.
 */
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { ServerConnection } from '@jupyterlab/services';
import { nullTranslator, TranslationBundle } from '@jupyterlab/translation';
import { ISignal, Signal } from '@lumino/signaling';

import { ChatModel, newChatId } from './chat/model';
import { NotebookExecutor } from './executor';
import { chatSocketUrl, requestAPI } from './handler';
import {
  HistoryMsg,
  IServerConfig,
  PROTOCOL_VERSION,
  PromptMsg,
  ServerMessage
} from './protocol';
import {
  ChatRequestError,
  ChatSocket,
  newRequestId,
  WebSocketFactory
} from './socket';
import {
  DEFAULT_SETTINGS,
  IApprovalEvent,
  ICodeInterp,
  ICodeInterpSettings,
  ISendOptions
} from './tokens';

export interface ICodeInterpServiceOptions {
  notebookTracker: INotebookTracker;
  trans?: TranslationBundle;
  serverSettings?: ServerConnection.ISettings;
  createSocket?: WebSocketFactory;
  /** Resolves when the shell's layout is restored (JupyterFrontEnd.restored). */
  restored?: Promise<void>;
}

export class CodeInterpService implements ICodeInterp {
  constructor(options: ICodeInterpServiceOptions) {
    this._tracker = options.notebookTracker;
    this._trans = options.trans ?? nullTranslator.load('jupyterlab_codeinterp');
    this._serverSettings =
      options.serverSettings ?? ServerConnection.makeSettings();
    this.socket = new ChatSocket({
      url: () => chatSocketUrl(this._serverSettings),
      createSocket: options.createSocket
    });
    this.executor = new NotebookExecutor(
      {
        notebookForChat: chatId => this.notebookForChat(chatId),
        cellCreated: (chatId, stepId, cellId) => {
          if (stepId) {
            this.chatById(chatId)?.setLocalCell(stepId, cellId);
          }
        }
      },
      this._trans
    );
    this.socket.messageReceived.connect(this._onMessage, this);
    this.socket.statusChanged.connect(this._onStatus, this);
    this._tracker.currentChanged.connect(this._onCurrentNotebook, this);
    this.socket.connect();
    // A notebook restored before this plugin activated is already current and
    // never emits currentChanged: bind to it now, and again once the layout
    // is restored in case the tracker settled only then.
    this._onCurrentNotebook();
    void options.restored?.then(() => this._onCurrentNotebook());
  }

  readonly socket: ChatSocket;
  readonly executor: NotebookExecutor;

  get config(): IServerConfig | null {
    return this._config;
  }
  get configError(): string | null {
    return this._configError;
  }
  get configChanged(): ISignal<ICodeInterp, IServerConfig | null> {
    return this._configChanged;
  }
  get settings(): ICodeInterpSettings {
    return this._settings;
  }
  get settingsChanged(): ISignal<ICodeInterp, ICodeInterpSettings> {
    return this._settingsChanged;
  }
  get approvalRequested(): ISignal<ICodeInterp, IApprovalEvent> {
    return this._approvalRequested;
  }
  get currentChanged(): ISignal<ICodeInterp, ChatModel | null> {
    return this._currentChanged;
  }
  get current(): ChatModel | null {
    return this._current;
  }
  /** A warning about the server's protocol version, if it differs. */
  get protocolWarning(): string {
    return this._protocolWarning;
  }

  get model(): string {
    return this._settings.model || this._config?.model || '';
  }

  setModel(model: string): void {
    this._settings = { ...this._settings, model };
    this._settingsChanged.emit(this._settings);
  }

  updateSettings(settings: Partial<ICodeInterpSettings>): void {
    this._settings = { ...DEFAULT_SETTINGS, ...this._settings, ...settings };
    this._settingsChanged.emit(this._settings);
  }

  async reloadConfig(): Promise<IServerConfig | null> {
    try {
      this._config = await requestAPI<IServerConfig>(
        'config',
        {},
        this._serverSettings
      );
      this._configError = null;
    } catch (error) {
      this._configError =
        error instanceof Error
          ? error.message
          : String(error ?? 'unknown error');
    }
    this._configChanged.emit(this._config);
    return this._config;
  }

  chatForNotebook(panel: NotebookPanel): ChatModel {
    let chat = this._byPanel.get(panel);
    if (chat) {
      return chat;
    }
    chat = new ChatModel(panel.context.path, newChatId());
    this._byPanel.set(panel, chat);
    this._byChatId.set(chat.chatId, chat);
    const model = chat;
    panel.context.pathChanged.connect((_, path) => {
      model.notebookPath = path;
    });
    panel.disposed.connect(() => {
      this._byPanel.delete(panel);
      this._byChatId.delete(model.chatId);
      if (this._current === model) {
        this._setCurrent(null);
      }
    });
    void this._loadLatest(model);
    return chat;
  }

  chatById(chatId: string): ChatModel | undefined {
    return this._byChatId.get(chatId);
  }

  notebookForChat(chatId: string): NotebookPanel | null {
    for (const [panel, chat] of this._byPanel) {
      if (chat.chatId === chatId && !panel.isDisposed) {
        return panel;
      }
    }
    return null;
  }

  async sendPrompt(
    chat: ChatModel,
    text: string,
    options: ISendOptions = {}
  ): Promise<void> {
    const id = newRequestId('p');
    const msg: PromptMsg = {
      type: 'prompt',
      id,
      chat_id: chat.chatId,
      notebook_path: chat.notebookPath,
      text,
      mode: options.mode ?? 'chat',
      cell_id: options.cellId ?? null,
      model: this.model || null,
      auto_run: this._settings.autoRun,
      max_repairs: this._settings.maxRepairs,
      vision: this._settings.vision,
      context_token_budget: this._settings.contextTokenBudget
    };
    chat.addPending(id, { text, mode: msg.mode, cell_id: msg.cell_id });
    this.socket.send(msg);
  }

  stop(chat: ChatModel): void {
    if (chat.isRunning) {
      this.socket.send({ type: 'stop', chat_id: chat.chatId });
    }
  }

  approve(
    chat: ChatModel,
    stepId: string,
    decision: 'run' | 'skip' | 'accept' | 'reject',
    code?: string
  ): void {
    const step = chat.step(stepId);
    if (decision === 'accept') {
      const cellId = step?.approval?.cell_id || step?.cell_id;
      if (cellId) {
        this.executor.acceptFix(cellId);
      }
    }
    chat.decide(stepId, decision);
    this.socket.send({
      type: 'approval_reply',
      step_id: stepId,
      decision,
      code: code ?? null
    });
  }

  async listChats(chat: ChatModel): Promise<Record<string, any>[]> {
    const reply = await this.socket.request<HistoryMsg>({
      type: 'history_request',
      notebook_path: chat.notebookPath
    });
    return this._summaries(reply);
  }

  async openChat(chat: ChatModel, chatId: string): Promise<void> {
    chat.loading = true;
    try {
      const reply = await this.socket.request<HistoryMsg>({
        type: 'history_request',
        notebook_path: chat.notebookPath,
        chat_id: chatId
      });
      this._rekey(chat, chatId);
      const title = (this._titles.get(chatId) as string) ?? '';
      chat.replay(chatId, reply.messages ?? [], title);
    } finally {
      chat.loading = false;
    }
  }

  newChat(chat: ChatModel): void {
    const id = newChatId();
    this._rekey(chat, id);
    chat.clear(id);
  }

  async deleteChat(
    chat: ChatModel,
    chatId: string
  ): Promise<Record<string, any>[]> {
    const reply = await this.socket.request<HistoryMsg>({
      type: 'delete_chat',
      notebook_path: chat.notebookPath,
      chat_id: chatId
    });
    if (chat.chatId === chatId) {
      this.newChat(chat);
    }
    return this._summaries(reply);
  }

  dispose(): void {
    this.socket.dispose();
    Signal.clearData(this);
  }

  /** Load the most recent chat of a notebook, if it has one. */
  private async _loadLatest(chat: ChatModel): Promise<void> {
    chat.loading = true;
    try {
      const chats = await this.listChats(chat);
      for (const c of chats) {
        if (c.id) {
          this._titles.set(String(c.id), String(c.title ?? ''));
        }
      }
      // only switch when the user has not started a new chat meanwhile; a chat
      // "from an earlier version" may be another project's: never opened unasked
      const latest = chats.find(c => c.id && !c.earlier_version);
      if (latest && chat.turns.length === 0 && !chat.isRunning) {
        await this.openChat(chat, String(latest.id));
      }
      this._historyPending.delete(chat);
    } catch (error) {
      if (!(error instanceof ChatRequestError) && !this.socket.isDisposed) {
        // e.g. the socket dropped mid-request: try again when it reopens
        this._historyPending.add(chat);
        console.warn('codeinterp: could not load the chat history', error);
      }
    } finally {
      chat.loading = false;
    }
  }

  /** The listed chats; those stored by an earlier version say so in their title. */
  private _summaries(reply: HistoryMsg): Record<string, any>[] {
    return (reply.chats ?? []).map(c =>
      c.earlier_version
        ? {
            ...c,
            title: this._trans.__(
              '%1 (from an earlier version)',
              c.title || this._trans.__('(untitled)')
            )
          }
        : c
    );
  }

  private _rekey(chat: ChatModel, chatId: string): void {
    this._byChatId.delete(chat.chatId);
    this._byChatId.set(chatId, chat);
  }

  private _onCurrentNotebook(): void {
    const panel = this._tracker.currentWidget;
    this._setCurrent(panel ? this.chatForNotebook(panel) : null);
  }

  private _setCurrent(chat: ChatModel | null): void {
    if (this._current !== chat) {
      this._current = chat;
      this._currentChanged.emit(chat);
    }
  }

  private _onStatus(): void {
    const status = this.socket.status;
    if (status === 'closed' && this._wasOpen) {
      // the server cancels a connection's turns when it closes
      for (const chat of this._byChatId.values()) {
        chat.interruptRunning(
          this._trans.__(
            'The connection to the server was lost; the turn stopped.'
          )
        );
      }
    }
    if (status === 'open') {
      if (this._wasOpen) {
        // re-sync what the server recorded while we were away
        for (const chat of this._byChatId.values()) {
          if (chat.turns.length) {
            void this.openChat(chat, chat.chatId).catch(() => undefined);
          } else if (this._historyPending.has(chat)) {
            void this._loadLatest(chat);
          }
        }
      }
      this._wasOpen = true;
    }
  }

  private _onMessage(_: ChatSocket, msg: ServerMessage): void {
    switch (msg.type) {
      case 'hello':
        this._protocolWarning =
          msg.protocol_version !== PROTOCOL_VERSION
            ? this._trans.__(
                'The server speaks chat protocol %1, this page %2: reload the page after upgrading.',
                msg.protocol_version,
                PROTOCOL_VERSION
              )
            : '';
        return;
      case 'executor_request':
        void this.executor.handle(msg).then(reply => this.socket.send(reply));
        return;
      case 'history':
        return; // answers to requests, handled where they were asked
      case 'approval_request': {
        const chat = this._byChatId.get(msg.chat_id);
        if (chat) {
          chat.apply(msg);
          this._approvalRequested.emit({ chat, request: msg });
        }
        return;
      }
      case 'error': {
        if (msg.chat_id) {
          this._byChatId.get(msg.chat_id)?.apply(msg);
        } else if (msg.reply_to) {
          for (const chat of this._byChatId.values()) {
            if (chat.pendingRequest(msg.reply_to)) {
              chat.apply(msg);
            }
          }
        }
        return;
      }
      default: {
        const chatId = (msg as { chat_id?: string }).chat_id;
        if (chatId) {
          this._byChatId.get(chatId)?.apply(msg);
        }
      }
    }
  }

  private _tracker: INotebookTracker;
  private _trans: TranslationBundle;
  private _serverSettings: ServerConnection.ISettings;
  private _config: IServerConfig | null = null;
  private _configError: string | null = null;
  private _settings: ICodeInterpSettings = { ...DEFAULT_SETTINGS };
  private _byPanel = new Map<NotebookPanel, ChatModel>();
  private _byChatId = new Map<string, ChatModel>();
  private _titles = new Map<string, string>();
  /** Chats whose saved history could not be fetched yet (retried on reconnect). */
  private _historyPending = new WeakSet<ChatModel>();
  private _current: ChatModel | null = null;
  private _wasOpen = false;
  private _protocolWarning = '';
  private _configChanged = new Signal<ICodeInterp, IServerConfig | null>(this);
  private _settingsChanged = new Signal<ICodeInterp, ICodeInterpSettings>(this);
  private _approvalRequested = new Signal<ICodeInterp, IApprovalEvent>(this);
  private _currentChanged = new Signal<ICodeInterp, ChatModel | null>(this);
}
