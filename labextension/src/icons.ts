import { LabIcon } from '@jupyterlab/ui-components';

const agentsSvgstr = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M12 2a1 1 0 0 1 1 1v1.07A7 7 0 0 1 19 11v6a3 3 0 0 1-3 3H8a3 3 0 0 1-3-3v-6a7 7 0 0 1 6-6.93V3a1 1 0 0 1 1-1zM9 11.5a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3zm6 0a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3zM2 12h2v4H2zm18 0h2v4h-2z"/>
  </g>
</svg>`;

export const agentsIcon = new LabIcon({
  name: 'coder-agents-jupyter:agents',
  svgstr: agentsSvgstr
});
