#!/usr/bin/env node
// SPDX-License-Identifier: AGPL-3.0-or-later
//
// A Mastodon-like ActivityPub peer built with Fedify, for Palabre's federation tests.
// One account, alice, plus an instance actor at /actor. The tests drive it through a small
// JSON API under /control/ (see README.md next to this file).
//
//   node peer.mjs --port 4567 [--origin http://localhost:4567] [--secure] [--log-level debug]

import http from "node:http";
import { AsyncLocalStorage } from "node:async_hooks";
import { randomUUID } from "node:crypto";
import { inspect, parseArgs } from "node:util";
import { Temporal } from "@js-temporal/polyfill";
import { configure } from "@logtape/logtape";
import {
  Accept,
  Activity,
  Announce,
  Application,
  Create,
  CryptographicKey,
  Delete,
  Endpoints,
  Flag,
  Follow,
  Hashtag,
  Like,
  MemoryKvStore,
  Mention,
  Note,
  Object as APObject,
  Person,
  PUBLIC_COLLECTION,
  Reject,
  Tombstone,
  Undo,
  Update,
  createFederation,
  generateCryptoKeyPair,
  getDocumentLoader,
  parseSemVer,
} from "@fedify/fedify";

// ---------------------------------------------------------------------------------------------
// Options

const { values: args } = parseArgs({
  options: {
    port: { type: "string", default: "4567" },
    bind: { type: "string", default: "127.0.0.1" },
    origin: { type: "string" },
    secure: { type: "boolean", default: false },
    proofs: { type: "boolean", default: false },
    "log-level": { type: "string", default: "warning" },
  },
  strict: true,
});
const PORT = Number.parseInt(args.port, 10);
const ORIGIN = (args.origin ?? `http://localhost:${PORT}`).replace(/\/+$/, "");
const ORIGIN_URL = new URL(ORIGIN);
const SECURE = args.secure;
const USERNAME = "alice";
const PUBLIC = PUBLIC_COLLECTION.href;
const AS_CONTEXT = "https://www.w3.org/ns/activitystreams";

// ---------------------------------------------------------------------------------------------
// Logging: everything to stderr (stdout carries only the "listening" line), and the log lines of
// one incoming request are kept with it, so /control/inbox-log can say why a POST was refused.

const LEVELS = ["debug", "info", "warning", "error", "fatal"];
const threshold = LEVELS.indexOf(args["log-level"]);
if (threshold < 0) {
  process.stderr.write(`unknown --log-level ${args["log-level"]}\n`);
  process.exit(2);
}
const requestScope = new AsyncLocalStorage();

// The recipient's HTTP status of each delivery: Fedify's sendActivity() returns nothing, so the
// global fetch it uses notes the status in the delivery being made.
const deliveryScope = new AsyncLocalStorage();
const realFetch = globalThis.fetch;
globalThis.fetch = async function fetchNotingStatus(input, init) {
  const response = await realFetch(input, init);
  const entry = deliveryScope.getStore();
  if (entry != null) entry.status = response.status;
  return response;
};

function renderLog(record) {
  return record.message
    .map((part, i) =>
      i % 2 === 0
        ? part
        : typeof part === "string"
          ? part
          : inspect(part, { depth: 2, breakLength: Infinity, maxStringLength: 400 }),
    )
    .join("");
}

await configure({
  contextLocalStorage: new AsyncLocalStorage(),
  sinks: {
    peer(record) {
      const line = `${record.level} ${record.category.join("·")}: ${renderLog(record)}`;
      const scope = requestScope.getStore();
      if (scope != null) scope.logs.push({ level: record.level, line });
      // Without --proofs alice sends no integrity proof on purpose (Mastodon doesn't): skip
      // Fedify's warning about it.
      const quiet = !args.proofs && /^No supported key found to create a proof/.test(record.message[0] ?? "");
      if (!quiet && LEVELS.indexOf(record.level) >= threshold) process.stderr.write(`${line}\n`);
    },
  },
  loggers: [
    { category: "fedify", sinks: ["peer"], lowestLevel: "debug" },
    { category: ["logtape", "meta"], sinks: ["peer"], lowestLevel: "warning" },
  ],
});

function log(message) {
  if (threshold <= LEVELS.indexOf("info")) process.stderr.write(`peer: ${message}\n`);
}

// ---------------------------------------------------------------------------------------------
// State, all in memory

