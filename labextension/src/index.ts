/**
 * The JupyterLab plugin: the Agents sidebar, chats in tabs, commands (palette, context menus),
 * "Ask agent" on notebook cells and editor selections, and user preferences.
 */
import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  ICommandPalette,
  MainAreaWidget,
  ToolbarButton,
  WidgetTracker
} from '@jupyterlab/apputils';
import { IEditorLanguageRegistry, jupyterTheme } from '@jupyterlab/codemirror';
import { PageConfig, PathExt } from '@jupyterlab/coreutils';
import { IDocumentManager } from '@jupyterlab/docmanager';
import { IEditorTracker } from '@jupyterlab/fileeditor';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';

import { cellPrompt, selectionPrompt } from './ask';
import { handleClientTools } from './kernelTools';
import { widgetPlugin } from './chatWidget';
import { IAgentsContext } from './components/context';
import { agentsIcon } from './icons';
import { AgentsService, DEFAULT_PREFERENCES, IPreferences } from './service';
import { AgentsSidebar, ChatPanel, PANEL_ID } from './widgets';

const PLUGIN_ID = 'coder-agents-jupyter:plugin';

export namespace CommandIDs {
  export const newChat = 'coder-agents:new-chat';
  export const openChat = 'coder-agents:open-chat';
  export const openInTab = 'coder-agents:open-chat-in-tab';
  export const archive = 'coder-agents:archive-chat';
  export const fork = 'coder-agents:fork-from-message';
  export const askCell = 'coder-agents:ask-about-cell';
  export const askSelection = 'coder-agents:ask-about-selection';
}

