/*
 * `preference` for the simulator host, with the limits of the esp32 NVS build so a
 * test fails where the device would: domain and key at most 15 characters, strings
 * and buffers at most 4000 bytes, booleans read back as booleans, integers are
 * 32-bit, floats throw. Stored as one JSON file in the --data folder, rewritten
 * atomically on every change (a kill -9 leaves the old or the new file, never a
 * torn one). Without --data the values live in memory only.
 */
import { dataDirectory, readFile, writeFileAtomic } from "host/runtime";

const NAME_MAX = 15;
const VALUE_MAX = 4000;

/*
 * Read on first use, not when the module loads (it is preloaded, as on the device,
 * where the SDK reads NVS at run time). A file that is not a JSON object of domains
 * (truncated, garbage, null, an array) stands for NVS entries that fail their CRC,
 * which NVS skips: every value reads as absent, the store says so once, and the next
 * set() rewrites the file. (A partition NVS cannot initialise at all stops the SDK's
 * start-up, ESP_ERROR_CHECK(nvs_flash_init()) in its main.c: no app code runs then.)
 */
let store;
function loaded() {
	if (store)
		return store;
	store = {};
	const folder = dataDirectory();
	const text = folder ? readFile(`${folder}/preferences.json`) : undefined;
	if (text === undefined)
		return store;
	let parsed, problem;
	try {
		parsed = JSON.parse(text);
	}
	catch (error) {
		problem = String(error.message);
	}
	const object = (value) => (typeof value === "object") && (value !== null) && !Array.isArray(value);
	if ((problem === undefined) && object(parsed) && Object.values(parsed).every(object)) {
		for (const domain of Object.keys(parsed))
			store[domain] = Object.assign(Object.create(null), parsed[domain]);
	}
	else
		trace(`preference: ${folder}/preferences.json is not a store of domains (${problem ?? JSON.stringify(parsed).slice(0, 40)}): every value reads as absent until the next set() rewrites it\n`);
	return store;
}

function checkName(what, name) {
	if (typeof name !== "string")
		throw new TypeError(`${what} must be a string`);
	if (name.length === 0 || name.length > NAME_MAX)
		throw new RangeError(`${what} "${name}" longer than ${NAME_MAX} characters (NVS limit)`);
}

function hex(buffer) {
	const bytes = new Uint8Array(buffer);
	let out = "";
	for (let i = 0; i < bytes.length; i++)
		out += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16);
	return out;
}

function unhex(text) {
	const bytes = new Uint8Array(text.length / 2);
	for (let i = 0; i < bytes.length; i++)
		bytes[i] = parseInt(text.slice(i * 2, i * 2 + 2), 16);
	return bytes.buffer;
}

function encode(value) {
	switch (typeof value) {
	case "boolean":
		return { t: "b", v: value };
	case "number":
		if (!Number.isInteger(value))
			throw new Error("float unsupported");
		if (value < -2147483648 || value > 2147483647)
			throw new RangeError("integer out of 32-bit range");
		return { t: "i", v: value };
	case "string":
		if (ArrayBuffer.fromString(value).byteLength + 1 > VALUE_MAX)
			throw new RangeError(`string longer than ${VALUE_MAX} bytes (NVS limit)`);
		return { t: "s", v: value };
	default:
		if (value instanceof ArrayBuffer) {
			if (value.byteLength > VALUE_MAX)
				throw new RangeError(`buffer longer than ${VALUE_MAX} bytes (NVS limit)`);
			return { t: "a", v: hex(value) };
		}
		throw new Error("unsupported type");
	}
}

function save() {
	const folder = dataDirectory();
	if (folder)
		writeFileAtomic(`${folder}/preferences.json`, JSON.stringify(loaded()));
}

class Preference {
	static set(domain, key, value) {
		checkName("domain", domain);
		checkName("key", key);
		const entry = encode(value);
		(loaded()[domain] ??= Object.create(null))[key] = entry;
		save();
	}
	static get(domain, key) {
		checkName("domain", domain);
		checkName("key", key);
		const entry = loaded()[domain]?.[key];
		if (!entry)
			return undefined;
		/* an entry of another shape reads as the value it holds, as NVS returns whatever type was stored */
		return (entry.t === "a") ? unhex(entry.v) : entry.v;
	}
	static delete(domain, key) {
		checkName("domain", domain);
		checkName("key", key);
		if (loaded()[domain]?.[key] === undefined)
			return;
		delete loaded()[domain][key];
		save();
	}
	static keys(domain) {
		checkName("domain", domain);
		return Object.keys(loaded()[domain] ?? {});
	}
}
Object.freeze(Preference);
export default Preference;
