#!/usr/bin/env node
/*
 * Checks manifest.json the way the Moddable SDK's mcconfig (8.2.3) reads it, without
 * the SDK, and computes the `mc/config` object a build would get.
 *
 *   node host-tests/manifest.mjs --check [--root DIR] [--sdk DIR | --sdk-git GITDIR]
 *       prints every problem and exits 1 if there is any, else prints one OK line
 *   node host-tests/manifest.mjs --config PLATFORM [--board NAME] [key=value ...] [--root DIR]
 *   node host-tests/manifest.mjs --preloads PLATFORM [--board NAME] [--root DIR]
 *       prints configFor(root, PLATFORM, overrides) as JSON (key=value as on mcconfig's command line;
 *       --board as COAP_BOARD=NAME in mcconfig's environment)
 *
 * `--sdk DIR` (an SDK work tree) or `--sdk-git GITDIR` (a bare mirror, read with
 * `git ls-tree`) also checks the $(MODDABLE)/$(MODULES) paths; that is for use by
 * hand, the tests run without an SDK.
 *
 * What mcconfig does, and so what is checked here (tools/mcmanifest.js):
 * - A module entry without extension takes every file of that name (.ts, .js, .c,
 *   .d.ts, .h, .json...); "name*" takes every file starting with name. A .ts and a .js
 *   of one name both become the same module: an error here.
 * - An entry that matches no file only prints "# warning: no modules match" and the
 *   build goes on without it: an error here. A missing folder is an error there too.
 * - An entry ending in "/" is an include folder for C.
 * - "~" entries exclude files from the build (they must match something too).
 * - Exactly one `platforms` section applies: the full name ("esp32/esp32c3"), then
 *   "esp32/*", then "esp32", then "...".
 * - `config` objects merge deeply, the including manifest last, then key=value
 *   arguments from the command line replace top-level keys with strings.
 * - The project's own includes ("./certs/manifest.json", "./sdkconfig/$(COAP_BOARD)/...")
 *   are followed; $(NAME) comes from the environment, else from a `"NAME ?=": default`
 *   build entry. `build` values are read parent first, then its includes, so an
 *   include's value wins (SDKCONFIGPATH, NAME); "./" in them is the include's folder.
 * - `preload` (top level and the platform section, concatenated) names modules, not
 *   paths; a name that matches no module preloads nothing, silently: an error here.
 *   Every module of the project's own must be preloaded (its code and objects then
 *   live in flash, not in the C3's RAM).
 * Only ES2022 and node's standard library: no dependencies.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The platforms this firmware is built for: the device and the SDK's desktop simulator. */
export const PLATFORMS = ["esp32/esp32c3", "lin"];
/** The builds checked: each board of the device (COAP_BOARD), and the simulator. */
export const BUILDS = [
  { platform: "esp32/esp32c3", board: "devkitm-1" },
  { platform: "esp32/esp32c3", board: "qemu" },
  { platform: "lin" },
];
const buildName = (build) => (build.board ? `${build.platform} (COAP_BOARD=${build.board})` : build.platform);

/** File extensions mcconfig's ModulesRule turns into something (anything else is ignored and counts for nothing). */
const MODULE_EXTENSIONS = new Set([".js", ".mjs", ".ts", ".d.ts", ".c", ".cc", ".cpp", ".m", ".h", ".java", ".json", ".pio"]);
/** Extensions that become a compiled module (an .xsb) named after the target. */
const SCRIPT_EXTENSIONS = new Set([".js", ".mjs", ".ts", ".json"]);

const C3_GPIO_COUNT = 22;
const LIGHT_KINDS = ["neopixel", "digital"];
/** sdkconfig options the DTLS-PSK server and the firmware update need (see sdkconfig/sdkconfig.defaults). */
const REQUIRED_SDKCONFIG = [
  "CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE",
  "CONFIG_MBEDTLS_SSL_PROTO_DTLS",
  "CONFIG_MBEDTLS_SSL_COOKIE_C",
  "CONFIG_MBEDTLS_PSK_MODES",
  "CONFIG_MBEDTLS_KEY_EXCHANGE_PSK",
  "CONFIG_MBEDTLS_CCM_C",
];
/** the largest UDP payload the node sends or accepts: a record buffer must hold one */
const MIN_RECORD_CONTENT = 1472;