const startedAt = Temporal.Now.instant();
// 2048-bit RSA keys, as Mastodon makes them (Fedify's generateCryptoKeyPair makes 4096-bit ones).
const generateRsa = () =>
  crypto.subtle.generateKey(
    { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
    true,
    ["sign", "verify"],
  );
const aliceRsa = await generateRsa();
const aliceEd25519 = await generateCryptoKeyPair("Ed25519");
const instanceRsa = await generateRsa();

const aliceUri = `${ORIGIN}/users/${USERNAME}`;
const aliceUrl = `${ORIGIN}/@${USERNAME}`;
const followersUri = `${aliceUri}/followers`;
const instanceUri = `${ORIGIN}/actor`;
const aliceKey = { keyId: new URL(`${aliceUri}#main-key`), privateKey: aliceRsa.privateKey };
const instanceKey = { keyId: new URL(`${instanceUri}#main-key`), privateKey: instanceRsa.privateKey };

const state = {
  inbox: [], // activities accepted by an inbox, in arrival order
  inboxLog: [], // every POST to an inbox, with our answer
  deliveries: [], // every delivery we made, with its outcome
  errors: [], // parse failures, context fetches, failures of background processing
  timeline: [], // what a Mastodon home timeline would show
  ignored: [], // what Mastodon could not process
  following: new Map(), // actor id -> { target, state, followId, follow (Follow) }
  followers: new Map(), // actor id -> { id, inbox, sharedInbox }
  notes: new Map(), // note id -> { note (Note), create (Create), recipients, deleted }
  likes: new Map(), // object URL -> { like (Like), inbox }
  announces: new Map(), // object URL -> { announce (Announce), recipients }
};

function recordError(kind, detail) {
  const entry = { kind, ...detail, at: new Date().toISOString() };
  state.errors.push(entry);
  process.stderr.write(`peer: ${kind}: ${JSON.stringify(detail)}\n`);
}

// Work started by the inbox that the sender does not wait for (fetching an announced object,
// sending an Accept), like Mastodon's Sidekiq jobs. GET /control/* waits for it to settle, so
// tests see a deterministic state.
const pending = new Set();
function background(label, work) {
  const promise = (async () => {
    try {
      await work();
    } catch (error) {
      recordError("background", { label, error: String(error?.stack ?? error) });
    }
  })();
  pending.add(promise);
  promise.finally(() => pending.delete(promise));
}
async function settle() {
  while (pending.size > 0) await Promise.allSettled([...pending]);
}

// ---------------------------------------------------------------------------------------------
// Document loaders: nothing cached (tests change objects and expect fresh fetches), private
// addresses allowed, contexts other than the preloaded ones recorded when they fail (there is no
// internet here).

function loaderFactory(kind) {
  return (options) => {
    const inner = getDocumentLoader({ ...options, allowPrivateAddress: true });
    return async (url) => {
      try {
        return await inner(url);
      } catch (error) {
        if (kind === "context") recordError("context", { url, error: String(error) });
        throw error;
      }
    };
  };
}

const federation = createFederation({
  kv: new MemoryKvStore(),
  origin: ORIGIN,
  allowPrivateAddress: true,
  documentLoaderFactory: loaderFactory("document"),
  contextLoaderFactory: loaderFactory("context"),
});

// ---------------------------------------------------------------------------------------------
// Actor, keys, collections, objects

const requireSignature = async (_ctx, _values, signedKey) => !SECURE || signedKey != null;

federation
  .setActorDispatcher("/users/{identifier}", async (ctx, identifier) => {
    if (identifier !== USERNAME) return null;
    const keys = await ctx.getActorKeyPairs(identifier);
    return new Person({
      id: ctx.getActorUri(identifier),
      preferredUsername: USERNAME,
      name: "Alice Martin",
      summary: "<p>Habitante, curieuse des consultations publiques.</p>",
      url: new URL(aliceUrl),
      inbox: ctx.getInboxUri(identifier),
      outbox: ctx.getOutboxUri(identifier),
      followers: ctx.getFollowersUri(identifier),
      endpoints: new Endpoints({ sharedInbox: ctx.getInboxUri() }),
      publicKey: keys[0].cryptographicKey,
      assertionMethods: keys.map((pair) => pair.multikey),
      manuallyApprovesFollowers: false,
      discoverable: true,
      indexable: true,
      published: startedAt,
    });
  })
  .mapHandle((_ctx, username) => (username === USERNAME ? USERNAME : null))
  .setKeyPairsDispatcher(async (_ctx, identifier) =>
    identifier === USERNAME ? [aliceRsa, aliceEd25519] : [],
  )
  .authorize(requireSignature);

federation
  .setFollowersDispatcher("/users/{identifier}/followers", async (_ctx, identifier) => {
    if (identifier !== USERNAME) return null;
    return { items: [...state.followers.values()].map(recipientOf) };
  })
  .setCounter(async (_ctx, identifier) => (identifier === USERNAME ? state.followers.size : null))
  .authorize(requireSignature);

federation
  .setOutboxDispatcher("/users/{identifier}/outbox", async (_ctx, identifier) => {
    if (identifier !== USERNAME) return null;
    const items = [...state.notes.values()].filter((n) => !n.deleted && n.create != null);
    return { items: items.map((n) => n.create).reverse() };
  })
  .setCounter(async (_ctx, identifier) =>
    identifier === USERNAME
      ? [...state.notes.values()].filter((n) => !n.deleted && n.create != null).length
      : null,
  )
  .authorize(requireSignature);

federation
  .setObjectDispatcher(Note, "/users/{identifier}/notes/{id}", async (ctx, values) => {
    if (values.identifier !== USERNAME) return null;
    const entry = state.notes.get(ctx.getObjectUri(Note, values).href);
    return entry == null || entry.deleted ? null : entry.note;
  })
  .authorize(requireSignature);

federation.setNodeInfoDispatcher("/nodeinfo/2.1", async () => ({
  software: {
    name: "fedify-peer",
    version: parseSemVer("0.1.0"),
    homepage: new URL(ORIGIN),
  },
  protocols: ["activitypub"],
  openRegistrations: false,
  usage: {
    users: { total: 1, activeHalfyear: 1, activeMonth: 1 },
    localPosts: [...state.notes.values()].filter((n) => !n.deleted && n.create != null).length,
    localComments: 0,
  },
  metadata: { nodeName: "fedify peer" },
}));

// ---------------------------------------------------------------------------------------------
// Inboxes

federation
  .setInboxListeners("/users/{identifier}/inbox", "/inbox")
  .setSharedKeyDispatcher(() => ({ identifier: USERNAME }))
  .on(Activity, async (ctx, activity) => {
    const raw = ctx.data?.raw ?? {};
    state.inbox.push({
      type: raw.type ?? null,
      id: raw.id ?? activity.id?.href ?? null,
      actor: idOf(raw.actor),
      json: raw,
    });
    const scope = requestScope.getStore();
    if (scope != null) scope.accepted = true;
    try {
      await react(ctx, activity, raw);
    } catch (error) {
      recordError("inbox", { id: raw.id, type: raw.type, error: String(error?.stack ?? error) });
    }
  })
  .onError((_ctx, error) => {
    const scope = requestScope.getStore();
    if (scope != null) scope.listenerError = String(error?.message ?? error);
  });

// What Mastodon does with what its inboxes accept, as far as the tests can see it.
async function react(ctx, activity, raw) {
  const actor = idOf(raw.actor);
  if (activity instanceof Follow) {
    if (idOf(raw.object) !== aliceUri) return;
    background("accept follow", async () => {
      const follower = await resolveActor(contextFor(), actor);
      state.followers.set(follower.id, follower);
      const accept = new Accept({
        id: new URL(`${aliceUri}#accepts/follows/${randomUUID()}`),
        actor: new URL(aliceUri),
        object: activity,
      });
      await deliver(ctx, [aliceKey], accept, [{ ...follower, sharedInbox: null }]);
    });
  } else if (activity instanceof Accept || activity instanceof Reject) {
    const followId = idOf(raw.object);
    for (const entry of state.following.values()) {
      if (entry.followId === followId || (entry.target === actor && entry.state === "pending")) {
        entry.state = activity instanceof Accept ? "accepted" : "rejected";
      }
    }
  } else if (activity instanceof Undo) {
    const inner = raw.object;
    if (typeof inner === "object" && inner?.type === "Follow" && idOf(inner.object) === aliceUri) {
      state.followers.delete(actor);
    }
  } else if (activity instanceof Create) {
    const object = raw.object;
    if (typeof object !== "object" || object == null) {
      state.ignored.push({ type: "Create", objectType: null, reason: "object is not embedded" });
    } else if (!TIMELINE_TYPES.has(object.type)) {
      state.ignored.push({ type: "Create", objectType: object.type ?? null, reason: "not a status type" });
    } else if (!isFollowed(actor)) {
      state.ignored.push({ type: "Create", objectType: object.type, reason: `not following ${actor}` });
    } else {
      putTimeline(object, "create");
    }
  } else if (activity instanceof Announce) {
    const object = raw.object;
    const objectType = typeof object === "object" && object != null ? object.type ?? null : null;
    if (!isFollowed(actor)) {
      state.ignored.push({ type: "Announce", objectType, reason: `not following ${actor}` });
    } else if (objectType != null && ACTIVITY_TYPES.has(objectType)) {
      state.ignored.push({ type: "Announce", objectType, reason: "Mastodon does not process an Announce of an activity" });
    } else if (objectType != null && idOf(object.attributedTo) === actor && TIMELINE_TYPES.has(objectType)) {
      putTimeline(object, "announce");
    } else {
      const url = idOf(object);
      background(`fetch announced ${url}`, async () => {
        const fetched = await fetchJson(ctx, url);
        if (fetched == null) {
          state.ignored.push({ type: "Announce", objectType, reason: `could not fetch ${url}` });
        } else if (fetched.json.id !== url) {
          state.ignored.push({ type: "Announce", objectType: fetched.json.type ?? null, reason: `fetched id ${fetched.json.id} is not ${url}` });
        } else if (!TIMELINE_TYPES.has(fetched.json.type)) {
          state.ignored.push({ type: "Announce", objectType: fetched.json.type ?? null, reason: "not a status type" });
        } else {
          putTimeline(fetched.json, "announce");
        }
      });
    }
  } else if (activity instanceof Update) {
    const object = raw.object;
    const id = idOf(object);
    const index = state.timeline.findIndex((item) => item.id === id);
    if (index >= 0 && typeof object === "object") {
      state.timeline[index] = timelineItem(object, "update");
    } else if (typeof object === "object" && object != null && !ACTOR_TYPES.has(object.type)) {
      state.ignored.push({ type: "Update", objectType: object.type ?? null, reason: `unknown object ${id}` });
    }
  } else if (activity instanceof Delete) {
    const id = idOf(raw.object);
    state.timeline = state.timeline.filter((item) => item.id !== id);
  }
}

const TIMELINE_TYPES = new Set(["Note", "Question", "Page", "Article", "Event", "Video", "Audio", "Image"]);
const ACTOR_TYPES = new Set(["Person", "Group", "Application", "Service", "Organization"]);
const ACTIVITY_TYPES = new Set([
  "Create", "Update", "Delete", "Announce", "Like", "Dislike", "Follow", "Accept", "Reject",
  "Undo", "Flag", "Add", "Remove", "Block", "Move", "Vote",
]);

function isFollowed(actor) {
  const entry = state.following.get(actor);
  return entry != null && entry.state !== "rejected";
}

function putTimeline(object, via) {
  const item = timelineItem(object, via);
  const index = state.timeline.findIndex((i) => i.id === item.id);
  if (index >= 0) state.timeline[index] = item;
  else state.timeline.push(item);
}

function timelineItem(object, via) {
  const options = (list) =>
    Array.isArray(list)
      ? list.map((o) => ({ name: o?.name ?? null, replies: { totalItems: o?.replies?.totalItems ?? null } }))
      : list == null
        ? undefined
        : options([list]);
  return {
    type: object.type ?? null,
    id: idOf(object),
    attributedTo: idOf(Array.isArray(object.attributedTo) ? object.attributedTo[0] : object.attributedTo),
    name: object.name ?? null,
    content: object.content ?? null,
    inReplyTo: idOf(object.inReplyTo),
    url: idOf(object.url),
    published: object.published ?? null,
    updated: object.updated ?? null,
    oneOf: options(object.oneOf),
    anyOf: options(object.anyOf),
    endTime: object.endTime ?? null,
    closed: object.closed ?? null,
    votersCount: object.votersCount ?? null,
    via,
    json: object,
  };
}

// ---------------------------------------------------------------------------------------------
// Fetching and resolving

function idOf(value) {
  if (value == null) return null;
  if (typeof value === "string") return value;
  if (Array.isArray(value)) return value.length > 0 ? idOf(value[0]) : null;
  if (typeof value === "object") return value.id ?? value.href ?? null;
  return null;
}

function aliceLoader(ctx) {
  return ctx.getDocumentLoader({ identifier: USERNAME });
}

function isLoopbackHost(hostname) {
  return hostname === "localhost" || hostname.endsWith(".localhost") ||
    /^127\./.test(hostname) || hostname === "[::1]" || hostname === "::1";
}

// WebFinger for @user@host. Fedify's lookupWebFinger always uses https for acct: URIs; Mastodon
// in development (and this test setup) speaks plain http to loopback hosts, so that's done here.
async function webfinger(handle) {
  const match = /^@?([^@\s]+)@([^@\s]+)$/.exec(handle.replace(/^acct:/, ""));
  if (match == null) return null;
  const [, user, host] = match;
  const scheme = isLoopbackHost(host.replace(/:\d+$/, "")) ? "http" : "https";
  const url = new URL(`${scheme}://${host}/.well-known/webfinger`);
  url.searchParams.set("resource", `acct:${user}@${host}`);
  const response = await fetch(url, { headers: { Accept: "application/jrd+json" } });
  if (!response.ok) return null;
  const jrd = await response.json();
  const self = (jrd.links ?? []).find(
    (l) =>
      l.rel === "self" &&
      (l.type === "application/activity+json" ||
        /^application\/ld\+json;\s*profile="https:\/\/www\.w3\.org\/ns\/activitystreams"/.test(l.type ?? "")),
  );
  return self?.href ?? null;
}

// Fetches a URL or a handle with alice's signed document loader through Fedify's lookupObject.
// Returns { json, object, parseError } or null when nothing could be fetched.
async function fetchJson(ctx, q) {
  let url = q;
  if (!/^https?:\/\//.test(q)) {
    url = await webfinger(q);
    if (url == null) return null;
  }
  const signed = await aliceLoader(ctx);
  let captured = null;
  const documentLoader = async (u) => {
    const remote = await signed(u);
    if (captured == null) captured = remote;
    return remote;
  };
  let object = null;
  let parseError = null;
  try {
    object = await ctx.lookupObject(url, { documentLoader });
  } catch (error) {
    parseError = String(error?.message ?? error);
  }
  if (captured == null) return null;
  const json = captured.document;
  if (object == null && parseError == null) {
    // lookupObject swallows TypeErrors from parsing: parse again to learn what failed.
    try {
      object = await APObject.fromJsonLd(json, { documentLoader: signed, contextLoader: ctx.contextLoader });
    } catch (error) {
      parseError = String(error?.message ?? error);
    }
  }
  if (parseError != null) {
    recordError("parse", { url: captured.documentUrl, type: json?.type ?? null, error: parseError });
  }
  return { json, object, parseError, url: captured.documentUrl };
}

async function resolveActor(ctx, target) {
  const fetched = await fetchJson(ctx, target);
  if (fetched == null) throw new HttpError(404, `actor not found: ${target}`);
  const json = fetched.json;
  if (json.inbox == null) throw new HttpError(422, `${target} is not an actor (no inbox)`);
  const host = new URL(json.id).host;
  return {
    id: json.id,
    inbox: idOf(json.inbox),
    sharedInbox: idOf(json.endpoints?.sharedInbox) ?? idOf(json.sharedInbox),
    preferredUsername: json.preferredUsername ?? null,
    handle: json.preferredUsername == null ? null : `@${json.preferredUsername}@${host}`,
    url: idOf(json.url) ?? json.id,
    type: json.type,
  };
}

async function fetchObject(ctx, url) {
  const fetched = await fetchJson(ctx, url);
  if (fetched == null) throw new HttpError(404, `object not found: ${url}`);
  return fetched.json;
}

async function authorOf(ctx, objectUrl) {
  const json = await fetchObject(ctx, objectUrl);
  const author = idOf(Array.isArray(json.attributedTo) ? json.attributedTo[0] : json.attributedTo) ?? idOf(json.actor);
  if (author == null) throw new HttpError(422, `${objectUrl} has no attributedTo`);
  return { json, author: await resolveActor(ctx, author) };
}

// ---------------------------------------------------------------------------------------------
// Delivering

class HttpError extends Error {
  constructor(status, message, extra = {}) {
    super(message);
    this.status = status;
    this.extra = extra;
  }
}

function recipientOf(actor) {
  return {
    id: new URL(actor.id),
    inboxId: new URL(actor.inbox),
    endpoints: actor.sharedInbox == null ? null : new Endpoints({ sharedInbox: new URL(actor.sharedInbox) }),
  };
}

// Delivers one activity to each distinct inbox of the recipients (sharedInbox if the recipient
// has one, which callers clear when Mastodon uses the personal inbox), one POST after another
// awaited, and throws an HttpError(502) naming the first inbox that refused.
async function deliver(ctx, keys, activity, recipients) {
  const inboxes = new Map();
  for (const r of recipients) {
    const inbox = r.sharedInbox ?? r.inbox;
    if (inbox == null || new URL(inbox).origin === ORIGIN_URL.origin) continue;
    if (!inboxes.has(inbox)) inboxes.set(inbox, r.id);
  }
  const sendKeys = args.proofs && keys[0] === aliceKey
    ? [aliceKey, { keyId: new URL(`${aliceUri}#key-2`), privateKey: aliceEd25519.privateKey }]
    : keys;
  const failures = [];
  await Promise.all(
    [...inboxes].map(async ([inbox, actorId]) => {
      const entry = { id: activity.id?.href, type: activity.constructor.name, inbox, ok: false, status: null, body: null, error: null };
      state.deliveries.push(entry);
      try {
        await deliveryScope.run(entry, () =>
          ctx.sendActivity(
            sendKeys,
            { id: new URL(actorId), inboxId: new URL(inbox), endpoints: null },
            activity,
            { immediate: true },
          ),
        );
        entry.ok = true;
      } catch (error) {
        const message = String(error?.message ?? error);
        const m = /\((\d{3})[^)]*\):\n([\s\S]*)$/.exec(message);
        if (m != null) entry.status = Number(m[1]);
        else if (!(entry.status >= 300)) entry.status = null;
        entry.body = m == null ? null : m[2];
        entry.error = message;
        failures.push(entry);
      }
    }),
  );
  if (failures.length > 0) {
    const f = failures[0];
    throw new HttpError(
      502,
      `delivery of ${f.type} ${f.id} to ${f.inbox} failed: ${f.status ?? "no answer"} ${f.body ?? f.error}`,
      { inbox: f.inbox, status: f.status, body: f.body },
    );
  }
  return [...inboxes.keys()];
}

