/**
 * What the React views need from JupyterLab and from the extension, handed down once by the
 * widget that hosts them (so views stay plain React and easy to test).
 */
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { nullTranslator, TranslationBundle } from '@jupyterlab/translation';
import React from 'react';

import { ChatApi } from '../api';
import { AgentsService } from '../service';
import { IChat } from '../types';

export interface IAgentsContext {
  service: AgentsService;
  /** Renders Markdown (with code highlighting and math) the way notebooks do. */
  rendermime: IRenderMimeRegistry | null;
  /** Translated strings: `trans.__('Stop')`. */
  trans: TranslationBundle;
  /** Show a chat (a sub-agent, a fork) where the user reads chats. */
  openChat(chatId: string, where?: 'sidebar' | 'main'): void;
  /** Open a workspace file in JupyterLab's editor; undefined when the workspace is not local. */
  openFile?(path: string): void;
  /** Language of a file for syntax highlighting (CodeMirror), when JupyterLab knows it. */
  languageFor?(path: string): Promise<unknown | null>;
  /** The open chat's verbs (over HTTP, or through a kernel for the chat widget). */
  api?: ChatApi;
  /** What the open chat knows of a chat of its tree (sub-agents: live title and status). */
  chatInfo?(chatId: string): IChat | undefined;
  /** CodeMirror extensions that style an editor like JupyterLab's own (theme, highlighting). */
  editorTheme?: unknown[];
}

export const AgentsContext = React.createContext<IAgentsContext | null>(null);

export function useAgents(): IAgentsContext {
  const ctx = React.useContext(AgentsContext);
  if (ctx === null) {
    throw new Error('An Agents view was rendered outside its AgentsContext.');
  }
  return ctx;
}

export const fallbackTrans: TranslationBundle = nullTranslator.load(
  'coder_agents_jupyter'
);
