#!/usr/bin/env node
/** The `keyhold` binary: the program of keyhold-program.ts on this process's argv, env and standard streams. */
import { processIo } from './cli-io.js';
import { runKeyhold } from './keyhold-program.js';

await runKeyhold(processIo());
