import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import { requestAPI } from './handler';
import { IServerConfig } from './protocol';

const PLUGIN_ID = 'jupyterlab-codeinterp:plugin';

namespace CommandIDs {
  export const openChat = 'codeinterp:open-chat';
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'A Code Interpreter chat for notebooks.',
  autoStart: true,
  optional: [ICommandPalette, ILayoutRestorer, ITranslator],
  activate: (
    app: JupyterFrontEnd,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null,
    translator: ITranslator | null
  ) => {
    const trans = (translator ?? nullTranslator).load('jupyterlab_codeinterp');
    const sidebar = new Widget();
    sidebar.id = 'jp-codeinterp-chat';
    sidebar.addClass('jp-codeinterp-sidebar');
    sidebar.title.caption = trans.__('Code Interpreter');
    sidebar.title.label = trans.__('Code Interpreter');
    const status = document.createElement('div');
    status.className = 'jp-codeinterp-status';
    status.textContent = trans.__('Connecting…');
    sidebar.node.appendChild(status);
    app.shell.add(sidebar, 'right', { rank: 100 });
    restorer?.add(sidebar, 'jp-codeinterp-chat');

    requestAPI<IServerConfig>('config')
      .then(config => {
        status.textContent = trans.__('Model: ');
        const name = document.createElement('span');
        name.className = 'jp-codeinterp-model-name';
        name.textContent = config.model;
        status.appendChild(name);
      })
      .catch(reason => {
        status.textContent = trans.__('The server extension did not answer: %1', String(reason));
      });

    app.commands.addCommand(CommandIDs.openChat, {
      label: trans.__('Open Code Interpreter Chat'),
      execute: () => app.shell.activateById(sidebar.id)
    });
    palette?.addItem({ command: CommandIDs.openChat, category: trans.__('Code Interpreter') });
  }
};

export default plugin;
