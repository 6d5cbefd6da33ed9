// chat-debouncer local console: one Server-Sent Events stream (/local/stream) drives every view; the page never
// polls. Countdowns run on the client from the server's deadlines, corrected for the clock offset the server's
// `now` reveals. All data reaches the DOM through textContent or attributes, never as HTML.

const STREAM_URL = "/local/stream";
const TICK_MS = 100;
const CHANNEL_NAMES = { whatsapp: "WhatsApp", telegram: "Telegram", instagram: "Instagram", generic: "Generic" };
// Kinds worth a spoken announcement: the moments a burst changes hands.
const ANNOUNCED = new Set(["flush", "claimed", "answered", "delivered", "ai_failed", "superseded", "withheld", "dead_lettered"]);

const state = {
  settings: null,
  conversations: new Map(), // key_ref -> {data, card, eventKeys}
  clockOffset: 0, // server clock minus client clock, seconds
  offsetSamples: [],
  replays: new Map(), // replay id -> {section, list, rows: Map}
};

// ---- small DOM helpers (text only) -------------------------------------------------------------------------------

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "className") node.className = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

const byId = (id) => document.getElementById(id);
const isNumber = (value) => typeof value === "number" && Number.isFinite(value);
const plural = (count, word) => `${count} ${word}${count === 1 ? "" : "s"}`;

// ---- time ---------------------------------------------------------------------------------------------------------

function serverNow() {
  return Date.now() / 1000 + state.clockOffset;
}

// The server stamps `now` when it writes; the page reads it later, so each sample underestimates the offset by the
// delivery delay: the largest recent sample is the closest.
function sampleClock(now) {
  if (!isNumber(now)) return;
  state.offsetSamples.push(now - Date.now() / 1000);
  if (state.offsetSamples.length > 20) state.offsetSamples.shift();
  state.clockOffset = Math.max(...state.offsetSamples);
}

function seconds(value) {
  const magnitude = Math.abs(value);
  return magnitude < 10 ? `${magnitude.toFixed(1)} s` : `${Math.round(magnitude)} s`;
}

// "in 3.2 s" before the deadline, "2.0 s late" after it.
function untilText(remaining) {
  return remaining >= 0 ? `in ${seconds(remaining)}` : `${seconds(remaining)} late`;
}