function isObject(value) {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function deepMerge(target, source) {
  if (!isObject(source)) return target;
  for (const [name, value] of Object.entries(source)) {
    if (isObject(target[name]) && isObject(value)) deepMerge(target[name], value);
    else target[name] = isObject(value) ? deepMerge({}, value) : Array.isArray(value) ? [...value] : value;
  }
  return target;
}

/** mcconfig's matchPlatform: the full name, then each shorter prefix ("x/*" patterns too), then "...". */
export function platformSection(platforms, platform) {
  if (!isObject(platforms)) return undefined;
  const parts = platform.split("/");
  while (parts.length) {
    const partial = parts.join("/");
    for (const name of Object.keys(platforms)) {
      if (name.endsWith("/*") && partial.startsWith(name.slice(0, -1))) return platforms[name];
      if (name.startsWith("*/") && partial.endsWith(name.slice(1))) return platforms[name];
      if (name === partial) return platforms[name];
    }
    parts.pop();
  }
  return platforms["..."];
}

export function readManifest(root) {
  return JSON.parse(readFileSync(join(root, "manifest.json"), "utf8"));
}

/**
 * The project's own manifests a build reads, in mcconfig's merge order (each one's
 * includes before it): [{ file, directory, manifest, section, readOrder }], where
 * readOrder is the order mcconfig reads their `build` (each one before its includes).
 * Includes of the SDK ($(MODDABLE)...) are not followed. `variables` stand for
 * mcconfig's environment (COAP_BOARD).
 */
export function projectManifests(root, platform, variables = {}) {
  const out = [];
  const environment = { ...variables };
  let read = 0;
  const visit = (file, seen) => {
    if (seen.has(file)) return;
    seen.add(file);
    const readOrder = read++;
    const manifest = JSON.parse(readFileSync(file, "utf8"));
    const section = platformSection(manifest.platforms, platform);
    for (const build of [manifest.build, section?.build]) {
      for (const [name, value] of Object.entries(isObject(build) ? build : {})) {
        if (name.endsWith(" ?=") && !(name.slice(0, -3) in environment)) environment[name.slice(0, -3)] = value;
      }
    }
    for (const include of [...asList(manifest.include), ...asList(section?.include)]) {
      if (typeof include !== "string") continue;
      const path = include.replace(/\$\(([^)]+)\)/g, (whole, name) => environment[name] ?? whole);
      if (path.startsWith("./") || path.startsWith("../")) visit(resolve(dirname(file), path), seen);
    }
    out.push({ file, directory: dirname(file), manifest, section, readOrder });
  };
  visit(resolve(root, "manifest.json"), new Set());
  return out;
}

/**
 * The project's part of `mc/config` for a platform: the manifest's "config" merged
 * with the matching platform section's "config", then `overrides` (mcconfig's
 * key=value arguments: top-level keys, values kept as given, strings from a command line).
 * A real build also merges the SDK's own manifests' config first (e.g. "sntp" from
 * manifest_net.json, "led" from the esp32c3 target); this has only the project's keys.
 */
export function configFor(root, platform, overrides = {}, variables = {}) {
  const config = {};
  for (const { manifest, section } of projectManifests(root, platform, variables)) {
    deepMerge(config, manifest.config);
    deepMerge(config, section?.config);
  }
  for (const [name, value] of Object.entries(overrides)) config[name] = value;
  return config;
}

