/**
 * The extension behind a real JupyterHub (tests/hub.spec.ts): `jupyterhub` with
 * DummyAuthenticator and SimpleLocalProcessSpawner, the real
 * configurable-http-proxy from node_modules, and the scripted model server. The
 * browser logs in like a user does; each user's single-user server is spawned
 * by the hub (jupyterhub_config.py).
 *
 *   jlpm playwright test -c playwright-hub.config.js
 *
 * Ports: CODEINTERP_HUB_PORT (the hub's public port, default 8000) and
 * SCRIPTED_MODEL_PORT; the hub's internal ports are free ones it picks. The
 * hub's state (database, cookie secret, the users' homes) lives in a temporary
 * folder, removed when the hub stops.
 */
const path = require('path');
const fs = require('fs');
const os = require('os');
const common = require('./playwright-common');

const hubPort = Number(process.env.CODEINTERP_HUB_PORT || 8000);

// Made once by the runner; its workers inherit the variable (the spec reads the
// users' homes there) and the hub's config removes the folder when the hub exits.
if (!process.env.CODEINTERP_HUB_STATE) {
  process.env.CODEINTERP_HUB_STATE = fs.mkdtempSync(
    path.join(os.tmpdir(), 'codeinterp-hub-')
  );
}

// the hub's shared password and the model key the single-user servers get (the
// spec checks the key reaches the model and never the browser)
process.env.CODEINTERP_HUB_PASSWORD =
  process.env.CODEINTERP_HUB_PASSWORD || 'hub-test-password';
process.env.CODEINTERP_HUB_MODEL_KEY =
  process.env.CODEINTERP_HUB_MODEL_KEY ||
  `sk-hub-${require('crypto').randomBytes(12).toString('hex')}`;

module.exports = {
  testDir: './tests',
  testMatch: ['**/hub.spec.ts'],
  timeout: 240000,
  expect: { timeout: 30000 },
  workers: 1,
  // as playwright.config.js: a test that passes on its second run is listed as "flaky"
  retries: Number(process.env.PW_RETRIES ?? 1),
  outputDir: 'test-results/hub',
  reporter: common.reporters('playwright-report-hub'),
  use: {
    ...common.browserUse(),
    baseURL: `http://127.0.0.1:${hubPort}`,
    browserName: 'chromium',
    viewport: { width: 1280, height: 800 }
  },
  webServer: [
    common.scriptedModelServer(),
    {
      command: `${common.python} -m jupyterhub -f ${path.join(__dirname, 'jupyterhub_config.py')}`,
      cwd: process.env.CODEINTERP_HUB_STATE,
      url: `http://127.0.0.1:${hubPort}/hub/health`,
      timeout: 120000,
      // never someone else's hub: its users, state and model would not be ours
      reuseExistingServer: false,
      // SIGTERM lets the hub stop the users' servers (own sessions) and the proxy
      gracefulShutdown: { signal: 'SIGTERM', timeout: 30000 },
      env: {
        ...process.env,
        SCRIPTED_MODEL_PORT: String(common.modelPort),
        CODEINTERP_HUB_PORT: String(hubPort)
      }
    }
  ]
};
