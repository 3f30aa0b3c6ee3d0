/*
 * The test harness of the simulator host: `test()` registers a case, the runner
 * (host-tests/runner.ts) imports each test file and runs its cases in order, each
 * with a timeout. Assertions throw `AssertionError`; a case passes when its body
 * returns (or its promise resolves) without throwing.
 *
 * Host-agnostic on purpose: it needs nothing but the Moddable `timer` module.
 */
import Timer from "timer";

export type TestBody = () => void | Promise<void>;

export interface TestOptions {
  /** milliseconds before the case fails as timed out (default 10 000) */
  timeout?: number;
  /** a reason: the case is reported as skipped, never as passed */
  skip?: string | false;
}

export interface TestCase {
  name: string;
  body: TestBody;
  timeout: number;
  skip?: string;
}

export const DEFAULT_TIMEOUT = 10_000;

const registered: TestCase[] = [];

export function test(name: string, body: TestBody, options: TestOptions = {}): void {
  registered.push({
    name,
    body,
    timeout: options.timeout ?? DEFAULT_TIMEOUT,
    skip: options.skip || undefined,
  });
}

/** Hands the cases registered since the last call to the runner. */
export function takeRegistered(): TestCase[] {
  return registered.splice(0, registered.length);
}

export class AssertionError extends Error {
  /** a class field, not an assignment: the SDK freezes Error.prototype, so `this.name = ...` throws there */
  override readonly name = "AssertionError";
  constructor(message: string) {
    super(message);
  }
}

function show(value: unknown): string {
  if (value instanceof ArrayBuffer) value = new Uint8Array(value);
  if (value instanceof Uint8Array) return `<${toHex(value)}>`;
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "bigint") return `${value}n`;
  try {
    const text = JSON.stringify(value);
    if (text !== undefined) return text;
  } catch {
    // cyclic or otherwise unprintable: fall through
  }
  return String(value);
}

export function toHex(bytes: Uint8Array | ArrayBuffer): string {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let out = "";
  for (let i = 0; i < view.length; i++) out += (view[i] < 16 ? "0" : "") + view[i].toString(16);
  return out;
}

export function fromHex(hex: string): Uint8Array {
  const clean = hex.replace(/\s+/g, "");
  if (clean.length % 2) throw new RangeError("odd hex length");
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) {
    const byte = parseInt(clean.slice(i * 2, i * 2 + 2), 16);
    if (Number.isNaN(byte)) throw new RangeError(`bad hex at ${i * 2}`);
    out[i] = byte;
  }
  return out;
}

function isEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (a instanceof ArrayBuffer) a = new Uint8Array(a);
  if (b instanceof ArrayBuffer) b = new Uint8Array(b);
  if (ArrayBuffer.isView(a) && ArrayBuffer.isView(b)) {
    const x = a as unknown as ArrayLike<unknown>;
    const y = b as unknown as ArrayLike<unknown>;
    if (x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (!Object.is(x[i], y[i])) return false;
    return true;
  }
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  if (a instanceof Map && b instanceof Map) {
    if (a.size !== b.size) return false;
    for (const [k, v] of a) if (!b.has(k) || !isEqual(v, b.get(k))) return false;
    return true;
  }
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (const k of ka) {
    if (!Object.prototype.hasOwnProperty.call(b, k)) return false;
    if (!isEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  }
  return true;
}

type ErrorMatcher = RegExp | (abstract new (...args: never[]) => Error) | ((e: unknown) => boolean);

function matches(error: unknown, expected: ErrorMatcher | undefined): boolean {
  if (expected === undefined) return true;
  if (expected instanceof RegExp) return expected.test(String((error as Error)?.message ?? error));
  if (expected.prototype instanceof Error || expected === Error) return error instanceof (expected as abstract new () => Error);
  return (expected as (e: unknown) => boolean)(error);
}

export interface Assert {
  ok(value: unknown, message?: string): asserts value;
  equal<T>(actual: T, expected: T, message?: string): void;
  notEqual<T>(actual: T, unexpected: T, message?: string): void;
  deepEqual(actual: unknown, expected: unknown, message?: string): void;
  match(actual: string, pattern: RegExp, message?: string): void;
  less(actual: number, bound: number, message?: string): void;
  atLeast(actual: number, bound: number, message?: string): void;
  throws(fn: () => unknown, expected?: ErrorMatcher, message?: string): unknown;
  rejects(promise: Promise<unknown> | (() => Promise<unknown>), expected?: ErrorMatcher, message?: string): Promise<unknown>;
  fail(message: string): never;
}

export const assert: Assert = {
  ok(value: unknown, message?: string): asserts value {
    if (!value) throw new AssertionError(message ?? `expected a truthy value, got ${show(value)}`);
  },
  equal<T>(actual: T, expected: T, message?: string): void {
    if (!Object.is(actual, expected))
      throw new AssertionError(`${message ? message + ": " : ""}expected ${show(expected)}, got ${show(actual)}`);
  },
  notEqual<T>(actual: T, unexpected: T, message?: string): void {
    if (Object.is(actual, unexpected))
      throw new AssertionError(`${message ? message + ": " : ""}expected anything but ${show(unexpected)}`);
  },
  deepEqual(actual: unknown, expected: unknown, message?: string): void {
    if (!isEqual(actual, expected))
      throw new AssertionError(`${message ? message + ": " : ""}expected ${show(expected)}, got ${show(actual)}`);
  },
  match(actual: string, pattern: RegExp, message?: string): void {
    if (!pattern.test(actual))
      throw new AssertionError(`${message ? message + ": " : ""}expected ${show(actual)} to match ${pattern}`);
  },
  less(actual: number, bound: number, message?: string): void {
    if (!(actual < bound))
      throw new AssertionError(`${message ? message + ": " : ""}expected < ${bound}, got ${actual}`);
  },
  atLeast(actual: number, bound: number, message?: string): void {
    if (!(actual >= bound))
      throw new AssertionError(`${message ? message + ": " : ""}expected >= ${bound}, got ${actual}`);
  },
  throws(fn: () => unknown, expected?: ErrorMatcher, message?: string): unknown {
    try {
      fn();
    } catch (error) {
      if (!matches(error, expected))
        throw new AssertionError(`${message ? message + ": " : ""}unexpected error ${show(String(error))}`);
      return error;
    }
    throw new AssertionError(message ?? "expected an exception, none was thrown");
  },
  async rejects(promise: Promise<unknown> | (() => Promise<unknown>), expected?: ErrorMatcher, message?: string): Promise<unknown> {
    try {
      await (typeof promise === "function" ? promise() : promise);
    } catch (error) {
      if (!matches(error, expected))
        throw new AssertionError(`${message ? message + ": " : ""}unexpected rejection ${show(String(error))}`);
      return error;
    }
    throw new AssertionError(message ?? "expected a rejection, the promise resolved");
  },
  fail(message: string): never {
    throw new AssertionError(message);
  },
};

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => Timer.set(() => resolve(), ms));
}

/** Polls `predicate` every `interval` ms until it holds; rejects after `timeout` ms. */
export async function waitFor(predicate: () => boolean, timeout = 5000, what = "condition", interval = 10): Promise<void> {
  const start = Date.now();
  while (!predicate()) {
    if (Date.now() - start > timeout) throw new AssertionError(`timed out after ${timeout} ms waiting for ${what}`);
    await sleep(interval);
  }
}

/** A small seeded PRNG (mulberry32) so property and fuzz tests can print and replay their seed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
