// The figures of transfers on a worker: totals per execution and phase, sent only when they
// changed and at most once per interval, again after an exchange that failed, never once
// the phase is over; and whether a transfer moves (the daemon then shortens its exchanges).
// The clock is the board's own, moved by the test: what is checked is the rule, not timing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PROGRESS_INTERVAL_MS } from '../shared/schemas/execution.js';
import { ProgressBoard, QUIET_AFTER_MS } from './progress.js';

function board() {
  let now = 1_000_000;
  const b = new ProgressBoard(() => now);
  return { b, tick: (ms: number) => (now += ms) };
}

test('a phase counts what is expected and what moved; its figures go out once per change', () => {
  const { b, tick } = board();
  const download = b.phase(7, 'downloading');
  download.begin();
  assert.deepEqual(b.take(), [], 'nothing known yet: nothing to say');
  download.expect(100);
  download.expect(50);
  download.add(30);
  assert.equal(download.total, 150);
  assert.equal(download.done, 30);
  assert.deepEqual(b.take(), [{ execution_id: 7, phase: 'downloading', bytes_done: 30, bytes_total: 150 }]);
  tick(PROGRESS_INTERVAL_MS * 3);
  assert.deepEqual(b.take(), [], 'unchanged figures are not sent again');
  download.add(0);
  download.expect(-5);
  assert.deepEqual(b.take(), [], 'nothing moved');
  download.add(120);
  assert.deepEqual(b.take(), [{ execution_id: 7, phase: 'downloading', bytes_done: 150, bytes_total: 150 }]);
});

test('bytes of a failed attempt are taken back, never below zero', () => {
  const { b, tick } = board();
  const download = b.phase(8, 'downloading');
  download.begin();
  download.expect(100);
  download.add(60);
  download.add(-60);
  download.add(-5);
  assert.deepEqual(b.take(), [{ execution_id: 8, phase: 'downloading', bytes_done: 0, bytes_total: 100 }]);
  tick(PROGRESS_INTERVAL_MS);
  download.add(100);
  assert.deepEqual(b.take(), [{ execution_id: 8, phase: 'downloading', bytes_done: 100, bytes_total: 100 }]);
});

test('the total is never below what moved, when a transfer did not announce its size', () => {
  const { b } = board();
  const upload = b.phase(3, 'uploading');
  upload.begin();
  upload.add(40);
  assert.deepEqual(b.take(), [{ execution_id: 3, phase: 'uploading', bytes_done: 40, bytes_total: 40 }]);
});

test('each execution sends at most once per interval: a change within it waits, then goes with the latest figures', () => {
  const { b, tick } = board();
  const one = b.phase(1, 'downloading');
  const two = b.phase(2, 'downloading');
  one.begin();
  two.begin();
  one.add(10);
  assert.deepEqual(b.take().map((f) => f.execution_id), [1]);
  tick(PROGRESS_INTERVAL_MS / 2);
  one.add(10);
  two.add(5);
  assert.deepEqual(b.take().map((f) => [f.execution_id, f.bytes_done]), [[2, 5]], 'execution 1 sent half an interval ago');
  one.add(10);
  tick(PROGRESS_INTERVAL_MS / 2);
  assert.deepEqual(b.take().map((f) => [f.execution_id, f.bytes_done]), [[1, 30]], 'its latest figures, once the interval has passed');
});

test('figures of an exchange that failed go out with the next one', () => {
  const { b, tick } = board();
  const download = b.phase(5, 'downloading');
  download.begin();
  download.add(10);
  const lost = b.take();
  assert.equal(lost.length, 1);
  tick(1);
  b.unsent(lost);
  assert.deepEqual(b.take(), lost, 'sent again at once, not an interval later');
});

test('a phase that is over (or not begun) sends nothing, and the next phase counts from zero', () => {
  const { b, tick } = board();
  const download = b.phase(9, 'downloading');
  const upload = b.phase(9, 'uploading');
  download.add(10);
  assert.deepEqual(b.take(), [], 'not begun');
  download.begin();
  assert.equal(b.take().length, 1);
  download.end();
  tick(PROGRESS_INTERVAL_MS);
  download.add(10);
  assert.deepEqual(b.take(), [], 'over');
  upload.begin();
  upload.expect(70);
  assert.deepEqual(b.take(), [{ execution_id: 9, phase: 'uploading', bytes_done: 0, bytes_total: 70 }]);
  upload.end();
  assert.equal(b.active.size, 0);
});

test('a transfer moves from its start until it has been quiet for a while', () => {
  const { b, tick } = board();
  assert.equal(b.moving(), false, 'no transfer');
  const download = b.phase(4, 'downloading');
  download.begin();
  assert.equal(b.moving(), true, 'a transfer that just began has not proved quiet');
  tick(QUIET_AFTER_MS);
  assert.equal(b.moving(), false, 'stalled');
  download.add(1);
  assert.equal(b.moving(), true);
  download.end();
  assert.equal(b.moving(), false, 'over');
});
