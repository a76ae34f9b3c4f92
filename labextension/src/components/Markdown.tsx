/**
 * Markdown through JupyterLab's rendermime (the notebook's renderer: sanitised HTML, code
 * highlighting, math). While text streams, renders are coalesced to one per animation frame.
 */
import { MimeModel } from '@jupyterlab/rendermime';
import React, { useEffect, useRef } from 'react';

import { useAgents } from './context';

export function Markdown(props: {
  text: string;
  className?: string;
}): JSX.Element {
  const { rendermime } = useAgents();
  const host = useRef<HTMLDivElement>(null);
  const renderer = useRef<any>(null);
  const pending = useRef<number | null>(null);
  const latest = useRef(props.text);
  latest.current = props.text;

  useEffect(() => {
    if (rendermime === null || host.current === null) {
      return;
    }
    const r = rendermime.createRenderer('text/markdown');
    renderer.current = r;
    host.current.appendChild(r.node);
    return () => {
      if (pending.current !== null) {
        cancelAnimationFrame(pending.current);
      }
      r.dispose();
      renderer.current = null;
    };
  }, [rendermime]);

  useEffect(() => {
    const r = renderer.current;
    if (r === null || pending.current !== null) {
      return;
    }
    pending.current = requestAnimationFrame(() => {
      pending.current = null;
      if (renderer.current === r) {
        void r.renderModel(
          new MimeModel({
            data: { 'text/markdown': latest.current },
            trusted: false
          })
        );
      }
    });
  }, [props.text, rendermime]);

  const cls = `jp-CoderAgents-markdown ${props.className ?? ''}`;
  if (rendermime === null) {
    return <div className={cls}>{props.text}</div>;
  }
  return <div className={cls} ref={host} />;
}