function followerRecipients() {
  return [...state.followers.values()];
}

// ---------------------------------------------------------------------------------------------
// Content, like Mastodon renders it

function escapeHtml(text) {
  return String(text)
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&#39;");
}

function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function hashtagHtml(tag) {
  return `<a href="${escapeHtml(`${ORIGIN}/tags/${encodeURIComponent(tag)}`)}" class="mention hashtag" rel="tag">#<span>${escapeHtml(tag)}</span></a>`;
}

function mentionHtml(actor) {
  return `<span class="h-card" translate="no"><a href="${escapeHtml(actor.url)}" class="u-url mention">@<span>${escapeHtml(actor.preferredUsername)}</span></a></span>`;
}

function renderContent(text, tags, mentioned) {
  let html = escapeHtml(text ?? "");
  const prefix = [];
  for (const actor of mentioned) {
    const re = new RegExp(`(^|\\s)(${escapeRegExp(escapeHtml(actor.handle))}|@${escapeRegExp(escapeHtml(actor.preferredUsername))})(?=$|[\\s.,;:!?])`);
    if (re.test(html)) html = html.replace(re, (_, lead) => `${lead}${mentionHtml(actor)}`);
    else prefix.push(mentionHtml(actor));
  }
  const suffix = [];
  for (const tag of tags) {
    const re = new RegExp(`(^|\\s)#${escapeRegExp(escapeHtml(tag))}(?=$|[\\s.,;:!?])`, "i");
    if (re.test(html)) html = html.replace(re, (_, lead) => `${lead}${hashtagHtml(tag)}`);
    else suffix.push(hashtagHtml(tag));
  }
  if (prefix.length > 0) html = `${prefix.join(" ")} ${html}`;
  if (suffix.length > 0) html = `${html} ${suffix.join(" ")}`;
  return html
    .split(/\n{2,}/)
    .map((p) => `<p>${p.replaceAll("\n", "<br />")}</p>`)
    .join("");
}

