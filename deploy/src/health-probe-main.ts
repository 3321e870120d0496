#!/usr/bin/env node
// The images' health check: `lathe-health-probe [flags]`, exit 0 when the service says SERVING.
import { runProbe } from './run-probe.js';

process.exitCode = await runProbe(process.argv.slice(2), process.env, (line) => {
  process.stdout.write(`${line}\n`);
});
