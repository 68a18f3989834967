/**
 * jupyterlab-codeinterp: a Code Interpreter chat for notebooks.
 *
 * Plugins:
 * - `jupyterlab-codeinterp:plugin`: the service (chat socket, configuration,
 *   settings, executor), the chat sidebar and the commands;
 * - `jupyterlab-codeinterp:notebook`: "Fix this error" and generate-and-run on
 *   notebook cells.
 */
import {
  ILabShell,
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { INotebookTracker } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';

import { ApprovalManager } from './approval';
import { ChatSidebar, SIDEBAR_ID } from './chat/sidebar';
import { errorOf, FixErrorManager } from './fixError';
import { GenerateCellManager } from './generateCell';
import { codeInterpIcon, fixIcon, generateIcon } from './icons';
import { CodeInterpService } from './service';
import { DEFAULT_SETTINGS, ICodeInterp, ICodeInterpSettings } from './tokens';

const PLUGIN_ID = 'jupyterlab-codeinterp:plugin';

export namespace CommandIDs {
  export const openChat = 'codeinterp:open-chat';
  export const fixError = 'codeinterp:fix-error';
  export const generateCell = 'codeinterp:generate-cell';
  export const stop = 'codeinterp:stop';
}

const corePlugin: JupyterFrontEndPlugin<ICodeInterp> = {
  id: PLUGIN_ID,
  description:
    'The Code Interpreter chat: sidebar, chat socket and notebook executor.',
  autoStart: true,
  provides: ICodeInterp,
  requires: [INotebookTracker, IRenderMimeRegistry],
  optional: [
    ICommandPalette,
    ILayoutRestorer,
    ISettingRegistry,
    ITranslator,
    ILabShell
  ],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    rendermime: IRenderMimeRegistry,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null,
    settingRegistry: ISettingRegistry | null,
    translator: ITranslator | null,
    labShell: ILabShell | null
  ): ICodeInterp => {
    const trans = (translator ?? nullTranslator).load('jupyterlab_codeinterp');
    const service = new CodeInterpService({
      notebookTracker: tracker,
      trans,
      serverSettings: app.serviceManager.serverSettings,
      restored: app.restored
    });
    void service.reloadConfig();

    let settings: ISettingRegistry.ISettings | null = null;
    const sidebar = new ChatSidebar({
      app,
      service,
      rendermime,
      trans,
      saveModel: model => {
        void settings?.set('model', model).catch(reason => {
          console.warn('codeinterp: could not save the model choice', reason);
        });
      }
    });
    app.shell.add(sidebar, 'right', { rank: 600 });
    restorer?.add(sidebar, SIDEBAR_ID);

    if (settingRegistry) {
      settingRegistry
        .load(PLUGIN_ID)
        .then(loaded => {
          settings = loaded;
          const apply = () => {
            service.updateSettings({
              ...DEFAULT_SETTINGS,
              ...(loaded.composite as unknown as Partial<ICodeInterpSettings>)
            });
          };
          loaded.changed.connect(apply);
          apply();
        })
        .catch(reason => {
          console.warn('codeinterp: could not load settings', reason);
        });
    }

    const category = trans.__('Code Interpreter');
    app.commands.addCommand(CommandIDs.openChat, {
      label: trans.__('Open Code Interpreter Chat'),
      caption: trans.__(
        'Chat with a model that writes and runs cells in this notebook'
      ),
      icon: args => (args['isPalette'] ? undefined : codeInterpIcon),
      execute: () => {
        if (labShell && !sidebar.isVisible) {
          labShell.expandRight();
        }
        app.shell.activateById(sidebar.id);
        // focus after React rendered the composer
        requestAnimationFrame(() => sidebar.focusInput());
      }
    });
    app.commands.addCommand(CommandIDs.stop, {
      label: trans.__('Stop Code Interpreter'),
      caption: trans.__(
        'Stop the running chat turn (and interrupt its running cell)'
      ),
      isEnabled: () => !!service.current?.isRunning,
      execute: () => {
        const chat = service.current;
        if (chat) {
          service.stop(chat);
        }
      }
    });
    palette?.addItem({ command: CommandIDs.openChat, category });
    palette?.addItem({ command: CommandIDs.stop, category });
    return service;
  }
};

const notebookPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyterlab-codeinterp:notebook',
  description: '"Fix this error" and generate-and-run on notebook cells.',
  autoStart: true,
  requires: [ICodeInterp, INotebookTracker],
  optional: [ICommandPalette, ITranslator],
  activate: (
    app: JupyterFrontEnd,
    service: ICodeInterp,
    tracker: INotebookTracker,
    palette: ICommandPalette | null,
    translator: ITranslator | null
  ) => {
    const trans = (translator ?? nullTranslator).load('jupyterlab_codeinterp');
    const fixer = new FixErrorManager(service, tracker, trans);
    const generator = new GenerateCellManager(service, trans);
    new ApprovalManager(service, trans);
    const category = trans.__('Code Interpreter');

    app.commands.addCommand(CommandIDs.fixError, {
      label: trans.__('Fix This Error'),
      caption: trans.__(
        'Ask the model to fix the error of the active cell; you review the change first'
      ),
      icon: args => (args['isPalette'] ? undefined : fixIcon),
      isEnabled: () => {
        const cell = tracker.activeCell;
        return !!cell && errorOf(cell) !== null;
      },
      isVisible: () => {
        const cell = tracker.activeCell;
        return !!cell && errorOf(cell) !== null;
      },
      execute: async () => {
        const panel = tracker.currentWidget;
        const cell = tracker.activeCell;
        if (panel && cell) {
          await fixer.fix(panel, cell);
        }
      }
    });
    app.commands.addCommand(CommandIDs.generateCell, {
      label: trans.__('Generate Cell Below…'),
      caption: trans.__(
        'Describe code; the model writes it in a new cell below and runs it'
      ),
      icon: args => (args['isPalette'] ? undefined : generateIcon),
      isEnabled: () => !!tracker.activeCell,
      execute: async () => {
        const panel = tracker.currentWidget;
        const cell = tracker.activeCell;
        if (panel && cell) {
          await generator.open(panel, cell);
        }
      }
    });
    palette?.addItem({ command: CommandIDs.fixError, category });
    palette?.addItem({ command: CommandIDs.generateCell, category });

    // keep the enabled state of the commands in step with the active cell
    tracker.activeCellChanged.connect(() => {
      app.commands.notifyCommandChanged(CommandIDs.fixError);
    });
  }
};

export default [corePlugin, notebookPlugin];
export { ICodeInterp } from './tokens';