function noteTags(tags, mentioned) {
  return [
    ...mentioned.map((a) => new Mention({ href: new URL(a.id), name: a.handle })),
    ...tags.map((t) => new Hashtag({ href: new URL(`${ORIGIN}/tags/${encodeURIComponent(t)}`), name: `#${t}` })),
  ];
}

function normaliseTags(tags) {
  if (tags == null) return [];
  if (!Array.isArray(tags)) throw new HttpError(400, "tags must be an array of strings");
  return tags.map((t) => String(t).replace(/^#/, "")).filter((t) => t !== "");
}

// ---------------------------------------------------------------------------------------------
// Control API

function contextFor() {
  return federation.createContext(new URL(ORIGIN), {});
}

function requireString(body, key) {
  const value = body?.[key];
  if (typeof value !== "string" || value === "") throw new HttpError(400, `"${key}" (a string) is required`);
  return value;
}

const controlRoutes = {
  async "POST /control/lookup"(body) {
    const q = requireString(body, "q");
    const ctx = contextFor();
    const fetched = await fetchJson(ctx, q);
    if (fetched == null) throw new HttpError(404, `not found: ${q}`);
    return {
      type: fetched.json?.type ?? null,
      id: fetched.json?.id ?? null,
      fedifyType: fetched.object?.constructor?.name ?? null,
      parseError: fetched.parseError,
      json: fetched.json,
    };
  },

  async "POST /control/follow"(body) {
    const ctx = contextFor();
    const target = await resolveActor(ctx, requireString(body, "target"));
    const follow = new Follow({
      id: new URL(`${ORIGIN}/${randomUUID()}`),
      actor: new URL(aliceUri),
      object: new URL(target.id),
    });
    const entry = { target: target.id, state: "pending", followId: follow.id.href, follow };
    const previous = state.following.get(target.id);
    state.following.set(target.id, entry);
    try {
      await deliver(ctx, [aliceKey], follow, [{ ...target, sharedInbox: null }]);
    } catch (error) {
      if (previous == null) state.following.delete(target.id);
      else state.following.set(target.id, previous);
      throw error;
    }
    return { id: follow.id.href, object: target.id };
  },

  async "POST /control/unfollow"(body) {
    const ctx = contextFor();
    const target = await resolveActor(ctx, requireString(body, "target"));
    const entry = state.following.get(target.id);
    if (entry == null) throw new HttpError(404, `not following ${target.id}`);
    const undo = new Undo({
      id: new URL(`${aliceUri}#follows/${randomUUID()}/undo`),
      actor: new URL(aliceUri),
      object: entry.follow,
    });
    await deliver(ctx, [aliceKey], undo, [{ ...target, sharedInbox: null }]);
    state.following.delete(target.id);
    return { id: undo.id.href, object: entry.followId };
  },

  async "POST /control/reply"(body) {
    const ctx = contextFor();
    // Without inReplyTo this is a top-level post, to alice's followers and the mentioned actors.
    const inReplyTo = body.inReplyTo == null ? null : requireString(body, "inReplyTo");
    const tags = normaliseTags(body.tags);
    const mentionUrls = body.mention ?? [];
    if (!Array.isArray(mentionUrls)) throw new HttpError(400, "mention must be an array of actor URLs");
    const author = inReplyTo == null ? null : (await authorOf(ctx, inReplyTo)).author;
    const mentioned = [];
    for (const url of mentionUrls) mentioned.push(await resolveActor(ctx, String(url)));
    const noteId = `${aliceUri}/notes/${randomUUID()}`;
    const published = Temporal.Now.instant();
    const recipients = dedupeActors([...(author == null ? [] : [author]), ...mentioned, ...followerRecipients()]);
    const entry = {
      text: body.content ?? "",
      tags,
      mentioned,
      inReplyTo,
      published,
      recipients,
      deleted: false,
      note: null,
      create: null,
      updates: 0,
    };
    entry.note = buildNote(noteId, entry, null);
    entry.create = new Create({
      id: new URL(`${noteId}/activity`),
      actor: new URL(aliceUri),
      published,
      tos: [PUBLIC_COLLECTION],
      ccs: entry.note.ccIds,
      object: entry.note,
    });
    state.notes.set(noteId, entry);
    await deliver(ctx, [aliceKey], entry.create, recipients);
    return { id: entry.create.id.href, object: noteId };
  },

  async "POST /control/update"(body) {
    const ctx = contextFor();
    const noteId = requireString(body, "id");
    const entry = state.notes.get(noteId);
    if (entry == null || entry.deleted) throw new HttpError(404, `no note ${noteId}`);
    if (body.content != null) entry.text = String(body.content);
    if (body.tags != null) entry.tags = normaliseTags(body.tags);
    const updated = Temporal.Now.instant();
    entry.note = buildNote(noteId, entry, updated);
    entry.create = new Create({
      id: entry.create.id,
      actor: new URL(aliceUri),
      published: entry.published,
      tos: [PUBLIC_COLLECTION],
      ccs: entry.note.ccIds,
      object: entry.note,
    });
    const update = new Update({
      id: new URL(`${noteId}#updates/${updated.epochMilliseconds}`),
      actor: new URL(aliceUri),
      published: updated,
      tos: [PUBLIC_COLLECTION],
      ccs: entry.note.ccIds,
      object: entry.note,
    });
    await deliver(ctx, [aliceKey], update, entry.recipients);
    return { id: update.id.href, object: noteId };
  },

  async "POST /control/delete"(body) {
    const ctx = contextFor();
    const noteId = requireString(body, "id");
    const entry = state.notes.get(noteId);
    if (entry == null || entry.deleted) throw new HttpError(404, `no note ${noteId}`);
    entry.deleted = true;
    const del = new Delete({
      id: new URL(`${noteId}#delete`),
      actor: new URL(aliceUri),
      tos: [PUBLIC_COLLECTION],
      object: new Tombstone({ id: new URL(noteId) }),
    });
    await deliver(ctx, [aliceKey], del, entry.recipients);
    return { id: del.id.href, object: noteId };
  },

  async "POST /control/vote"(body) {
    const ctx = contextFor();
    const questionUrl = requireString(body, "question");
    const option = requireString(body, "option");
    const { json, author } = await authorOf(ctx, questionUrl);
    if (json.type !== "Question") throw new HttpError(400, `${questionUrl} is a ${json.type}, not a Question`);
    const choices = [...asArray(json.oneOf), ...asArray(json.anyOf)].map((o) => o?.name);
    if (!choices.includes(option)) {
      throw new HttpError(400, `"${option}" is not an option of ${questionUrl}: ${JSON.stringify(choices)}`);
    }
    const voteId = `${aliceUri}#votes/${randomUUID()}`;
    const vote = new Note({
      id: new URL(voteId),
      name: option,
      attribution: new URL(aliceUri),
      replyTarget: new URL(json.id ?? questionUrl),
      tos: [new URL(author.id)],
    });
    const create = new Create({
      id: new URL(`${voteId}/activity`),
      actor: new URL(aliceUri),
      tos: [new URL(author.id)],
      object: vote,
    });
    await deliver(ctx, [aliceKey], create, [{ ...author, sharedInbox: null }]);
    return { id: create.id.href, object: voteId };
  },

  async "POST /control/like"(body) {
    const ctx = contextFor();
    const objectUrl = requireString(body, "object");
    const { author } = await authorOf(ctx, objectUrl);
    const like = new Like({
      id: new URL(`${aliceUri}#likes/${randomUUID()}`),
      actor: new URL(aliceUri),
      object: new URL(objectUrl),
    });
    await deliver(ctx, [aliceKey], like, [{ ...author, sharedInbox: null }]);
    state.likes.set(objectUrl, { like, author });
    return { id: like.id.href, object: objectUrl };
  },

  async "POST /control/undo-like"(body) {
    const ctx = contextFor();
    const objectUrl = requireString(body, "object");
    const entry = state.likes.get(objectUrl);
    if (entry == null) throw new HttpError(404, `alice has not liked ${objectUrl}`);
    const undo = new Undo({
      id: new URL(`${entry.like.id.href}/undo`),
      actor: new URL(aliceUri),
      object: entry.like,
    });
    await deliver(ctx, [aliceKey], undo, [{ ...entry.author, sharedInbox: null }]);
    state.likes.delete(objectUrl);
    return { id: undo.id.href, object: entry.like.id.href };
  },

  async "POST /control/announce"(body) {
    const ctx = contextFor();
    const objectUrl = requireString(body, "object");
    const { author } = await authorOf(ctx, objectUrl);
    const recipients = dedupeActors([author, ...followerRecipients()]);
    const announce = new Announce({
      id: new URL(`${aliceUri}/statuses/${randomUUID()}/activity`),
      actor: new URL(aliceUri),
      published: Temporal.Now.instant(),
      tos: [PUBLIC_COLLECTION],
      ccs: [new URL(author.id), new URL(followersUri)],
      object: new URL(objectUrl),
    });
    await deliver(ctx, [aliceKey], announce, recipients);
    state.announces.set(objectUrl, { announce, recipients });
    return { id: announce.id.href, object: objectUrl };
  },

  async "POST /control/undo-announce"(body) {
    const ctx = contextFor();
    const objectUrl = requireString(body, "object");
    const entry = state.announces.get(objectUrl);
    if (entry == null) throw new HttpError(404, `alice has not announced ${objectUrl}`);
    const undo = new Undo({
      id: new URL(`${aliceUri}#announces/${randomUUID()}/undo`),
      actor: new URL(aliceUri),
      tos: [PUBLIC_COLLECTION],
      object: entry.announce,
    });
    await deliver(ctx, [aliceKey], undo, entry.recipients);
    state.announces.delete(objectUrl);
    return { id: undo.id.href, object: entry.announce.id.href };
  },

  async "POST /control/flag"(body) {
    const ctx = contextFor();
    const target = requireString(body, "target");
    const objects = asArray(body.object).map(String);
    if (objects.length === 0) throw new HttpError(400, `"object" (a list of URLs) is required`);
    let inbox;
    let recipientId;
    if (/\/inbox\/?$/.test(new URL(target).pathname)) {
      inbox = target;
      recipientId = target;
    } else {
      const actor = await resolveActor(ctx, target);
      inbox = actor.inbox;
      recipientId = actor.id;
    }
    const flag = new Flag({
      id: new URL(`${ORIGIN}/${randomUUID()}`),
      actor: new URL(instanceUri),
      content: body.content ?? "",
      objects: objects.map((o) => new URL(o)),
    });
    await deliver(ctx, [instanceKey], flag, [{ id: recipientId, inbox, sharedInbox: null }]);
    return { id: flag.id.href, object: objects[0] };
  },

  async "POST /control/reset"() {
    state.inbox.length = 0;
    state.inboxLog.length = 0;
    state.deliveries.length = 0;
    state.errors.length = 0;
    state.timeline = [];
    state.ignored.length = 0;
    return { ok: true };
  },

  async "GET /control/inbox"() {
    return state.inbox;
  },
  async "GET /control/inbox-log"() {
    return state.inboxLog;
  },
  async "GET /control/timeline"() {
    return { items: state.timeline, ignored: state.ignored };
  },
  async "GET /control/following"() {
    return [...state.following.values()].map(({ target, state: s, followId }) => ({ target, state: s, followId }));
  },
  async "GET /control/followers"() {
    return [...state.followers.values()].map(({ id, inbox, sharedInbox }) => ({ id, inbox, sharedInbox }));
  },
  async "GET /control/deliveries"() {
    return state.deliveries;
  },
  async "GET /control/errors"() {
    return state.errors;
  },
  async "GET /control/notes"() {
    return [...state.notes.entries()].map(([id, n]) => ({ id, deleted: n.deleted, inReplyTo: n.inReplyTo }));
  },
};

function asArray(value) {
  if (value == null) return [];
  return Array.isArray(value) ? value : [value];
}

function dedupeActors(actors) {
  const seen = new Map();
  for (const a of actors) if (!seen.has(a.id)) seen.set(a.id, a);
  return [...seen.values()];
}

function buildNote(noteId, entry, updated) {
  const ccs = [new URL(followersUri), ...entry.mentioned.map((a) => new URL(a.id))];
  return new Note({
    id: new URL(noteId),
    attribution: new URL(aliceUri),
    content: renderContent(entry.text, entry.tags, entry.mentioned),
    replyTarget: entry.inReplyTo == null ? null : new URL(entry.inReplyTo),
    published: entry.published,
    updated,
    url: new URL(`${aliceUrl}/${noteId.split("/").pop()}`),
    tos: [PUBLIC_COLLECTION],
    ccs,
    sensitive: false,
    tags: noteTags(entry.tags, entry.mentioned),
  });
}

async function handleControl(request) {
  const url = new URL(request.url);
  const route = controlRoutes[`${request.method} ${url.pathname.replace(/\/+$/, "")}`];
  if (route == null) return json(404, { error: `no control route ${request.method} ${url.pathname}` });
  let body = null;
  if (request.method === "POST") {
    const text = await request.text();
    if (text.trim() !== "") {
      try {
        body = JSON.parse(text);
      } catch (error) {
        return json(400, { error: `body is not JSON: ${error.message}` });
      }
    }
  }
  try {
    await settle();
    const result = await route(body ?? {});
    await settle();
    return json(200, result);
  } catch (error) {
    if (error instanceof HttpError) return json(error.status, { error: error.message, ...error.extra });
    if (error?.code === "ERR_INVALID_URL") return json(400, { error: `invalid URL: ${error.input}` });
    recordError("control", { route: url.pathname, error: String(error?.stack ?? error) });
    return json(500, { error: String(error?.message ?? error) });
  }
}

function json(status, value) {
  return new Response(JSON.stringify(value), {
    status,
    headers: { "Content-Type": "application/json; charset=utf-8" },
  });
}

// ---------------------------------------------------------------------------------------------
// Routes Fedify doesn't serve: the instance actor (Mastodon's /actor, readable unsigned even in
// secure mode, as Mastodon does), its WebFinger, profile pages, and deleted notes (410).

async function instanceActorJson() {
  const ctx = contextFor();
  const app = new Application({
    id: new URL(instanceUri),
    preferredUsername: ORIGIN_URL.hostname,
    name: ORIGIN_URL.host,
    inbox: new URL(`${ORIGIN}/inbox`),
    outbox: new URL(`${instanceUri}/outbox`),
    endpoints: new Endpoints({ sharedInbox: new URL(`${ORIGIN}/inbox`) }),
    url: new URL(`${ORIGIN}/about/more?instance_actor=true`),
    manuallyApprovesFollowers: true,
    publicKey: new CryptographicKey({
      id: instanceKey.keyId,
      owner: new URL(instanceUri),
      publicKey: instanceRsa.publicKey,
    }),
  });
  return await app.toJsonLd({ format: "compact", contextLoader: ctx.contextLoader });
}

function wantsActivityJson(request) {
  const accept = request.headers.get("accept") ?? "";
  return /application\/activity\+json/.test(accept) || /application\/ld\+json/.test(accept);
}

async function handleLocal(request) {
  const url = new URL(request.url);
  const path = url.pathname;
  if (request.method === "GET" && path === "/actor") {
    return new Response(JSON.stringify(await instanceActorJson()), {
      headers: { "Content-Type": "application/activity+json", Vary: "Accept" },
    });
  }
  if (request.method === "GET" && path === "/.well-known/webfinger") {
    const resource = url.searchParams.get("resource");
    if (resource === `acct:${ORIGIN_URL.hostname}@${ORIGIN_URL.host}` || resource === instanceUri) {
      return new Response(
        JSON.stringify({
          subject: `acct:${ORIGIN_URL.hostname}@${ORIGIN_URL.host}`,
          aliases: [instanceUri],
          links: [{ rel: "self", type: "application/activity+json", href: instanceUri }],
        }),
        { headers: { "Content-Type": "application/jrd+json" } },
      );
    }
  }
  if (request.method === "GET" && /^\/users\/[^/]+\/notes\/[^/]+$/.test(path)) {
    const entry = state.notes.get(`${ORIGIN}${path}`);
    if (entry?.deleted) {
      return new Response(
        JSON.stringify({ "@context": AS_CONTEXT, id: `${ORIGIN}${path}`, type: "Tombstone" }),
        { status: 410, headers: { "Content-Type": "application/activity+json" } },
      );
    }
  }
  if (request.method === "GET" && path.startsWith(`/@${USERNAME}`) && !wantsActivityJson(request)) {
    return new Response(`<!doctype html><title>Alice Martin</title><p>${escapeHtml(path)}</p>`, {
      headers: { "Content-Type": "text/html; charset=utf-8" },
    });
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// HTTP server: node:http <-> fetch API, an inbox log around Fedify.

function isInboxPost(request) {
  if (request.method !== "POST") return false;
  const path = new URL(request.url).pathname;
  return path === "/inbox" || /^\/users\/[^/]+\/inbox$/.test(path);
}

async function handle(request) {
  const path = new URL(request.url).pathname;
  if (path.startsWith("/control/")) return await handleControl(request);
  const local = await handleLocal(request);
  if (local != null) return local;
  if (!isInboxPost(request)) {
    const scope = { logs: [], accepted: false, listenerError: null };
    return await requestScope.run(scope, () =>
      federation.fetch(request, {
        contextData: {},
        onUnauthorized: () => {
          // Secure mode refused an unsigned or badly signed GET: keep what it carried and why.
          const headers = {};
          for (const name of ["signature", "signature-input", "date", "host", "accept", "user-agent"]) {
            const value = request.headers.get(name);
            if (value != null) headers[name] = value;
          }
          const reasons = scope.logs.filter((l) => /fail|invalid|expired|too far|not match/i.test(l.line)).map((l) => l.line);
          recordError("unauthorized", { method: request.method, path, headers, reasons });
          return new Response("Unauthorized", { status: 401, headers: { "Content-Type": "text/plain" } });
        },
      }),
    );
  }
  const text = await request.clone().text();
  let raw = null;
  try {
    raw = JSON.parse(text);
  } catch {
    raw = null;
  }
  const scope = { logs: [], accepted: false, listenerError: null };
  let response;
  try {
    response = await requestScope.run(scope, () =>
      federation.fetch(request, { contextData: { raw } }),
    );
  } catch (error) {
    scope.logs.push({ level: "error", line: `exception: ${error?.stack ?? error}` });
    response = new Response(`Internal error: ${error?.message ?? error}`, { status: 500 });
  }
  const answer = await response.clone().text();
  let error = null;
  if (!response.ok) {
    const reasons = scope.logs
      .filter((l) => l.level !== "debug" || /fail|invalid|mismatch|expired|too far|not match|unsupported|error/i.test(l.line))
      .map((l) => l.line);
    error = [answer, scope.listenerError, ...reasons].filter((s) => s != null && s !== "").join(" | ");
    if (error.length > 4000) error = `${error.slice(0, 4000)}…`;
  }
  state.inboxLog.push({
    status: response.status,
    type: raw?.type ?? null,
    id: raw?.id ?? null,
    actor: idOf(raw?.actor),
    path,
    accepted: scope.accepted,
    error,
  });
  log(`inbox ${path} ${raw?.type ?? "?"} ${raw?.id ?? ""} -> ${response.status}${error ? ` (${error})` : ""}`);
  return response;
}

async function toRequest(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const body = Buffer.concat(chunks);
  const headers = new Headers();
  for (let i = 0; i < req.rawHeaders.length; i += 2) headers.append(req.rawHeaders[i], req.rawHeaders[i + 1]);
  const hasBody = !["GET", "HEAD"].includes(req.method) && body.length > 0;
  return new Request(new URL(req.url, ORIGIN), {
    method: req.method,
    headers,
    body: hasBody ? body : undefined,
    duplex: "half",
  });
}

const server = http.createServer(async (req, res) => {
  try {
    const request = await toRequest(req);
    const response = await handle(request);
    const headers = {};
    response.headers.forEach((value, key) => {
      headers[key] = value;
    });
    const body = Buffer.from(await response.arrayBuffer());
    res.writeHead(response.status, headers);
    res.end(req.method === "HEAD" ? undefined : body);
  } catch (error) {
    process.stderr.write(`peer: unhandled error: ${error?.stack ?? error}\n`);
    if (!res.headersSent) res.writeHead(500, { "Content-Type": "text/plain" });
    res.end(String(error?.message ?? error));
  }
});

server.on("error", (error) => {
  process.stderr.write(`peer: cannot listen on ${args.bind}:${PORT}: ${error.message}\n`);
  process.exit(1);
});
server.listen(PORT, args.bind, () => {
  process.stdout.write(`peer listening on ${ORIGIN}\n`);
});

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    server.close();
    process.exit(0);
  });
}