/** The chat id of the list item or message under a context-menu click. */
function hitData(app: JupyterFrontEnd, attr: string): string | null {
  const node = app.contextMenuHitTest(n => n.hasAttribute?.(attr));
  return node?.getAttribute(attr) ?? null;
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'The Agents panel of coder-agents-jupyter.',
  autoStart: true,
  optional: [
    ILayoutRestorer,
    ICommandPalette,
    IRenderMimeRegistry,
    ISettingRegistry,
    ITranslator,
    INotebookTracker,
    IEditorTracker,
    IDocumentManager,
    IEditorLanguageRegistry
  ],
  activate: (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null,
    rendermime: IRenderMimeRegistry | null,
    settings: ISettingRegistry | null,
    translator: ITranslator | null,
    notebooks: INotebookTracker | null,
    editors: IEditorTracker | null,
    docManager: IDocumentManager | null,
    languages: IEditorLanguageRegistry | null
  ): void => {
    const trans = (translator ?? nullTranslator).load('coder_agents_jupyter');
    const service = new AgentsService();
    const tracker = new WidgetTracker<MainAreaWidget<ChatPanel>>({
      namespace: 'coder-agents-chat'
    });
    const serverRoot = PageConfig.getOption('serverRoot');

    if (notebooks) {
      const tracker = notebooks;
      service.clientTools = (model, awaiting) =>
        void handleClientTools(model.id, awaiting, tracker, body =>
          model.api.postToolResult(model.id, body)
        );
      service.openNotebooks = () => {
        const paths: string[] = [];
        tracker.forEach(panel => paths.push(panel.context.path));
        return paths;
      };
    }

    const ctx: IAgentsContext = {
      service,
      rendermime,
      trans,
      openChat: (id, where) =>
        void app.commands.execute(CommandIDs.openChat, {
          id,
          where: where ?? ''
        }),
      openFile: docManager
        ? (path: string) => {
            // only files under the server's root can be opened in JupyterLab
            const rel =
              serverRoot && path.startsWith(serverRoot + '/')
                ? path.slice(serverRoot.length + 1)
                : path.startsWith('/')
                  ? null
                  : path;
            if (rel !== null) {
              docManager.openOrReveal(PathExt.normalize(rel));
            }
          }
        : undefined,
      editorTheme: [jupyterTheme],
      languageFor: languages
        ? async (path: string) => {
            const lang = languages.findByFileName(PathExt.basename(path));
            return lang
              ? ((await languages.getLanguage(lang.name))?.support ?? null)
              : null;
          }
        : undefined
    };

    const openInTab = (id: string): void => {
      const existing = tracker.find(w => w.content.chatId === id);
      if (existing) {
        app.shell.activateById(existing.id);
        return;
      }
      const content = new ChatPanel(ctx, id);
      const widget = new MainAreaWidget({ content });
      widget.id = content.id;
      widget.title.icon = agentsIcon;
      content.title.changed.connect(() => {
        widget.title.label = content.title.label;
        widget.title.caption = content.title.caption;
      });
      widget.title.label = content.title.label;
      void tracker.add(widget);
      app.shell.add(widget, 'main');
      app.shell.activateById(widget.id);
    };

    const sidebar = new AgentsSidebar(ctx, openInTab);
    app.shell.add(sidebar, 'left', { rank: 600 });
    restorer?.add(sidebar, PANEL_ID);

    const showSidebar = (): void => app.shell.activateById(PANEL_ID);

    app.commands.addCommand(CommandIDs.newChat, {
      label: trans.__('New Agent Chat'),
      caption: trans.__('Start a chat with an agent'),
      icon: agentsIcon,
      execute: args => {
        sidebar.showNew((args.prompt as string | undefined) ?? undefined);
        showSidebar();
      }
    });

    app.commands.addCommand(CommandIDs.openChat, {
      label: trans.__('Open Agent Chat'),
      execute: args => {
        const id = args.id as string;
        const where = (args.where as string) || service.preferences.openChatsIn;
        if (where === 'main') {
          openInTab(id);
        } else {
          sidebar.showChat(id);
          showSidebar();
        }
      }
    });

    app.commands.addCommand(CommandIDs.openInTab, {
      label: trans.__('Open in a Tab'),
      execute: args => {
        const id = (args.id as string) || hitData(app, 'data-chat-id');
        if (id) {
          openInTab(id);
        }
      }
    });

    app.commands.addCommand(CommandIDs.archive, {
      label: trans.__('Archive Chat'),
      execute: async args => {
        const id = (args.id as string) || hitData(app, 'data-chat-id');
        if (id) {
          await service.archive(id);
          if (sidebar.chatId === id) {
            sidebar.showList();
          }
        }
      }
    });

    app.commands.addCommand(CommandIDs.fork, {
      label: trans.__('Fork Chat From Here'),
      execute: async () => {
        const node = app.contextMenuHitTest(n =>
          n.hasAttribute?.('data-message-id')
        );
        const chatId = node
          ?.closest('[data-chat-id]')
          ?.getAttribute('data-chat-id');
        const messageId = Number(node?.getAttribute('data-message-id'));
        if (!chatId || !messageId) {
          return;
        }
        const { model, release } = service.acquire(chatId);
        try {
          const id = await model.fork(messageId);
          if (id) {
            void service.refreshChats();
            sidebar.showChat(id);
            showSidebar();
          }
        } finally {
          release.dispose();
        }
      }
    });

    const currentNotebook = (): NotebookPanel | null =>
      notebooks?.currentWidget ?? null;

    app.commands.addCommand(CommandIDs.askCell, {
      label: trans.__('Ask Agent About This Cell'),
      caption: trans.__(
        "Start an agent chat with the cell's source and its error, if it failed"
      ),
      icon: agentsIcon,
      isEnabled: () => !!currentNotebook()?.content.activeCell,
      execute: () => {
        const panel = currentNotebook();
        const cell = panel?.content.activeCell;
        if (!panel || !cell) {
          return;
        }
        sidebar.showNew(cellPrompt(panel.context.path, cell.model.toJSON()));
        showSidebar();
      }
    });

    app.commands.addCommand(CommandIDs.askSelection, {
      label: trans.__('Ask Agent About the Selection'),
      icon: agentsIcon,
      execute: () => {
        const editorWidget = editors?.currentWidget;
        const notebook = currentNotebook();
        const editor =
          app.shell.currentWidget === editorWidget
            ? editorWidget?.content.editor
            : notebook?.content.activeCell?.editor;
        const path =
          app.shell.currentWidget === editorWidget
            ? editorWidget?.context.path
            : notebook?.context.path;
        if (!editor) {
          return;
        }
        const selection = editor.getSelection();
        const text = editor.model.sharedModel
          .getSource()
          .slice(
            editor.getOffsetAt(selection.start),
            editor.getOffsetAt(selection.end)
          );
        sidebar.showNew(selectionPrompt(path ?? '', text));
        showSidebar();
      }
    });

    app.contextMenu.addItem({
      command: CommandIDs.openInTab,
      selector: '.jp-CoderAgents-chatItem',
      rank: 1
    });
    app.contextMenu.addItem({
      command: CommandIDs.archive,
      selector: '.jp-CoderAgents-chatItem',
      rank: 2
    });
    app.contextMenu.addItem({
      command: CommandIDs.fork,
      selector: '.jp-CoderAgents-message[data-message-id]',
      rank: 1
    });
    app.contextMenu.addItem({
      command: CommandIDs.askCell,
      selector: '.jp-Notebook .jp-Cell',
      rank: 20
    });
    app.contextMenu.addItem({
      command: CommandIDs.askSelection,
      selector: '.jp-FileEditor .jp-CodeMirrorEditor',
      rank: 20
    });

    // a button on every notebook's toolbar
    notebooks?.widgetAdded.connect((_, panel) => {
      const button = new ToolbarButton({
        icon: agentsIcon,
        label: trans.__('Ask agent'),
        tooltip: trans.__(
          'Ask an agent about the active cell (its source and error go along)'
        ),
        onClick: () => void app.commands.execute(CommandIDs.askCell)
      });
      panel.toolbar.insertItem(10, 'coderAgentsAsk', button);
    });

    for (const command of [CommandIDs.newChat, CommandIDs.askCell]) {
      palette?.addItem({ command, category: trans.__('Agents') });
    }

    if (restorer) {
      void restorer.restore(tracker, {
        command: CommandIDs.openChat,
        args: w => ({ id: w.content.chatId, where: 'main' }),
        name: w => w.content.chatId
      });
    }

    if (settings) {
      void settings
        .load(PLUGIN_ID)
        .then(s => {
          const apply = (): void => {
            service.preferences = {
              ...DEFAULT_PREFERENCES,
              ...(s.composite as Partial<IPreferences>)
            };
          };
          apply();
          s.changed.connect(apply);
        })
        .catch(reason =>
          console.warn('coder-agents-jupyter settings:', reason)
        );
    }
  }
};

export default [plugin, widgetPlugin];
export { requestAPI, ResponseError } from './request';
