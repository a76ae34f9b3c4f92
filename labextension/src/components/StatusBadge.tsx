/** A chat's status as a small badge (a spinner while it works). */
import React from 'react';

import { useAgents } from './context';

export function StatusBadge(props: { status: string }): JSX.Element {
  const { trans } = useAgents();
  const labels: Record<string, string> = {
    pending: trans.__('starting'),
    running: trans.__('running'),
    waiting: trans.__('ready'),
    requires_action: trans.__('needs you'),
    paused: trans.__('stopped'),
    error: trans.__('error'),
    completed: trans.__('done')
  };
  const busy = props.status === 'running' || props.status === 'pending';
  return (
    <span className="jp-CoderAgents-status" data-status={props.status}>
      {busy && <span className="jp-CoderAgents-spinner" aria-hidden="true" />}
      {labels[props.status] ?? props.status}
    </span>
  );
}
