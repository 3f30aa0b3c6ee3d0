/*
 * PSK credentials from configuration (mc/config: certs/manifest.json, or mcconfig KEY=VALUE):
 * `{ "identity": "CoAP", "key": "esp32c3_key" }` with the key as the raw ASCII bytes
 * libcoap's `-k` sends, or `"keyHex"` for a binary key. The key is never logged.
 */
export const DEFAULT_IDENTITY = "CoAP";
export const DEFAULT_KEY = "esp32c3_key";

export interface PskConfig {
  identity?: string;
  key?: string;
  keyHex?: string;
}

export interface PskCredentials {
  identity: string;
  key: Uint8Array;
}

export function pskFromConfig(config: PskConfig = {}): PskCredentials {
  const identity = config.identity ?? DEFAULT_IDENTITY;
  if (identity.length === 0 || identity.length > 64) throw new RangeError("psk identity must be 1..64 characters");
  let key: Uint8Array;
  if (config.keyHex !== undefined) {
    const hex = config.keyHex;
    if (!/^([0-9a-fA-F]{2})+$/.test(hex)) throw new RangeError("psk keyHex must be an even number of hex digits");
    key = new Uint8Array(hex.length / 2);
    for (let i = 0; i < key.length; i++) key[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  } else key = new Uint8Array(ArrayBuffer.fromString(config.key ?? DEFAULT_KEY));
  if (key.length === 0 || key.length > 32) throw new RangeError("psk key must be 1..32 bytes"); // never echo the key
  return { identity, key };
}