function asList(value) {
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

/** The modules a build for `platform` preloads (every project manifest's "preload" and its platform section's), as specifiers. */
export function preloadsFor(root, platform, variables = {}) {
  return projectManifests(root, platform, variables).flatMap(({ manifest, section }) => [...asList(manifest.preload), ...asList(section?.preload)]);
}

/** A build value as mcconfig ends up with it: the last manifest read (parent before includes) that sets it; "./" values resolved. */
function buildValue(root, platform, variables, name) {
  let value;
  const manifests = projectManifests(root, platform, variables).sort((a, b) => a.readOrder - b.readOrder);
  for (const { directory, manifest, section } of manifests) {
    for (const build of [manifest.build, section?.build]) {
      if (isObject(build) && typeof build[name] === "string") value = build[name].startsWith("./") ? resolve(directory, build[name]) : build[name];
    }
  }
  return value;
}

/** JavaScript source of an `mc/config` module, shaped like the one mcconfig generates (a deep-frozen object). */
export function configModuleSource(root, platform, overrides = {}, variables = {}) {
  return `/* generated from manifest.json for ${platform}: do not edit */\nexport default Object.freeze(${JSON.stringify(configFor(root, platform, overrides, variables), null, "\t")}, true);\n`;
}

/* ---------------------------------------------------------------- files */

/** mcconfig's splitPath + the .d.ts special case. */
function splitName(fileName) {
  if (fileName.endsWith(".d.ts")) return { name: fileName.slice(0, -5), extension: ".d.ts" };
  const dot = fileName.lastIndexOf(".");
  if (dot <= 0) return { name: fileName, extension: "" };
  return { name: fileName.slice(0, dot), extension: fileName.slice(dot) };
}

/** A view of a file tree: the project on disk, or the SDK (work tree or git mirror). */
class Tree {
  constructor(listing) {
    this.listing = listing; // (directory) => [{ name, directory }] | undefined
  }
  static disk() {
    return new Tree((directory) => {
      try {
        return readdirSync(directory, { withFileTypes: true }).map((entry) => ({ name: entry.name, directory: entry.isDirectory() }));
      } catch {
        return undefined;
      }
    });
  }
  static git(gitDirectory, prefix) {
    const result = spawnSync("git", ["-C", gitDirectory, "ls-tree", "-r", "--name-only", "HEAD"], { encoding: "utf8", maxBuffer: 1 << 28 });
    if (result.status !== 0) throw new Error(`git ls-tree in ${gitDirectory} failed: ${result.stderr}`);
    const directories = new Map();
    const add = (directory, name, isDirectory) => {
      let entries = directories.get(directory);
      if (!entries) directories.set(directory, (entries = new Map()));
      if (!entries.has(name)) entries.set(name, isDirectory);
    };
    for (const path of result.stdout.split("\n").filter(Boolean)) {
      const parts = path.split("/");
      for (let i = 0; i < parts.length; i++) add([prefix, ...parts.slice(0, i)].join("/"), parts[i], i < parts.length - 1);
    }
    return new Tree((directory) => {
      const entries = directories.get(directory.replace(/\/+$/, ""));
      return entries && [...entries].map(([name, isDirectory]) => ({ name, directory: isDirectory }));
    });
  }
  exists(path) {
    const slash = path.lastIndexOf("/");
    const entries = this.listing(path.slice(0, slash) || "/");
    return Boolean(entries?.some((entry) => entry.name === path.slice(slash + 1)));
  }
  isDirectory(path) {
    return this.listing(path) !== undefined;
  }
}

/**
 * Resolves one module source the way ModulesRule.iterate does.
 * Returns { kind: "files", files: [{ path, name, extension, target }] } | { kind: "folder" } |
 * { kind: "skip" } (a variable this check cannot resolve) | { kind: "missing-folder", directory }.
 */
function resolveModuleSource(source, target, context) {
  const { root, variables, tree, sdkTree } = context;
  let path = source;
  let files = tree;
  const variable = /^\$\(([^)]+)\)/.exec(path);
  if (variable) {
    if (!(variable[1] in variables) || !sdkTree) return { kind: "skip" };
    path = variables[variable[1]] + path.slice(variable[0].length);
    files = sdkTree;
  } else if (path.startsWith("./") || path.startsWith("../")) path = resolve(root, path);
  else if (!path.startsWith("/")) return { kind: "skip" };

  const slash = path.lastIndexOf("/");
  const directory = path.slice(0, slash);
  const last = path.slice(slash + 1);
  if (!files.isDirectory(directory)) return { kind: "missing-folder", directory };
  if (last === "") return { kind: "folder" };

  const star = last.lastIndexOf("*");
  const prefix = star >= 0 ? last.slice(0, star) : last;
  const result = [];
  for (const entry of files.listing(directory)) {
    if (entry.directory || entry.name.startsWith(".")) continue;
    const parts = splitName(entry.name);
    let name;
    if (star >= 0) {
      if (!parts.name.startsWith(prefix)) continue;
      name = parts.name.slice(prefix.length);
    } else if (parts.name === prefix) name = prefix;
    else if (entry.name === prefix) name = splitName(prefix).name;
    else continue;
    if (!MODULE_EXTENSIONS.has(parts.extension)) continue;
    if (parts.extension === ".json" && parts.name.startsWith("manifest")) continue;
    result.push({ path: `${directory}/${entry.name}`, name: parts.name, extension: parts.extension, target: target.straight ? target.name : target.name + name });
  }
  return { kind: "files", files: result, wildcard: star >= 0 };
}

