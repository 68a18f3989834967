/**
 * "Fix this error" with a real model in the browser (tests/real-model-fix.spec.ts): opt-in,
 * not part of `jlpm test` (CI has no model). JupyterLab with the extension, pointed at the
 * OpenAI-compatible server in CODEINTERP_REAL_MODEL_URL (e.g. a llama-cpp-python server
 * started with `bash scripts/real-model.sh serve coder 8083`); no scripted model.
 *
 *   CODEINTERP_REAL_MODEL_URL=http://127.0.0.1:8083/v1 jlpm test:real-model
 *
 * CODEINTERP_REAL_MODEL_NAME names the model (default "local": llama-cpp-python's server
 * answers with the one model it serves). CODEINTERP_LAB_PORT moves JupyterLab (default 8888).
 * Without CODEINTERP_REAL_MODEL_URL the spec is skipped.
 */
const baseConfig = require('@jupyterlab/galata/lib/playwright-config');
const common = require('./playwright-common');

const modelUrl = process.env.CODEINTERP_REAL_MODEL_URL || '';
const modelName = process.env.CODEINTERP_REAL_MODEL_NAME || 'local';

// command-line options override the test config file's scripted-model settings
const labCommand = [
  `${common.python} -m jupyterlab`,
  `--config ${common.serverConfig}`,
  `--CodeInterp.base_url=${modelUrl}`,
  `--CodeInterp.model=${modelName}`,
  '--CodeInterp.api_key=none',
  // a small model on a few CPU cores reads a long prompt for minutes before its first token
  '--CodeInterp.request_timeout=600'
].join(' ');

module.exports = {
  ...baseConfig,
  testDir: './tests',
  testMatch: ['**/real-model-fix.spec.ts'],
  // one model call takes 30-120 s on two cores; a fix is two or three of them
  timeout: 15 * 60 * 1000,
  expect: { timeout: 30000 },
  workers: 1,
  // a real model's answer varies: a failure is reported, not retried away
  retries: 0,
  outputDir: 'test-results/real-model',
  reporter: common.reporters('playwright-report-real-model'),
  use: {
    ...baseConfig.use,
    ...common.browserUse({ screenshot: 'on' }),
    baseURL: `http://localhost:${common.serverPort}`,
    appPath: '/lab'
  },
  // nothing to start when the spec will skip
  webServer: modelUrl
    ? [
        {
          command: labCommand,
          url: `http://localhost:${common.serverPort}/lab`,
          timeout: 120000,
          // never a server pointed at another model
          reuseExistingServer: false,
          env: {
            ...process.env,
            CODEINTERP_LAB_PORT: String(common.serverPort)
          }
        }
      ]
    : []
};
