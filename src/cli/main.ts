#!/usr/bin/env node
// Entry point of the `dctrl` binary.
import { runCli } from './program.js';

await runCli(process.argv);