/** A project path as the messages show it: relative to the project root. */
function shown(context, path) {
  return path.startsWith(`${context.root}/`) ? relative(context.root, path) : path;
}

function sourcesOf(value) {
  if (Array.isArray(value)) return value;
  return value === undefined ? [] : [value];
}

function sourcePath(source) {
  return typeof source === "string" ? source : source?.source;
}

/** mcconfig's resolvePrefix: "embedded:io/x" is stored as "~.embedded/io/x". */
function targetOf(key) {
  const colon = key.indexOf(":");
  return colon > 0 ? `~.${key.slice(0, colon)}/${key.slice(colon + 1)}` : key;
}

/* ---------------------------------------------------------------- checks */

/* a module source of a manifest in `directory`, with its "./" or "../" path made absolute (a trailing "/" kept) */
function absoluteSource(source, directory) {
  const path = sourcePath(source);
  if (typeof path !== "string" || !(path.startsWith("./") || path.startsWith("../"))) return source;
  const absolute = resolve(directory, path) + (path.endsWith("/") ? "/" : "");
  return typeof source === "string" ? absolute : { ...source, source: absolute };
}

function checkModules(entries, platform, context, problems) {
  const combined = {};
  for (const { directory, manifest, section } of entries) {
    for (const modules of [manifest.modules, section?.modules]) {
      if (modules === undefined) continue;
      if (!isObject(modules)) {
        problems.push(`${platform}: "modules" must be an object`);
        continue;
      }
      for (const [key, value] of Object.entries(modules)) combined[key] = [...(combined[key] ?? []), ...sourcesOf(value).map((source) => absoluteSource(source, directory))];
    }
  }

  const excluded = new Set();
  const unresolved = new Set();
  const targets = new Map(); // target -> Set of source files (script modules only)
  const cObjects = new Map(); // object file name -> Set of C sources
  const visit = (key, source, straight) => {
    const path = sourcePath(source);
    if (typeof path !== "string") {
      problems.push(`${platform}: modules["${key}"] has an entry that is neither a path nor {source}`);
      return [];
    }
    const resolvedKey = targetOf(key);
    const star = resolvedKey.lastIndexOf("*");
    const target = key === "~" ? { name: "~", straight: false } : star >= 0 ? { name: resolvedKey.slice(0, star), straight: false } : { name: resolvedKey, straight };
    const resolved = resolveModuleSource(path, target, context);
    if (resolved.kind === "skip" && !key.includes("*")) unresolved.add(targetOf(key)); // an SDK module, not checked without --sdk
    const label = path.startsWith(`${context.root}/`) ? `./${relative(context.root, path)}${path.endsWith("/") ? "/" : ""}` : path;
    if (resolved.kind === "missing-folder") problems.push(`${platform}: modules["${key}"]: "${label}": folder ${shown(context, resolved.directory)} not found (mcconfig stops: directory not found)`);
    else if (resolved.kind === "files" && resolved.files.length === 0) problems.push(`${platform}: modules["${key}"]: "${label}" matches no file (mcconfig only warns "no modules match" and builds without it)`);
    return resolved.kind === "files" ? resolved.files : [];
  };

  for (const source of combined["~"] ?? []) for (const file of visit("~", source, false)) excluded.add(file.path);

  for (const [key, sources] of Object.entries(combined)) {
    if (key === "~") continue;
    for (const source of sources) {
      const files = visit(key, source, key.lastIndexOf("*") < 0);
      for (const file of files) {
        if (excluded.has(file.path)) continue;
        if (file.extension === ".json" && !file.path.startsWith("$")) {
          problems.push(`${platform}: ${shown(context, file.path)} becomes the module "${file.target}" (mcconfig compiles a .json beside modules); move it out of the module folder`);
        }
        if (SCRIPT_EXTENSIONS.has(file.extension)) {
          if (!targets.has(file.target)) targets.set(file.target, new Set());
          targets.get(file.target).add(file.path);
        } else if ([".c", ".cc", ".cpp", ".m"].includes(file.extension)) {
          const object = file.name + file.extension + ".o";
          if (!cObjects.has(object)) cObjects.set(object, new Set());
          cObjects.get(object).add(file.path);
        }
      }
    }
  }

  const preloads = entries.flatMap(({ manifest, section }) => [...asList(manifest.preload), ...asList(section?.preload)]);
  const preloaded = new Set();
  for (const name of preloads) {
    if (typeof name !== "string") {
      problems.push(`${platform}: preload entries are module names (strings)`);
      continue;
    }
    if (!targets.has(targetOf(name)) && !unresolved.has(targetOf(name))) problems.push(`${platform}: preload "${name}" names no module of this build (mcconfig preloads nothing for it, silently)`);
    preloaded.add(targetOf(name));
  }
  for (const [target, paths] of targets) {
    if ([...paths].some((path) => path.startsWith(`${context.root}/`)) && !preloaded.has(target))
      problems.push(`${platform}: module "${target}" is not in "preload": its code and objects would take RAM at run time`);
  }

  for (const [target, paths] of targets) {
    if (paths.size < 2) continue;
    const list = [...paths].sort().map((path) => shown(context, path));
    const twins = list.every((path) => dirname(path) === dirname(list[0]));
    const name = target.replace(/^~\.([^/]+)\//, "$1:");
    problems.push(twins
      ? `${platform}: module "${name}" has twins ${list.join(" and ")}: keep one (a .ts and a .js of one name both become the same module)`
      : `${platform}: module "${name}" comes from ${list.join(" and ")}: exclude one with "~"`);
  }
  for (const [object, paths] of cObjects) {
    if (paths.size > 1) problems.push(`${platform}: C files ${[...paths].sort().map((path) => shown(context, path)).join(" and ")} compile to the same object ${object}: rename one`);
  }
}

function checkIncludes(entries, board, context, problems) {
  for (const { file, directory, manifest } of entries) {
    const includes = [...sourcesOf(manifest.include)];
    for (const [name, section] of Object.entries(manifest.platforms ?? {})) {
      for (const include of sourcesOf(section?.include)) includes.push(include);
      if (section?.include !== undefined && !Array.isArray(section.include) && typeof section.include !== "string") problems.push(`${shown(context, file)}: platforms["${name}"].include must be a path or an array of paths`);
    }
    for (const include of includes) {
      if (typeof include !== "string") continue; // git includes are not used here
      const path = include.replace(/\$\(COAP_BOARD\)/g, board ?? "devkitm-1");
      const variable = /^\$\(([^)]+)\)/.exec(path);
      if (variable) {
        if (context.sdkTree && variable[1] in context.variables) {
          const inSdk = context.variables[variable[1]] + path.slice(variable[0].length);
          if (!context.sdkTree.exists(inSdk)) problems.push(`${shown(context, file)}: include "${include}" is not in the SDK (mcconfig stops: manifest not found)`);
        }
      } else if (!existsSync(resolve(directory, path))) problems.push(`${shown(context, file)}: include "${path}" not found`);
    }
  }
}

