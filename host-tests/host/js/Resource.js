/*
 * Moddable's `Resource` for the simulator host: the resources a device build takes
 * from the manifest's "resources" are files in DATA/resources/ here (DATA is the
 * host's --data folder). new Resource(name) gives the bytes (read-only, like the
 * device's flash-mapped HostBuffer); Resource.exists(name) says whether it is there.
 */
import { dataDirectory, readFileBuffer } from "host/runtime";

function pathOf(name) {
	const folder = dataDirectory();
	if (!folder || typeof name !== "string" || name.includes(".."))
		return undefined;
	return `${folder}/resources/${name}`;
}

export default class Resource {
	constructor(name) {
		const path = pathOf(name);
		const bytes = path && readFileBuffer(path);
		if (!bytes)
			throw new Error(`resource not found: ${name}`);
		return bytes;
	}
	static exists(name) {
		const path = pathOf(name);
		return Boolean(path && readFileBuffer(path));
	}
}
