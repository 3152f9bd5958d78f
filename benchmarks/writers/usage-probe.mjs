// Preloaded into a CLI process (`node --import ./usage-probe.mjs dist/src/cli/main.js ...`): when the
// process exits, writes its CPU time (every thread), its main thread's CPU time and its peak RSS as
// JSON to the file named by ZDE_USAGE_FILE.
import { readFileSync, writeFileSync } from 'node:fs';

const file = process.env.ZDE_USAGE_FILE;
if (file) {
  process.on('exit', () => {
    const cpu = process.cpuUsage();
    let mainNs = 0;
    try {
      mainNs = Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // not Linux
    }
    writeFileSync(file, JSON.stringify({ userUs: cpu.user, systemUs: cpu.system, mainUs: mainNs / 1000, maxRssKb: process.resourceUsage().maxRSS }));
  });
}