function checkPlatforms(manifest, problems) {
  if (!isObject(manifest.platforms)) {
    problems.push(`"platforms" is missing`);
    return;
  }
  for (const name of ["esp32", "lin"]) {
    if (!isObject(manifest.platforms[name])) problems.push(`platforms["${name}"] is missing`);
  }
  const fallback = manifest.platforms["..."];
  if (!isObject(fallback) || typeof fallback.error !== "string" || fallback.error.trim() === "")
    problems.push(`platforms["..."] must have an "error" message so that other platforms fail clearly`);
  for (const [name, section] of Object.entries(manifest.platforms)) {
    if (name !== "..." && section?.error) problems.push(`platforms["${name}"] has an error: "${section.error}"`);
  }
}

function checkConfig(root, build, problems) {
  const platform = buildName(build);
  const config = configFor(root, build.platform, {}, build.board ? { COAP_BOARD: build.board } : {});
  const say = (message) => problems.push(`${platform}: config.${message}`);
  const gpio = (name) => {
    const value = config[name];
    if (!Number.isInteger(value) || value < 0 || value >= C3_GPIO_COUNT) say(`${name} must be a GPIO number 0..${C3_GPIO_COUNT - 1} (is ${JSON.stringify(value)})`);
  };
  if (!LIGHT_KINDS.includes(config.lightKind)) say(`lightKind must be one of ${LIGHT_KINDS.join(", ")} (is ${JSON.stringify(config.lightKind)})`);
  gpio("lightPin");
  if (typeof config.lightActiveLow !== "boolean") say(`lightActiveLow must be true or false (is ${JSON.stringify(config.lightActiveLow)})`);
  gpio("onewirePin");
  if (config.onewirePin === config.lightPin) say(`onewirePin and lightPin are both GPIO ${config.lightPin}`);
  if (typeof config.pskIdentity !== "string" || config.pskIdentity.length < 1 || config.pskIdentity.length > 64) say(`pskIdentity must be 1..64 characters`);
  if (typeof config.pskKey !== "string" || config.pskKey.length < 1 || Buffer.byteLength(config.pskKey) > 32) say(`pskKey must be 1..32 bytes`); // never print the key
  for (const name of ["coapPort", "coapsPort"]) {
    if (!Number.isInteger(config[name]) || config[name] < 1 || config[name] > 65535) say(`${name} must be a UDP port 1..65535 (is ${JSON.stringify(config[name])})`);
  }
  if (config.coapPort === config.coapsPort) say(`coapPort and coapsPort are both ${config.coapPort}`);
  if (build.platform.startsWith("esp32")) {
    if (config.led?.rainbow !== false)
      say(`led.rainbow must be false: the esp32c3 target's set-up otherwise animates the on-board pixel from its own timer (build/devices/esp32/targets/esp32c3/setup-target.js), and in QEMU, which has no RMT, blocks forever`);
  } else if (config.lightKind === "neopixel") say(`lightKind "neopixel" needs the esp32 neopixel driver: use "digital" on ${build.platform}`);
  for (const name of ["ssid", "password"]) {
    if (name in config) say(`${name} is set in manifest.json: give it on the mcconfig command line (${name}=...) so it stays out of the repository`);
  }
}