function clock(epoch) {
  if (!isNumber(epoch)) return "";
  const date = new Date(epoch * 1000);
  const pad = (n, width = 2) => String(n).padStart(width, "0");
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

// ---- events in words (the wording of `debouncer explain`, src/debouncer/ops/explain.py) --------------------------

function describe(event) {
  const d = event.details && typeof event.details === "object" ? event.details : {};
  const at = event.at;
  const after = (epoch) => (isNumber(epoch) && isNumber(at) ? ` (${epoch >= at ? "+" : "−"}${seconds(epoch - at)})` : "");
  const parts = [];
  switch (event.kind) {
    case "message": {
      parts.push(`message #${d.index ?? "?"}`);
      if (d.kind && d.kind !== "text") parts.push(`(${d.kind})`);
      if (isNumber(d.media)) parts.push(plural(d.media, "media item"));
      parts.push(`${plural(d.chars ?? 0, "char")}`);
      break;
    }
    case "cap_set":
      parts.push(`max-wait cap at ${clock(d.cap_deadline)}${after(d.cap_deadline)}`);
      break;
    case "deadline_moved":
      parts.push(`quiet deadline moved to ${clock(d.quiet_deadline)}${after(d.quiet_deadline)}`);
      break;
    case "edit":
      parts.push(`message #${d.index ?? "?"} edited`);
      break;
    case "paused":
      parts.push(d.until ? `paused (human handoff) until ${d.until}` : "paused (human handoff)");
      break;
    case "timer_started":
      parts.push(d.flush ? "flush timer started (no wait)" : "debounce timer started");
      if (d.status) parts.push(`status=${d.status}`);
      break;
    case "flush":
      parts.push(`flushed early: reason=${d.reason ?? "early"}`);
      break;
    case "deletes_applied":
      parts.push(`${plural(d.messages ?? 0, "deleted message")} dropped`);
      break;
    case "duplicates_dropped":
      parts.push(`${plural(d.messages ?? 0, "duplicate")} dropped`);
      break;
    case "claimed": {
      parts.push(`claimed ${plural(d.messages ?? 0, "message")}: reason=${d.reason ?? "unknown"}`);
      if (isNumber(d.ideal_at) && isNumber(at)) {
        const late = at - d.ideal_at;
        parts.push(late > 0.05 ? `${seconds(late)} after the ideal deadline` : "on time");
      }
      if (Array.isArray(d.carries) && d.carries.length) parts.push(`carries bursts ${d.carries.join(", ")}`);
      if (isNumber(d.held)) parts.push(`${plural(d.held, "message")} held`);
      break;
    }
    case "media_read":
      parts.push(`${plural(d.items ?? 0, "media item")} read`);
      break;
    case "answered":
      parts.push(isNumber(d.ai_latency) ? `answered: ai_latency=${d.ai_latency.toFixed(3)}s` : "answered");
      if (d.fallback) parts.push(`fallback answer${d.ai_failure ? ` (ai_failure=${d.ai_failure})` : ""}`);
      break;
    case "ai_failed":
      parts.push(isNumber(d.ai_latency) ? `AI failed after ${d.ai_latency.toFixed(3)}s` : "AI failed");
      break;
    case "superseded":
      parts.push(d.by === null || d.by === undefined ? "superseded: answer dropped" : `superseded by burst ${d.by}`);
      break;
    case "withheld":
      parts.push(`answer withheld${d.reason ? `: reason=${d.reason}` : ""}`);
      break;
    case "part_sent":
      parts.push(`reply part ${d.part ?? "?"} sent`);
      break;
    case "delivered":
      parts.push(`delivered ${plural(d.parts ?? 0, "part")}`);
      if (isNumber(d.lateness)) parts.push(d.lateness > 0 ? `${seconds(d.lateness)} late` : "on time");
      break;
    case "dead_lettered":
      parts.push(`dead-lettered (DLQ): reason=${d.reason ?? "unknown"}`);
      if (d.cause) parts.push(`cause=${String(d.cause).slice(0, 200)}`);
      break;
    case "waiting":
      parts.push(`waiting: ${plural(d.messages ?? 0, "message")}`);
      if (d.deleted) parts.push(`${d.deleted} deleted`);
      break;
    default:
      // An unknown kind: its particulars as explain prints them, name=value.
      for (const [name, value] of Object.entries(d)) parts.push(`${name}=${typeof value === "string" ? value : JSON.stringify(value)}`);
  }
  return parts.join(" · ");
}

// ---- conversations ------------------------------------------------------------------------------------------------

function timingFor(conversation) {
  const settings = state.settings || {};
  const tenants = Array.isArray(settings.tenants) ? settings.tenants : [];
  const tenant = tenants.find((t) => t.channel === conversation.channel && String(t.account) === String(conversation.account));
  return {
    debounce: (tenant && tenant.debounce_seconds) || settings.debounce_seconds || null,
    maxWait: (tenant && tenant.max_wait_seconds) || settings.max_wait_seconds || null,
  };
}

// Burst ids are the epoch milliseconds of their first message: shown as 1, 2, 3... within their conversation.
function burstOrdinals(events) {
  const ids = [...new Set(events.map((event) => event.burst).filter((burst) => burst !== null && burst !== undefined))];
  ids.sort((a, b) => Number(a) - Number(b));
  return new Map(ids.map((id, index) => [id, index + 1]));
}

function eventKey(event) {
  return `${event.kind}|${event.at}|${event.burst}|${JSON.stringify(event.details ?? {})}`;
}

function buildCard(conversation) {
  const channel = String(conversation.channel ?? "");
  const heading = el(
    "h3",
    {},
    el("span", { className: "channel" }, CHANNEL_NAMES[channel] || channel),
    el("span", { className: "recipient" }, String(conversation.recipient ?? "")),
    conversation.account ? el("span", { className: "muted" }, `account ${conversation.account}`) : null,
  );
  const open = el("div", { className: "open-burst", "aria-label": "open burst" });
  const timeline = el("ol", { className: "timeline", "aria-label": "timeline" });
  const card = el(
    "article",
    {
      className: "conversation",
      dataset: { key: String(conversation.key_ref ?? ""), channel, recipient: String(conversation.recipient ?? "") },
    },
    heading,
    open,
    timeline,
  );
  return { card, open, timeline };
}

function renderOpen(entry) {
  const { data, open } = entry;
  const burst = data.open;
  const events = Array.isArray(data.timeline) ? data.timeline.filter((event) => event && event.kind !== "waiting") : [];
  const last = events[events.length - 1];
  const signature = burst ? `${burst.burst}|${burst.quiet_deadline}|${burst.cap_deadline}` : `idle|${last ? eventKey(last) : ""}`;
  if (open.dataset.signature === signature) return;
  open.dataset.signature = signature;
  open.replaceChildren();
  if (!burst) {
    open.dataset.state = "idle";
    open.append(el("p", { className: "idle" }, "No open burst: the next message starts one."));
    if (last) {
      const ordinal = burstOrdinals(events).get(last.burst);
      open.append(el("p", { className: "idle" }, `Last: ${ordinal ? `burst #${ordinal} · ` : ""}${describe(last)}`));
    }
    return;
  }
  open.dataset.state = "open";
  const timing = timingFor(data);
  const ordinal = burstOrdinals(Array.isArray(data.timeline) ? data.timeline : []).get(burst.burst);
  open.append(el("span", { className: "title" }, `Burst ${ordinal ?? "?"} open, waiting for quiet`));
  const row = (label, deadline, span, kind) => {
    if (!isNumber(deadline)) return;
    open.append(
      el("span", {}, label),
      el("span", { className: `countdown ${kind}`, dataset: { deadline: String(deadline), span: String(span ?? "") } }, ""),
      el("span", { className: `bar ${kind}`, "aria-hidden": "true" }, el("span", { dataset: { deadline: String(deadline), span: String(span ?? "") } })),
    );
  };
  row("quiet deadline", burst.quiet_deadline, timing.debounce, "quiet");
  row("max-wait cap", burst.cap_deadline, timing.maxWait, "cap");
  tick();
}

function renderTimeline(entry, previousKeys) {
  const { data, timeline } = entry;
  const events = (Array.isArray(data.timeline) ? data.timeline : []).filter(
    // While a burst is open its countdown stands for the "waiting" event.
    (event) => event && typeof event === "object" && !(event.kind === "waiting" && data.open),
  );
  const ordinals = burstOrdinals(events);
  const keys = events.map((event) => `${eventKey(event)}|${ordinals.get(event.burst)}`);
  let same = 0;
  while (same < keys.length && same < previousKeys.length && keys[same] === previousKeys[same]) same += 1;
  // Only what changed is redrawn: new events are appended, earlier ones stay put.
  while (timeline.children.length > same) timeline.lastElementChild.remove();
  const firstOfBurst = new Map();
  for (const event of events) if (!firstOfBurst.has(event.burst) && isNumber(event.at)) firstOfBurst.set(event.burst, event.at);
  const fresh = [];
  for (let index = same; index < events.length; index += 1) {
    const event = events[index];
    const start = firstOfBurst.get(event.burst);
    // Within a burst, time since its first message; outside any (a pause), the clock time.
    const inBurst = event.burst !== null && event.burst !== undefined;
    const offset = inBurst && isNumber(start) && isNumber(event.at) ? `+${(event.at - start).toFixed(2)} s` : "";
    const previous = events[index - 1];
    const item = el(
      "li",
      {
        dataset: { kind: String(event.kind ?? ""), burst: String(event.burst ?? "") },
        className: previous && previous.burst !== event.burst ? "burst-start" : "",
      },
      el(
        "span",
        { className: "when" },
        el("time", { datetime: isNumber(event.at) ? new Date(event.at * 1000).toISOString() : null, title: clock(event.at) }, offset || clock(event.at).slice(0, 8)),
      ),
      el(
        "span",
        { className: "kind" },
        String(event.kind ?? "?"),
        ordinals.has(event.burst) ? el("span", { className: "muted", title: `burst ${event.burst}` }, ` #${ordinals.get(event.burst)}`) : null,
      ),
      el(
        "span",
        { className: "what" },
        describe(event),
        event.kind === "message" ? el("span", { className: "muted" }, ` · ${CHANNEL_NAMES[data.channel] || data.channel}`) : null,
        typeof event.details?.text === "string" ? el("span", { className: "text" }, `: “${event.details.text}”`) : null,
      ),
    );
    if (previousKeys.length) item.classList.add("fresh");
    timeline.append(item);
    fresh.push(event);
  }
  return { keys, fresh };
}

function announce(conversation, events) {
  const said = events.filter((event) => ANNOUNCED.has(event.kind));
  if (!said.length) return;
  const who = `${CHANNEL_NAMES[conversation.channel] || conversation.channel} ${conversation.recipient ?? ""}`;
  const last = said[said.length - 1];
  setText(byId("announcer"), `${who}: ${describe(last)}`);
}

function upsertConversation(conversation) {
  if (!conversation || typeof conversation !== "object" || conversation.key_ref === undefined) return;
  sampleClock(conversation.now);
  const key = String(conversation.key_ref);
  let entry = state.conversations.get(key);
  const isNew = !entry;
  if (isNew) {
    entry = { ...buildCard(conversation), eventKeys: [] };
    state.conversations.set(key, entry);
    // Newest conversations first; a card never moves once placed, so the page does not jump as they change.
    byId("conversation-list").prepend(entry.card);
    byId("conversations-empty").hidden = true;
  }
  entry.data = conversation;
  renderOpen(entry);
  const { keys, fresh } = renderTimeline(entry, entry.eventKeys);
  entry.eventKeys = keys;
  if (!isNew) announce(conversation, fresh);
}

function resetConversations(conversations) {
  state.conversations.clear();
  byId("conversation-list").replaceChildren();
  byId("conversations-empty").hidden = false;
  // Oldest first, so that prepending leaves the newest on top.
  for (const conversation of [...conversations].reverse()) upsertConversation(conversation);
}

// ---- the countdown tick (display only: it reads no server) --------------------------------------------------------

function tick() {
  const now = serverNow();
  for (const node of document.querySelectorAll(".open-burst [data-deadline]")) {
    const remaining = Number(node.dataset.deadline) - now;
    if (node.classList.contains("countdown")) {
      setText(node, untilText(remaining));
      node.dataset.remaining = remaining.toFixed(1);
      node.dataset.late = String(remaining < 0);
    } else {
      const span = Number(node.dataset.span);
      const fraction = span > 0 ? Math.min(1, Math.max(0, remaining / span)) : 0;
      node.style.transform = `scaleX(${fraction.toFixed(3)})`;
    }
  }
}

// ---- settings -----------------------------------------------------------------------------------------------------

function renderSettings(settings) {
  if (!settings || typeof settings !== "object") return;
  state.settings = settings;
  const list = byId("settings");
  const rows = [
    ["debounce_seconds", isNumber(settings.debounce_seconds) ? `${settings.debounce_seconds} s` : "?"],
    ["max_wait_seconds", isNumber(settings.max_wait_seconds) ? `${settings.max_wait_seconds} s` : "?"],
    ["max_messages", settings.max_messages ?? "?"],
    ["flush_keywords", Array.isArray(settings.flush_keywords) && settings.flush_keywords.length ? settings.flush_keywords.join(", ") : "none"],
    ["ai_provider", settings.ai_provider ?? "?"],
  ];
  list.replaceChildren(...rows.flatMap(([name, value]) => [el("dt", {}, name), el("dd", {}, String(value))]));

  const tenants = Array.isArray(settings.tenants) ? settings.tenants : [];
  const holder = byId("tenants");
  holder.replaceChildren();
  const select = byId("compose-tenant");
  const chosen = select.value;
  select.replaceChildren(el("option", { value: "" }, "Deployment default"));
  byId("compose-tenant-field").hidden = tenants.length === 0;
  if (!tenants.length) return;
  const inSeconds = (value) => (isNumber(value) ? `${value} s` : "?");
  holder.append(
    el("h3", { className: "tenants-title" }, `Tenants (${tenants.length}), with their effective timing`),
    el(
      "ul",
      { className: "tenants" },
      ...tenants.map((t) =>
        el(
          "li",
          { dataset: { tenant: String(t.id ?? "") } },
          el("strong", {}, String(t.id ?? "?")),
          ` · ${CHANNEL_NAMES[t.channel] || t.channel} account ${t.account ?? "?"}: `,
          `debounce ${inSeconds(t.debounce_seconds)}, max wait ${inSeconds(t.max_wait_seconds)}, max ${t.max_messages ?? "?"} messages`,
        ),
      ),
    ),
  );
  for (const tenant of tenants) {
    select.append(el("option", { value: String(tenant.id) }, `${tenant.id} (${CHANNEL_NAMES[tenant.channel] || tenant.channel})`));
  }
  if ([...select.options].some((o) => o.value === chosen)) select.value = chosen;
}

// ---- replay -------------------------------------------------------------------------------------------------------

function replayEntry(id) {
  let entry = state.replays.get(id);
  if (entry) return entry;
  const verdict = el("span", { className: "verdict", dataset: { status: "running" } }, "running");
  const list = el("ul", {});
  const section = el("section", { className: "replay-run", dataset: { replay: id } }, el("h3", {}, `Replay ${id}: `, verdict), list);
  byId("replay-results").prepend(section);
  entry = { section, verdict, list, rows: new Map() };
  state.replays.set(id, entry);
  return entry;
}

const VERDICT_WORDS = { running: "… running", passed: "✓ passed", failed: "✗ failed", late: "? not judged (server too slow)" };

function onReplay(update) {
  if (!update || typeof update !== "object" || update.replay === undefined) return;
  const entry = replayEntry(String(update.replay));
  if (update.done) {
    const status = update.passed ? "passed" : "failed";
    entry.section.dataset.status = status;
    entry.verdict.dataset.status = status;
    setText(entry.verdict, status === "passed" ? "all expectations passed" : "some expectations failed");
    setText(byId("replay-status"), `Replay ${update.replay}: ${status}.`);
    return;
  }
  const file = String(update.file ?? "");
  const burst = String(update.burst ?? "");
  const rowKey = `${file}\u0000${burst}`;
  let row = entry.rows.get(rowKey);
  if (!row) {
    const verdict = el("span", { className: "verdict" }, "");
    const detail = el("span", { className: "muted detail" }, "");
    row = el("li", { dataset: { file, burst } }, verdict, " ", el("strong", {}, file), burst ? ` · ${burst}` : "", " ", detail);
    row.verdictNode = verdict;
    row.detailNode = detail;
    entry.rows.set(rowKey, row);
    entry.list.append(row);
  }
  const status = String(update.status ?? "running");
  row.dataset.status = status;
  setText(row.verdictNode, VERDICT_WORDS[status] || status);
  setText(row.detailNode, update.detail ? `— ${update.detail}` : "");
}

async function loadFixtures() {
  const status = byId("fixtures-status");
  try {
    const response = await fetch("/local/fixtures", { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const fixtures = await response.json();
    const list = byId("fixture-list");
    list.replaceChildren();
    for (const [index, fixture] of (Array.isArray(fixtures) ? fixtures : []).entries()) {
      const id = `fixture-${index}`;
      const counts = [isNumber(fixture.events) ? plural(fixture.events, "event") : null, isNumber(fixture.bursts) ? plural(fixture.bursts, "burst") : null]
        .filter(Boolean)
        .join(", ");
      list.append(
        el(
          "li",
          {},
          el("input", { type: "checkbox", id, name: "files", value: String(fixture.name ?? ""), "aria-describedby": `${id}-about` }),
          " ",
          el("label", { for: id }, String(fixture.name ?? "")),
          el("p", { className: "hint about", id: `${id}-about`, title: fixture.description ?? null }, [counts, fixture.description].filter(Boolean).join(" — ")),
        ),
      );
    }
    setText(status, list.children.length ? `${plural(list.children.length, "fixture")}: pick some, then Play.` : "No fixture found.");
  } catch (error) {
    setText(status, `Could not list the fixtures (${error.message}).`);
  }
}

async function playReplay(event) {
  event.preventDefault();
  const files = [...document.querySelectorAll('#fixture-list input[name="files"]:checked')].map((input) => input.value);
  const status = byId("replay-status");
  status.dataset.tone = "";
  if (!files.length) {
    status.dataset.tone = "bad";
    setText(status, "Pick at least one fixture.");
    return;
  }
  const button = byId("replay-play");
  button.disabled = true;
  try {
    const response = await fetch("/local/replay", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ files, speed: Number(byId("replay-speed").value) || 1 }),
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      status.dataset.tone = "bad";
      setText(status, `Replay refused (HTTP ${response.status}): ${body.error ?? "no reason given"}`);
      return;
    }
    replayEntry(String(body.replay));
    setText(status, `Replay ${body.replay} started: ${plural(files.length, "fixture")}.`);
  } catch (error) {
    status.dataset.tone = "bad";
    setText(status, `Replay failed: ${error.message}`);
  } finally {
    button.disabled = false;
  }
}

// ---- composer -----------------------------------------------------------------------------------------------------

async function send(event) {
  event.preventDefault();
  const text = byId("compose-text");
  const user = byId("compose-user");
  const status = byId("compose-status");
  status.dataset.tone = "";
  if (!text.value.trim() || !user.value.trim()) {
    status.dataset.tone = "bad";
    setText(status, !user.value.trim() ? "Give a user id." : "Type a message first.");
    (!user.value.trim() ? user : text).focus();
    return;
  }
  const message = { channel: byId("compose-channel").value, user: user.value.trim(), text: text.value };
  const tenant = byId("compose-tenant").value;
  if (tenant) message.tenant = tenant;
  text.value = "";
  setText(status, "Sending…");
  try {
    const response = await fetch("/local/compose", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(message),
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      status.dataset.tone = "bad";
      setText(status, `Not sent (HTTP ${response.status}): ${body.error ?? "no reason given"}`);
      if (!text.value) text.value = message.text;
      return;
    }
    const webhook = body.status;
    status.dataset.tone = isNumber(webhook) && webhook >= 400 ? "bad" : "ok";
    setText(status, `Sent to ${CHANNEL_NAMES[message.channel]}: the webhook answered ${webhook ?? "?"}.`);
  } catch (error) {
    status.dataset.tone = "bad";
    setText(status, `Not sent: ${error.message}`);
    if (!text.value) text.value = message.text;
  }
}

function onComposerKey(event) {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    byId("composer").requestSubmit();
  }
}

// ---- the stream ---------------------------------------------------------------------------------------------------

function parse(message) {
  try {
    return JSON.parse(message.data);
  } catch {
    return null;
  }
}

function setConnection(stateName, text) {
  const node = byId("connection");
  node.dataset.state = stateName;
  setText(node, text);
}

function connect() {
  const source = new EventSource(STREAM_URL);
  source.addEventListener("open", () => setConnection("live", "Live"));
  source.addEventListener("error", () => {
    // EventSource reconnects by itself (the server's retry), and a new snapshot follows.
    setConnection(source.readyState === EventSource.CLOSED ? "closed" : "reconnecting", source.readyState === EventSource.CLOSED ? "Disconnected: reload the page" : "Reconnecting…");
  });
  source.addEventListener("snapshot", (message) => {
    const snapshot = parse(message);
    if (!snapshot) return;
    state.offsetSamples = [];
    sampleClock(snapshot.now);
    renderSettings(snapshot.settings);
    resetConversations(Array.isArray(snapshot.conversations) ? snapshot.conversations : []);
    setConnection("live", "Live");
    document.body.dataset.ready = "true";
  });
  source.addEventListener("conversation", (message) => upsertConversation(parse(message)));
  source.addEventListener("replay", (message) => onReplay(parse(message)));
}

function start() {
  byId("composer").addEventListener("submit", send);
  byId("compose-text").addEventListener("keydown", onComposerKey);
  byId("replay-form").addEventListener("submit", playReplay);
  setInterval(tick, TICK_MS);
  loadFixtures();
  connect();
}

start();
