/**
 * Galata/Playwright configuration: headless Debian Chromium, a real Jupyter
 * server with the extension, and the scripted OpenAI-compatible model server
 * from tests/scripted_model.py (shared settings: playwright-common.js).
 */
const baseConfig = require('@jupyterlab/galata/lib/playwright-config');
const common = require('./playwright-common');

// JupyterHub-style prefix, e.g. "/user/alice/" (tests/base_url.spec.ts).
const baseUrl = process.env.CODEINTERP_BASE_URL || '/';

module.exports = {
  ...baseConfig,
  timeout: 120000,
  expect: { timeout: 20000 },
  workers: 1,
  // A test that fails once is run again and, if it then passes, reported as "flaky" in
  // the list output, so a timing hiccup on a loaded 2-core box does not fail the whole
  // run while a real break still does (PW_RETRIES=0 for none).
  retries: Number(process.env.PW_RETRIES ?? 1),
  outputDir: 'test-results',
  // need their own servers: playwright-hub.config.js (a prefix behind JupyterHub),
  // playwright-gateway.config.js (kernels behind a Kernel Gateway) and
  // playwright-real-model.config.js (a real model, opt-in) run them
  testIgnore: [
    '**/hub.spec.ts',
    '**/gateway.spec.ts',
    '**/real-model-fix.spec.ts'
  ],
  reporter: common.reporters('playwright-report'),
  use: {
    ...baseConfig.use,
    ...common.browserUse({ screenshot: 'on' }),
    baseURL: `http://localhost:${common.serverPort}${baseUrl}`.replace(
      /\/$/,
      ''
    ),
    appPath: '/lab'
  },
  webServer: [
    common.scriptedModelServer(),
    {
      command: `${common.python} -m jupyterlab --config ${common.serverConfig}`,
      url: `http://localhost:${common.serverPort}${baseUrl}lab`,
      timeout: 120000,
      reuseExistingServer: !process.env.CI,
      env: {
        ...process.env,
        SCRIPTED_MODEL_PORT: String(common.modelPort),
        CODEINTERP_LAB_PORT: String(common.serverPort),
        CODEINTERP_BASE_URL: baseUrl
      }
    }
  ]
};
