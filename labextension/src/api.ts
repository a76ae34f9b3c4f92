import { requestAPI } from './request';

/** An enabled model (`GET models`). */
export interface IModel {
  id: string;
  provider: string;
  display_name: string;
  context_window: number;
  supports_images: boolean;
  default: boolean;
}

/** A configured provider (`GET providers`). */
export interface IProvider {
  name: string;
  type: string;
  available: boolean;
  reason?: string | null;
}

export interface IProvidersReply {
  providers: IProvider[];
  /** A set-up hint for the admin when no model can be used, else null. */
  hint: string | null;
}

/** A chat as listed by `GET chats` (the fields the panel uses). */
export interface IChat {
  id: string;
  title: string | null;
  status: string;
  model?: string | null;
  created_at?: string;
  updated_at?: string;
}

export async function listModels(): Promise<IModel[]> {
  return requestAPI<IModel[]>('models');
}

export async function getProviders(): Promise<IProvidersReply> {
  return requestAPI<IProvidersReply>('providers');
}

export async function listChats(): Promise<IChat[]> {
  return requestAPI<IChat[]>('chats');
}

export async function createChat(prompt: string): Promise<IChat> {
  return requestAPI<IChat>('chats', {
    method: 'POST',
    body: JSON.stringify({ prompt })
  });
}
