#!/usr/bin/env node
// The `lathe` executable: runs the compiled CLI (build first with `pnpm build` or `pnpm tsc -b cli`).
import process from 'node:process';
import { main } from '../dist/src/main.js';

process.exitCode = await main(process.argv.slice(2));
