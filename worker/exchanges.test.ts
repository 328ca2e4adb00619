// The worker's exchanges as requests, against calls held open by the test: an exchange given
// up on is not hung up, the next one names it until one is answered, at most one is left to
// its answer, and a cut short (before the daemon registers again) hangs it up and forgets it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Exchanges, GIVEN_UP } from './exchanges.js';

/** A call the test answers by hand; it records the signal that ends it and what it was told it gave up on. */
function heldCall() {
  let answer!: (value: string) => void;
  const seen: { signal?: AbortSignal; gaveUp?: number | undefined } = {};
  const call = (signal: AbortSignal, gaveUp: number | undefined) => {
    seen.signal = signal;
    seen.gaveUp = gaveUp;
    return new Promise<string>((resolve, reject) => {
      answer = resolve;
      signal.addEventListener('abort', () => reject(signal.reason), { once: true });
    });
  };
  return { call, seen, answer: (value: string) => answer(value) };
}

const HOUR = 3_600_000;

/** Sends exchange `seq` and gives up on it at once, as news does while it is parked; returns its call, unanswered. */
async function sendAndGiveUp(exchanges: Exchanges, seq: number, stopping: AbortSignal) {
  const held = heldCall();
  const news = new AbortController();
  const sent = exchanges.send(seq, held.call, HOUR, stopping, news.signal);
  news.abort();
  assert.equal(await sent, GIVEN_UP);
  return held;
}

test('an exchange given up on is left to its answer, named by the next until one is answered; an older one is hung up', async () => {
  const exchanges = new Exchanges();
  const stopping = new AbortController();

  const first = await sendAndGiveUp(exchanges, 1, stopping.signal);
  assert.equal(first.seen.signal!.aborted, false, 'given up on without hanging up: its connection goes back to the pool');
  assert.equal(first.seen.gaveUp, undefined);

  const second = heldCall();
  const news2 = new AbortController();
  const sent2 = exchanges.send(2, second.call, HOUR, stopping.signal, news2.signal);
  assert.equal(second.seen.gaveUp, 1, 'the next exchange names the one given up on');
  news2.abort();
  assert.equal(await sent2, GIVEN_UP);
  assert.equal(first.seen.signal!.aborted, true, 'a second one given up on hangs up the first, still unanswered');
  assert.equal(second.seen.signal!.aborted, false);

  const third = heldCall();
  const sent3 = exchanges.send(3, third.call, HOUR, stopping.signal, new AbortController().signal);
  assert.equal(third.seen.gaveUp, 2);
  third.answer('three');
  assert.equal(await sent3, 'three');

  const fourth = heldCall();
  const sent4 = exchanges.send(4, fourth.call, HOUR, stopping.signal, new AbortController().signal);
  assert.equal(fourth.seen.gaveUp, undefined, 'once an answered exchange said it, it is not said again');
  fourth.answer('four');
  assert.equal(await sent4, 'four');
  assert.equal(second.seen.signal!.aborted, false, 'the one given up on is still left to its answer');
  second.answer('late');
});

test('cut short, the exchange left to its answer is hung up and no longer named', async () => {
  const exchanges = new Exchanges();
  const stopping = new AbortController();
  const parked = await sendAndGiveUp(exchanges, 7, stopping.signal);

  // As before registering again: polls are numbered from 1 once more.
  exchanges.cutShort();
  assert.equal(parked.seen.signal!.aborted, true, 'hung up: numbered higher, it would pass for the newest at the server');
  const next = heldCall();
  const sentNext = exchanges.send(1, next.call, HOUR, stopping.signal, new AbortController().signal);
  assert.equal(next.seen.gaveUp, undefined, 'a number of the registration before is not said');
  next.answer('fresh');
  assert.equal(await sentNext, 'fresh');
});

test('an exchange is cut short when the worker stops, and after its time without an answer', async () => {
  const exchanges = new Exchanges();
  const stopping = new AbortController();
  const held = heldCall();
  const sent = exchanges.send(1, held.call, HOUR, stopping.signal, new AbortController().signal);
  stopping.abort();
  await assert.rejects(sent);
  assert.equal(held.seen.signal!.aborted, true);

  // The deadline's timer does not hold the process open by itself, as a request's would.
  const open = setTimeout(() => undefined, 60_000);
  const dark = heldCall();
  await assert.rejects(exchanges.send(2, dark.call, 50, new AbortController().signal, new AbortController().signal), { name: 'TimeoutError' });
  clearTimeout(open);
});
