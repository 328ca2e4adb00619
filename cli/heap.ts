// Imported first by `labq`: V8 grows its old space far beyond what a process keeps alive
// before it collects it (the default factor lets the heap double and more between full
// collections). The server's bulk submits and sweeps leave tens of MiB of short-lived
// garbage behind each slice, and its resident memory peaked at 240–290 MiB while it kept
// about 130 MiB alive. A growth of 30 % keeps the peak near what is alive (150 MiB over the
// same million-task fill) at no cost to the submit rate measured (docs/performance.md); the
// worker, whose every fork costs in proportion to its memory, gains the same. The factor is
// read at each collection, so setting it now, before anything large is allocated, holds for
// the whole process.
import { setFlagsFromString } from 'node:v8';

setFlagsFromString('--heap-growing-percent=30');
