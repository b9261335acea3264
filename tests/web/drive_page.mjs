// Drives the wasmemu page in Debian's headless Chromium through playwright-core (never a
// downloaded browser): waits for the guest's shell, types commands, saves a screenshot and
// prints what the terminal shows as JSON on stdout.
//
//   node drive_page.mjs [--profile DIR] [--until-cache-saved] URL SCREENSHOT TIMEOUT_S [COMMAND...]
// Each COMMAND is typed once the shell prompt is back; the last may power the guest off.
// --profile keeps the browser's data (IndexedDB) in DIR, so a second run is a second visit;
// --until-cache-saved waits after the commands until the page has saved its translation cache.

import { createRequire } from 'node:module';

const require = createRequire(new URL('../../packaging/node/package.json', import.meta.url));
const { chromium } = require('playwright-core');

const args = process.argv.slice(2);
const options = { profile: null, untilCacheSaved: false };
while (args[0]?.startsWith('--')) {
  const option = args.shift();
  if (option === '--profile') options.profile = args.shift();
  else if (option === '--until-cache-saved') options.untilCacheSaved = true;
  else throw new Error(`unknown option ${option}`);
}
const [url, screenshot, timeoutText, ...commands] = args;
const deadline = Date.now() + Number(timeoutText) * 1000;
const PROMPT = '~ # ';
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

// Chromium's own network chatter is refused on these machines; keep it quiet.
const launch = {
  executablePath: CHROMIUM,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
};
const VIEWPORT = { width: 1100, height: 750 };
const browser = options.profile
  ? await chromium.launchPersistentContext(options.profile, { ...launch, viewport: VIEWPORT })
  : await chromium.launch(launch);
const result = {
  status: null, failed: false, exitStatus: null, screen: '', isolated: null, cache: null, stats: null,
  promptSeconds: null, // from opening the page to the first shell prompt: reported, never asserted
};
const consoleLines = [];
try {
  const page = options.profile
    ? await browser.newPage() // a persistent context takes its viewport at launch
    : await browser.newPage({ viewport: VIEWPORT });
  page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`));
  const opened = Date.now();
  await page.goto(url);
  const screen = () => page.evaluate(() => {
    const buf = window.wasmemu.terminal.buffer.active;
    const lines = [];
    for (let i = 0; i < buf.length; i++) lines.push(buf.getLine(i).translateToString(true));
    return lines.join('\n');
  });
  const state = () => page.evaluate(() => ({
    status: window.wasmemu.status, failed: window.wasmemu.failed,
    exitStatus: window.wasmemu.exitStatus, isolated: globalThis.crossOriginIsolated,
    cache: window.wasmemu.cache, stats: window.wasmemu.stats,
  }));
  const prompts = async () => (await screen()).split(PROMPT).length - 1;
  const waitFor = async (done) => {
    while (Date.now() < deadline) {
      const s = await state();
      if (s.failed || s.exitStatus !== null || (await done())) return;
      await page.waitForTimeout(250);
    }
    throw new Error('timed out');
  };
  try {
    await waitFor(async () => (await prompts()) >= 1);
    result.promptSeconds = (Date.now() - opened) / 1000;
    for (const command of commands) {
      const before = await prompts();
      await page.click('#terminal');
      await page.keyboard.type(command);
      await page.keyboard.press('Enter');
      await waitFor(async () => (await prompts()) > before);
    }
    if (options.untilCacheSaved) await waitFor(async () => (await state()).cache.saves > 0);
  } catch (e) {
    result.error = e.message;
  }
  Object.assign(result, await state());
  result.screen = await screen();
  await page.screenshot({ path: screenshot });
} finally {
  await browser.close();
}
result.console = consoleLines.slice(-40);
process.stdout.write(JSON.stringify(result));
