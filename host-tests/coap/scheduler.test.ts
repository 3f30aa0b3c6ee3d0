/*
 * DeadlineScheduler (coap/endpoint.ts): one timer at the earliest deadline of its
 * components; update(a, b) asks only a and b again, the others' last answers stand.
 */
import { DeadlineScheduler, type Clocked } from "coap/endpoint";
import { test, assert, sleep } from "../lib/harness";

class Component implements Clocked {
  due: number | undefined;
  asked = 0;
  ticks = 0;
  constructor(due?: number) {
    this.due = due;
  }
  nextDeadline(): number | undefined {
    this.asked++;
    return this.due;
  }
  tick(): void {
    this.ticks++;
    this.due = undefined;
  }
}

test("update(a) asks only a: a deadline that moved in b without an update naming b waits for update()", async () => {
  const scheduler = new DeadlineScheduler(() => 0);
  const a = new Component();
  const b = new Component();
  try {
    scheduler.add(a);
    scheduler.add(b);
    a.asked = b.asked = 0;
    b.due = 5;
    scheduler.update(a);
    assert.equal(a.asked, 1);
    assert.equal(b.asked, 0, "b is not asked");
    await sleep(40);
    assert.equal(b.ticks, 0, "no timer for a deadline nobody reported");
    scheduler.update(a, b);
    assert.equal(b.asked, 1);
    await sleep(40);
    assert.equal(b.ticks, 1, "b's deadline armed the timer once named");
    assert.equal(a.ticks, 1, "a tick reaches every component");
  } finally {
    scheduler.stop();
  }
});

test("update() asks every component; the earliest answer arms the timer; one that moved later only makes a tick that finds nothing", async () => {
  const scheduler = new DeadlineScheduler(() => 0);
  const early = new Component(10);
  const late = new Component(60_000);
  try {
    scheduler.add(late);
    scheduler.add(early);
    assert.equal(late.asked, 2, "add() asks everyone");
    early.due = 30_000; // moved later; the scheduler still holds 10
    scheduler.update(late);
    await sleep(50);
    assert.equal(early.ticks, 1, "ticked at the deadline the scheduler held");
    assert.equal(late.ticks, 1);
    scheduler.remove(early);
    late.due = 5;
    scheduler.update();
    await sleep(40);
    assert.equal(late.ticks, 2);
    assert.equal(early.ticks, 1, "a removed component is not ticked");
  } finally {
    scheduler.stop();
  }
});

test("update(a) only moves the timer earlier: a deadline that moved later costs one tick that finds nothing, then the timer waits for what is left", async () => {
  const scheduler = new DeadlineScheduler(() => 0);
  const a = new Component(20);
  a.tick = function (this: Component) {
    this.ticks++; // nothing is due before 60 s: the deadline stays
  };
  try {
    scheduler.add(a);
    a.due = 60_000;
    a.asked = 0;
    scheduler.update(a);
    assert.equal(a.asked, 1);
    await sleep(80);
    assert.equal(a.ticks, 1, "the timer armed for 20 ms still fired");
    assert.equal(a.asked, 2, "the update after the tick asked again");
    await sleep(80);
    assert.equal(a.ticks, 1, "armed for 60 s now, not again at once");
  } finally {
    scheduler.stop();
  }
});
