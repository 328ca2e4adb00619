// The run timeout's timer: it does not fire while paused (a suspended task), fires once
// resumed, and never after it was cleared.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { until } from '../e2e/support/worker.js';
import { PausableTimer } from './pausableTimer.js';

test('a paused timer does not fire until resumed; a cleared one never does', async () => {
  let fired = 0;
  const timer = new PausableTimer(50, () => fired++);
  timer.pause();
  // Four times its time, paused: it must not have fired.
  await sleep(200);
  assert.equal(fired, 0);
  timer.resume();
  timer.resume();
  await until('it to fire', async () => fired > 0);
  timer.resume();
  await sleep(100);
  assert.equal(fired, 1, 'once only, whatever is asked of it afterwards');

  let cleared = 0;
  const never = new PausableTimer(20, () => cleared++);
  never.clear();
  never.resume();
  await sleep(100);
  assert.equal(cleared, 0);
});
