/*
 * The light: its state, the commands that change it, and the /light CoAP resource.
 * State changes are persisted through an injected store BEFORE the output changes
 * and before the PUT is acknowledged, so a reset right after a 2.04 never loses the
 * change; the output (a GPIO or a NeoPixel) is injected too, so this file is pure.
 *
 * CoAP side: RFC 7252 sec 5.8.1 (GET: 2.05), 5.8.3 (PUT: 2.04), 5.10.3/5.10.4
 * (Content-Format and Accept: text/plain or application/json), RFC 7641 (the
 * resource is observable: every change notifies).
 */
import { Code, ContentFormat } from "coap/numbers";
import type { CoapRequest, CoapResponse, Resource } from "coap/resource";

export interface LightOutput {
  set(on: boolean): void;
}

/** What `light/output`'s createLightOutput() builds (the esp32 build maps that module to esp32/output.ts). */
export interface LightOutputSettings {
  /** "digital" (a GPIO), or "neopixel" (esp32 build only) */
  kind: string;
  pin: number;
  /** for "digital": on = low */
  activeLow: boolean;
}

export interface LightStore {
  load(): boolean | undefined;
  /** must be durable when it returns (it throws when it could not write) */
  save(on: boolean): void;
}

/** What a PUT payload asks for, or why it cannot be understood. */
export type LightCommand = { on: boolean } | { toggle: true } | { error: string };

/*
 * A Map, not an object: XS interns every string used as a property name for the
 * life of the machine, so looking up untrusted payloads as properties (or giving
 * them to JSON.parse) would grow the heap with every distinct payload.
 */
const WORDS = new Map<string, LightCommand>([
  ["0", { on: false }],
  ["1", { on: true }],
  ["off", { on: false }],
  ["on", { on: true }],
  ["false", { on: false }],
  ["true", { on: true }],
  ["toggle", { toggle: true }],
]);

/** JSON's whitespace (RFC 8259 sec 2) */
function isJsonSpace(c: string): boolean {
  return c === " " || c === "\t" || c === "\n" || c === "\r";
}

/**
 * {"on": true|false}, or a bare true/false/0/1: the value, or undefined. Read token by
 * token, without JSON.parse (see WORDS) and without a RegExp: on the device a preloaded
 * RegExp leaks system heap each time it runs (coap/utf8.ts).
 */
function jsonCommand(text: string): string | undefined {
  let at = 0;
  const space = () => {
    while (at < text.length && isJsonSpace(text[at])) at++;
  };
  const take = (token: string) => {
    if (!text.startsWith(token, at)) return false;
    at += token.length;
    return true;
  };
  const value = () => (take("true") ? "true" : take("false") ? "false" : undefined);
  space();
  let result: string | undefined;
  if (take("{")) {
    space();
    if (!take('"on"')) return undefined;
    space();
    if (!take(":")) return undefined;
    space();
    result = value();
    space();
    if (result === undefined || !take("}")) return undefined;
  } else result = value() ?? (take("0") ? "0" : take("1") ? "1" : undefined);
  space();
  return at === text.length ? result : undefined;
}

export function parseCommand(text: string | undefined, contentFormat?: number): LightCommand {
  if (text === undefined) return { error: "payload is not UTF-8 text" };
  if (contentFormat === ContentFormat.JSON) {
    const value = jsonCommand(text);
    if (value === undefined) return { error: 'expected JSON {"on":true|false}' };
    return { on: value === "true" || value === "1" };
  }
  const word = text.trim().toLowerCase();
  if (word === "") return { error: 'empty payload: expected "0", "1", "on", "off" or "toggle"' };
  return WORDS.get(word) ?? { error: `unknown command "${word.slice(0, 16)}": expected "0", "1", "on", "off" or "toggle"` };
}

export class Light {
  #on: boolean;
  readonly #output: LightOutput;
  readonly #store: LightStore;
  readonly #listeners: ((on: boolean) => void)[] = [];

  constructor(output: LightOutput, store: LightStore) {
    this.#output = output;
    this.#store = store;
    this.#on = store.load() ?? false;
    output.set(this.#on);
  }

  get on(): boolean {
    return this.#on;
  }

  /** Persists, then drives the output, then tells listeners. Throws if it could not persist (nothing changed then). */
  set(on: boolean): void {
    if (on === this.#on) return;
    this.#store.save(on);
    this.#on = on;
    this.#output.set(on);
    for (const listener of this.#listeners) listener(on);
  }

  onChange(listener: (on: boolean) => void): void {
    this.#listeners.push(listener);
  }
}

/* the four answers a GET can get, made once: frozen, the server matches one to its encoded bytes in one step */
const TEXT_ON: CoapResponse = Object.freeze({ payload: "1", contentFormat: ContentFormat.TEXT_PLAIN });
const TEXT_OFF: CoapResponse = Object.freeze({ payload: "0", contentFormat: ContentFormat.TEXT_PLAIN });
const JSON_ON: CoapResponse = Object.freeze({ payload: JSON.stringify({ on: true }), contentFormat: ContentFormat.JSON });
const JSON_OFF: CoapResponse = Object.freeze({ payload: JSON.stringify({ on: false }), contentFormat: ContentFormat.JSON });

function represent(light: Light, request: CoapRequest): CoapResponse {
  if (request.accept === ContentFormat.JSON) return light.on ? JSON_ON : JSON_OFF;
  return light.on ? TEXT_ON : TEXT_OFF;
}

/** The /light resource: GET (text or JSON), PUT (0/1/on/off/toggle or JSON), observable. */
export function lightResource(light: Light, log: (message: string) => void = () => {}): Resource {
  return {
    rt: "light",
    if: "core.a",
    ct: [ContentFormat.TEXT_PLAIN, ContentFormat.JSON],
    observable: true,
    produces: [ContentFormat.TEXT_PLAIN, ContentFormat.JSON],
    accepts: [ContentFormat.TEXT_PLAIN, ContentFormat.JSON],
    get: (request) => represent(light, request),
    put: (request) => {
      const command = parseCommand(request.text(), request.contentFormat);
      if ("error" in command) return { code: Code.BAD_REQUEST, payload: command.error };
      const on = "toggle" in command ? !light.on : command.on;
      try {
        light.set(on);
      } catch (error) {
        log(`light: could not persist the new state: ${String(error)}`);
        return { code: Code.INTERNAL_SERVER_ERROR, payload: "could not persist the state" };
      }
      return { code: Code.CHANGED };
    },
  };
}
