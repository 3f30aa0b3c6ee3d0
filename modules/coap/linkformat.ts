/*
 * CoRE Link Format for resource discovery at /.well-known/core.
 *
 * RFC 6690 sec 2 (link syntax: </path>;attr="value";flag), 3.1 (rt), 3.2 (if),
 * 3.3 (sz), 4.1 (query filtering: ?attr=value, a trailing "*" matches a prefix,
 * relation types and interfaces match any of their space-separated values,
 * href matches the target), RFC 7252 sec 7.2.1 (ct), RFC 7641 sec 6 (obs).
 */

/** The discovery attributes a resource declares about itself. */
export interface LinkAttributes {
  /** resource type(s), e.g. "temperature-c" */
  rt?: string | readonly string[];
  /** interface description(s), e.g. "core.a" */
  if?: string | readonly string[];
  /** content format(s) it produces */
  ct?: number | readonly number[];
  /** observable */
  obs?: boolean;
  title?: string;
  /** estimated size in bytes */
  sz?: number;
}

export interface Link extends LinkAttributes {
  /** the target, e.g. "/light" */
  href: string;
}

function list<T>(value: T | readonly T[] | undefined): readonly T[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? (value as readonly T[]) : [value as T];
}

function quote(value: string): string {
  return `"${value.replace(/[\\"]/g, (c) => "\\" + c)}"`;
}

export function formatLink(link: Link): string {
  let out = `<${link.href}>`;
  const rt = list(link.rt);
  if (rt.length) out += `;rt=${quote(rt.join(" "))}`;
  const iface = list(link.if);
  if (iface.length) out += `;if=${quote(iface.join(" "))}`;
  const ct = list(link.ct);
  if (ct.length === 1) out += `;ct=${ct[0]}`;
  else if (ct.length > 1) out += `;ct=${quote(ct.join(" "))}`;
  if (link.sz !== undefined) out += `;sz=${link.sz}`;
  if (link.title !== undefined) out += `;title=${quote(link.title)}`;
  if (link.obs) out += ";obs";
  return out;
}

export function formatLinks(links: readonly Link[]): string {
  return links.map(formatLink).join(",");
}

/** Does `candidate` match a filter value, with "*" at its end meaning "starts with"? */
function matchValue(candidate: string, wanted: string): boolean {
  return wanted.endsWith("*") ? candidate.startsWith(wanted.slice(0, -1)) : candidate === wanted;
}

/** Does a link pass one query argument ("rt=light", "href=/l*", "obs")? */
export function matchesFilter(link: Link, argument: string): boolean {
  const eq = argument.indexOf("=");
  const name = eq < 0 ? argument : argument.slice(0, eq);
  const wanted = eq < 0 ? undefined : argument.slice(eq + 1);
  let values: readonly string[];
  switch (name) {
    case "href":
      values = [link.href];
      break;
    case "rt":
      values = list(link.rt).flatMap((v) => v.split(" "));
      break;
    case "if":
      values = list(link.if).flatMap((v) => v.split(" "));
      break;
    case "ct":
      values = list(link.ct).map(String);
      break;
    case "sz":
      values = link.sz === undefined ? [] : [String(link.sz)];
      break;
    case "title":
      values = link.title === undefined ? [] : [link.title];
      break;
    case "obs":
      return link.obs === true && (wanted === undefined || wanted === "" || wanted === "*");
    default:
      return false; // an attribute no link carries matches none
  }
  if (wanted === undefined) return values.length > 0;
  return values.some((v) => matchValue(v, wanted));
}

/** The links passing every query argument (RFC 6690 defines one; several are ANDed). */
export function filterLinks(links: readonly Link[], query: readonly string[]): Link[] {
  return links.filter((link) => query.every((argument) => matchesFilter(link, argument)));
}