function checkBuild(manifest, root, problems) {
  const esp32 = manifest.platforms?.esp32;
  if (isObject(esp32)) {
    const path = esp32.build?.SDKCONFIGPATH;
    if (typeof path !== "string" || !path.startsWith("./")) problems.push(`platforms.esp32.build.SDKCONFIGPATH must name the project's sdkconfig folder ("./sdkconfig")`);
    for (const build of BUILDS.filter((each) => each.platform.startsWith("esp32"))) {
      const variables = build.board ? { COAP_BOARD: build.board } : {};
      const sections = projectManifests(root, build.platform, variables).map(({ section }) => section).filter(isObject);
      if (sections.some((section) => section.build?.C_FLAGS !== undefined)) problems.push(`${buildName(build)}: build.C_FLAGS replaces every compiler flag of the esp32 build: remove it`);
      if (!sections.some((section) => Array.isArray(section.dependency) && section.dependency.some((dep) => dep?.idf === "mbedtls")))
        problems.push(`${buildName(build)}: no manifest has the dependency { "idf": "mbedtls" } (ESP-IDF's Mbed TLS for the DTLS binding; modules/dtls-psk/manifest.json)`);
      const folder = buildValue(root, build.platform, variables, "SDKCONFIGPATH");
      if (typeof folder === "string" && folder.startsWith("/")) checkSdkconfig(folder, root, problems);
    }
  }
  if (isObject(manifest.platforms?.lin)) {
    const libraries = projectManifests(root, "lin").map(({ section }) => section?.build?.LIBRARIES).filter((value) => value !== undefined);
    if (!libraries.some((value) => typeof value === "string" && /-lmbedtls\b/.test(value))) problems.push(`lin: no manifest links the system Mbed TLS (build.LIBRARIES "-Wl,-lmbedtls,-lmbedx509,-lmbedcrypto"; modules/dtls-psk/manifest.json)`);
    for (const value of libraries) {
      if (typeof value === "string" && /\s/.test(value.trim())) problems.push(`lin: build.LIBRARIES "${value}" has spaces, which mcconfig escapes into one linker argument: write one token "-Wl,-lmbedtls,-lmbedx509,-lmbedcrypto"`);
    }
  }
  const compilerOptions = manifest.typescript?.tsconfig?.compilerOptions;
  if (isObject(compilerOptions) && "paths" in compilerOptions) problems.push(`typescript.tsconfig.compilerOptions.paths replaces the module map mcconfig generates: remove it`);
}

