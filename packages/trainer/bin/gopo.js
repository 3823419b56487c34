#!/usr/bin/env node
// The published entry point runs the compiled CLI (`pnpm build` first in a source checkout).
import '../dist/bin.js';
