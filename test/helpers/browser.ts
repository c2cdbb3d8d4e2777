// Real headless Chromium for the dashboard tests: the Debian package (installed by .ci/run), driven by
// playwright-core. Never a downloaded browser.
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** Why the browser tests cannot run here, or false when they can: the reason a skipped test prints. */
export const browserSkip: string | false = existsSync(CHROMIUM)
  ? false
  : `${CHROMIUM} is missing (Debian package chromium; .ci/run installs it)`;

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Chromium refuses to start its sandbox as root, which is how CI containers run.
    args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
  });
}
