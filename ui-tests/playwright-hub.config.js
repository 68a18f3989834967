/**
 * The chat flow with the server under a JupyterHub-style prefix (/user/alice/):
 * every URL the extension builds (REST and the chat socket) must carry it.
 *
 *   jlpm playwright test -c playwright-hub.config.js
 */
process.env.CODEINTERP_BASE_URL =
  process.env.CODEINTERP_BASE_URL || '/user/alice/';
const base = require('./playwright.config');

module.exports = {
  ...base,
  outputDir: 'test-results/hub',
  reporter: [
    ['list'],
    ['html', { open: 'never', outputFolder: 'playwright-report-hub' }]
  ],
  testMatch: ['**/hub.spec.ts'],
  testIgnore: []
};
