/*
 * `mc/config` for the simulator host: the manifest's config for the lin platform
 * (generated into mc/manifest-config by host-tests/cli.mjs), then each
 * `--config KEY=VALUE` of the host's command line as a string, which is what
 * mcconfig does with KEY=VALUE arguments. With --data, the update stand-in's
 * slots go to its ota/ folder.
 */
import base from "mc/manifest-config";
import { configOverrides, dataDirectory } from "host/runtime";

const config = JSON.parse(JSON.stringify(base));
/* the update stand-in's "flash" (modules/update/lin) lives in the data folder, beside the preferences */
if (dataDirectory())
	config.otaFolder = `${dataDirectory()}/ota`;
for (const override of configOverrides()) {
	const equal = override.indexOf("=");
	config[override.slice(0, equal)] = override.slice(equal + 1);
}
export default Object.freeze(config, true);
