/*
 * A hand-moved clock for sans-IO components (anything with nextDeadline() and tick(),
 * like coap/endpoint's Clocked): advance() runs the clock forward deadline by deadline,
 * letting promise jobs settle in between, so timed behaviour is tested without waiting.
 */
export interface Ticking {
  nextDeadline(): number | undefined;
  tick(): void;
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
      component.tick();
    }
    this.now = end;
    component.tick();
    await settle();
  }
}
