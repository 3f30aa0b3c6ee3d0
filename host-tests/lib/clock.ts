/*
 * The one hand-moved clock of the tests, for sans-IO components (anything with
 * nextDeadline() and tick(now), like coap/endpoint's Clocked): `now` is the number each
 * call is given; advance() runs the clock forward deadline by deadline, ticking the
 * component and letting promise jobs settle in between, so timed behaviour is tested
 * without waiting; skip() only moves it.
 */
export interface Ticking {
  nextDeadline(): number | undefined;
  tick(now: number): void;
}

/** Lets a few turns of promise jobs run (what resolved requests need to be acted on). */
export function settle(turns = 5): Promise<void> {
  let p = Promise.resolve();
  for (let i = 0; i < turns; i++) p = p.then(() => undefined);
  return p;
}

export class FakeClock {
  now: number;

  constructor(start = 0) {
    this.now = start;
  }

  /** Moves to now + ms, ticking `component` at each of its deadlines on the way (bounded). */
  async advance(component: Ticking, ms: number): Promise<void> {
    const end = this.now + ms;
    for (let i = 0; i < 10_000; i++) {
      await settle();
      const next = component.nextDeadline();
      if (next === undefined || next > end) break;
      this.now = Math.max(this.now, next);
      component.tick(this.now);
    }
    this.now = end;
    component.tick(this.now);
    await settle();
  }

  /** Moves to now + ms without ticking anything. */
  skip(ms: number): void {
    this.now += ms;
  }

  /** Ticks `component` at the current time if it is due (a timer firing); whether it was. */
  fire(component: Ticking): boolean {
    const next = component.nextDeadline();
    if (next === undefined || next > this.now) return false;
    component.tick(this.now);
    return true;
  }
}
