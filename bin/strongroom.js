#!/usr/bin/env node
// Entry point for the `strongroom` command: runs the compiled CLI.
import "../dist/src/cli/main.js";
