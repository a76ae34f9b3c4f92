import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';

import { AgentsPanel } from './panel';

/** Adds the Agents panel to the left sidebar. */
const plugin: JupyterFrontEndPlugin<void> = {
  id: 'coder-agents-jupyter:plugin',
  description: 'The Agents side panel of coder-agents-jupyter.',
  autoStart: true,
  optional: [ILayoutRestorer],
  activate: (app: JupyterFrontEnd, restorer: ILayoutRestorer | null): void => {
    const panel = new AgentsPanel();
    app.shell.add(panel, 'left', { rank: 600 });
    restorer?.add(panel, panel.id);
  }
};

export default plugin;
export { requestAPI, ResponseError } from './request';