/* SDKCONFIGPATH's sdkconfig.defaults, then sdkconfig.defaults.release (mcconfig reads it too in release builds, the default) */
function checkSdkconfig(directory, root, problems) {
  const options = new Map();
  for (const name of ["sdkconfig.defaults", "sdkconfig.defaults.release"]) {
    const file = join(directory, name);
    const shownFile = relative(root, file);
    if (!existsSync(file)) {
      if (name === "sdkconfig.defaults") problems.push(`${shownFile} not found (SDKCONFIGPATH)`);
      continue;
    }
    const seen = new Set();
    readFileSync(file, "utf8").split(/\r?\n/).forEach((line, index) => {
      const where = `${shownFile}:${index + 1}`;
      if (/^#\s*CONFIG_\w+ is not set/.test(line)) problems.push(`${where}: mcconfig skips "#" lines, so "${line.trim()}" changes nothing: write ${line.replace(/^#\s*(CONFIG_\w+).*$/, "$1")}=n`);
      if (line === "" || line.startsWith("#")) return;
      const match = /^(CONFIG_\w+)=(.*)$/.exec(line);
      if (!match) problems.push(`${where}: not NAME=value: "${line}"`);
      else if (seen.has(match[1])) problems.push(`${where}: ${match[1]} set twice`);
      else {
        seen.add(match[1]);
        options.set(match[1], match[2]);
      }
    });
  }
  const folder = relative(root, directory) || ".";
  for (const name of REQUIRED_SDKCONFIG) {
    if (options.get(name) !== "y") problems.push(`${folder}/sdkconfig.defaults must set ${name}=y`);
  }
  for (const name of ["CONFIG_MBEDTLS_SSL_IN_CONTENT_LEN", "CONFIG_MBEDTLS_SSL_OUT_CONTENT_LEN"]) {
    const value = Number(options.get(name));
    if (options.has(name) && !(Number.isInteger(value) && value >= MIN_RECORD_CONTENT && value <= 16384))
      problems.push(`${folder}: ${name}=${options.get(name)} must be ${MIN_RECORD_CONTENT}..16384 (one full datagram)`);
  }
}

/**
 * Validates root/manifest.json. Returns a list of problems (strings), empty when it
 * is fine. `options.sdk` (a work tree) or `options.sdkGit` (a bare git mirror) also
 * checks $(MODDABLE)/$(MODULES) paths against that SDK.
 */
export function checkManifest(root, options = {}) {
  root = resolve(root);
  const problems = [];
  let manifest;
  try {
    manifest = readManifest(root);
  } catch (error) {
    return [`manifest.json: ${error.message}`];
  }
  if (!isObject(manifest)) return ["manifest.json: not a JSON object"];

  const context = { root, tree: Tree.disk(), sdkTree: undefined, variables: {} };
  if (options.sdk || options.sdkGit) {
    const moddable = options.sdk ? resolve(options.sdk) : "/SDK";
    context.sdkTree = options.sdk ? Tree.disk() : Tree.git(options.sdkGit, moddable);
    context.variables = { MODDABLE: moddable, MODULES: `${moddable}/modules`, BUILD: `${moddable}/build`, TYPINGS: `${moddable}/typings`, IO: `${moddable}/modules/io` };
  }

  checkPlatforms(manifest, problems);
  checkBuild(manifest, root, problems);
  for (const build of BUILDS) {
    if (!platformSection(manifest.platforms, build.platform) || platformSection(manifest.platforms, build.platform) === manifest.platforms?.["..."]) continue;
    let entries;
    try {
      entries = projectManifests(root, build.platform, build.board ? { COAP_BOARD: build.board } : {});
    } catch (error) {
      problems.push(`${buildName(build)}: ${error.message}`);
      continue;
    }
    /* a module's "..." error is for other platforms: one that a build of ours selects stops mcconfig */
    for (const { file, section } of entries) {
      if (typeof section?.error === "string") problems.push(`${buildName(build)}: ${relative(root, file)} stops the build: "${section.error}"`);
    }
    checkIncludes(entries, build.board, context, problems);
    checkModules(entries, buildName(build), context, problems);
    checkConfig(root, build, problems);
  }
  return [...new Set(problems)];
}

/* ---------------------------------------------------------------- command line */

function main(argv) {
  let root = join(dirname(fileURLToPath(import.meta.url)), "..");
  const options = {};
  let command;
  let platform;
  const overrides = {};
  const variables = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--check") command = "check";
    else if (arg === "--config" || arg === "--preloads") {
      command = arg.slice(2);
      platform = argv[++i];
    } else if (arg === "--board") variables.COAP_BOARD = argv[++i];
    else if (arg === "--root") root = argv[++i];
    else if (arg === "--sdk") options.sdk = argv[++i];
    else if (arg === "--sdk-git") options.sdkGit = argv[++i];
    else if (command === "config" && arg.includes("=")) {
      const [name, ...rest] = arg.split("=");
      overrides[name] = rest.join("=");
    } else {
      process.stderr.write(`unknown argument ${arg}\n`);
      return 64;
    }
  }
  if (command === "config" && platform) {
    process.stdout.write(`${JSON.stringify(configFor(root, platform, overrides, variables), null, 2)}\n`);
    return 0;
  }
  if (command === "preloads" && platform) {
    process.stdout.write(`${JSON.stringify(preloadsFor(root, platform, variables))}\n`);
    return 0;
  }
  if (command !== "check") {
    process.stderr.write("usage: node host-tests/manifest.mjs --check [--root DIR] [--sdk DIR | --sdk-git GITDIR]\n       node host-tests/manifest.mjs --config PLATFORM [--board NAME] [key=value ...] [--root DIR]\n       node host-tests/manifest.mjs --preloads PLATFORM [--board NAME] [--root DIR]\n");
    return 64;
  }
  const problems = checkManifest(root, options);
  for (const problem of problems) process.stdout.write(`manifest: ${problem}\n`);
  if (problems.length) {
    process.stdout.write(`manifest: ${problems.length} problem${problems.length === 1 ? "" : "s"} in ${join(resolve(root), "manifest.json")}\n`);
    return 1;
  }
  process.stdout.write(`manifest: OK (${BUILDS.map(buildName).join(", ")}${options.sdk || options.sdkGit ? ", SDK paths checked" : ""})\n`);
  return 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) process.exitCode = main(process.argv.slice(2));
