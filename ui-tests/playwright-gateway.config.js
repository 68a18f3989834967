/**
 * The extension with remote kernels (tests/gateway.spec.ts): a real Jupyter
 * Kernel Gateway (`python -m kernel_gateway`, with an auth token) and
 * JupyterLab started with `--gateway-url` pointing at it, so every kernel of
 * the notebook runs in the gateway's process tree and the server reaches it
 * only over the gateway's REST API and websocket. Plus the scripted model
 * server.
 *
 *   jlpm playwright test -c playwright-gateway.config.js
 *
 * Ports: CODEINTERP_LAB_PORT, SCRIPTED_MODEL_PORT and CODEINTERP_GATEWAY_PORT
 * (the gateway, default 8880), all on loopback.
 */
const path = require('path');
const fs = require('fs');
const os = require('os');
const baseConfig = require('@jupyterlab/galata/lib/playwright-config');
const common = require('./playwright-common');

const { python, serverPort } = common;
const gatewayPort = Number(process.env.CODEINTERP_GATEWAY_PORT || 8880);

// Made once by the runner; its workers inherit them (the spec asks the gateway
// for its kernels with the token).
process.env.CODEINTERP_GATEWAY_PORT = String(gatewayPort);
if (!process.env.CODEINTERP_GATEWAY_TOKEN) {
  process.env.CODEINTERP_GATEWAY_TOKEN = `gw-${require('crypto')
    .randomBytes(12)
    .toString('hex')}`;
}
const token = process.env.CODEINTERP_GATEWAY_TOKEN;
// the gateway starts its kernels in its own working folder, not next to the notebooks
if (!process.env.CODEINTERP_GATEWAY_DIR) {
  process.env.CODEINTERP_GATEWAY_DIR = fs.mkdtempSync(
    path.join(os.tmpdir(), 'codeinterp-gateway-')
  );
}
const gatewayUrl = `http://127.0.0.1:${gatewayPort}`;

module.exports = {
  ...baseConfig,
  testDir: './tests',
  testMatch: ['**/gateway.spec.ts'],
  timeout: 180000,
  expect: { timeout: 30000 },
  workers: 1,
  // as playwright.config.js: a test that passes on its second run is listed as "flaky"
  retries: Number(process.env.PW_RETRIES ?? 1),
  outputDir: 'test-results/gateway',
  reporter: common.reporters('playwright-report-gateway'),
  use: {
    ...baseConfig.use,
    ...common.browserUse(),
    baseURL: `http://localhost:${serverPort}`,
    appPath: '/lab'
  },
  webServer: [
    common.scriptedModelServer(),
    {
      command: [
        `${python} -m kernel_gateway`,
        '--KernelGatewayApp.ip=127.0.0.1',
        `--KernelGatewayApp.port=${gatewayPort}`,
        '--KernelGatewayApp.port_retries=0',
        `--KernelGatewayApp.auth_token=${token}`,
        // JupyterLab lists the running kernels through the server, which asks the gateway
        '--JupyterWebsocketPersonality.list_kernels=True'
      ].join(' '),
      cwd: process.env.CODEINTERP_GATEWAY_DIR,
      // answers 401 without the token: Playwright counts that as up
      url: `${gatewayUrl}/api/kernelspecs`,
      timeout: 60000,
      // never someone else's gateway: its token would not be ours
      reuseExistingServer: false
    },
    {
      command: [
        `${python} -m jupyterlab`,
        `--config ${common.serverConfig}`,
        `--gateway-url=${gatewayUrl}`,
        `--GatewayClient.auth_token=${token}`
      ].join(' '),
      url: `http://localhost:${serverPort}/lab`,
      timeout: 120000,
      reuseExistingServer: false,
      env: {
        ...process.env,
        SCRIPTED_MODEL_PORT: String(common.modelPort),
        CODEINTERP_LAB_PORT: String(serverPort)
      }
    }
  ]
};
