import { LabIcon } from '@jupyterlab/ui-components';

/** A chat bubble with a prompt: the Code Interpreter sidebar icon. */
const chatSvg = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2zm0 2v11h2v2l2.5-2H20V5H4z"/>
    <path d="M6.3 8.7l1.4-1.4 3.4 3.4-3.4 3.4-1.4-1.4 2-2zM12 12.5h5v1.8h-5z"/>
  </g>
</svg>`;

export const codeInterpIcon = new LabIcon({
  name: 'jupyterlab-codeinterp:chat',
  svgstr: chatSvg
});

/** A wrench: "Fix this error". */
const fixSvg = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M22.7 19l-9.1-9.1c.9-2.3.4-5-1.5-6.9-2-2-5-2.4-7.4-1.3L9 6 6 9 1.6 4.7C.4 7.1.9 10.1 2.9 12.1c1.9 1.9 4.6 2.4 6.9 1.5l9.1 9.1c.4.4 1 .4 1.4 0l2.3-2.3c.5-.4.5-1.1.1-1.4z"/>
  </g>
</svg>`;

export const fixIcon = new LabIcon({
  name: 'jupyterlab-codeinterp:fix',
  svgstr: fixSvg
});

/** A sparkle: "Generate a cell". */
const generateSvg = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M12 2l2.2 5.8L20 10l-5.8 2.2L12 18l-2.2-5.8L4 10l5.8-2.2zM19 15l1 2.5 2.5 1-2.5 1-1 2.5-1-2.5-2.5-1 2.5-1z"/>
  </g>
</svg>`;

export const generateIcon = new LabIcon({
  name: 'jupyterlab-codeinterp:generate',
  svgstr: generateSvg
});
