/**
 * The annotators' page: one HTML document with inline CSS and script, served as is (no build).
 * Sign in with a token (kept in sessionStorage only), pick a task, judge the next assignment with
 * a click or the keys 1 (A), 2 (B), 3 (tie); every text is set with textContent, never as HTML.
 */
export const ANNOTATOR_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Lathe preferences</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; }
  .hidden { display: none; }
  .pair { display: flex; gap: 1rem; }
  .pair section { flex: 1; border: 1px solid #bbb; border-radius: 6px; padding: .75rem; white-space: pre-wrap; }
  .prompt { background: #f4f4f4; padding: .75rem; border-radius: 6px; white-space: pre-wrap; }
  button { font-size: 1rem; margin: .5rem .5rem 0 0; padding: .4rem 1rem; }
  #error { color: #a00; }
  textarea { width: 100%; }
</style>
</head>
<body>
<h1>Lathe preferences</h1>
<p id="error" role="alert"></p>
<form id="signin">
  <label>Token <input id="token" type="password" autocomplete="off" size="60"></label>
  <button type="submit">Sign in</button>
</form>
<div id="work" class="hidden">
  <p>Signed in as <span id="who"></span>. Task <select id="task"></select> &middot; judged: <span id="done">0</span></p>
  <p id="instructions"></p>
  <div id="item" class="hidden">
    <div class="prompt" id="prompt"></div>
    <div class="pair">
      <section><h2>Response 1</h2><div id="a"></div></section>
      <section><h2>Response 2</h2><div id="b"></div></section>
    </div>
    <textarea id="rationale" rows="2" placeholder="Why (optional)"></textarea>
    <div>
      <button data-choice="A">1 &middot; Response 1 is better</button>
      <button data-choice="B">2 &middot; Response 2 is better</button>
      <button data-choice="TIE" id="tie">3 &middot; Tie</button>
    </div>
  </div>
  <p id="empty" class="hidden">Nothing to judge right now.</p>
</div>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
let current = null, shownAt = 0, busy = false;
const token = () => sessionStorage.getItem("lathe-token") || "";
async function api(method, path, body) {
  const res = await fetch(path, { method, headers: { authorization: "Bearer " + token(), "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body) });
  const json = await res.json();
  if (!res.ok) throw new Error(json.error || res.statusText);
  return json;
}
function showError(e) { $("error").textContent = e ? String(e.message || e) : ""; }
async function signIn() {
  const me = await api("GET", "/api/me");
  $("who").textContent = me.annotatorId;
  const select = $("task");
  select.replaceChildren(...me.tasks.map((t) => { const o = document.createElement("option"); o.value = t.id; o.textContent = t.displayName; return o; }));
  $("signin").classList.add("hidden");
  $("work").classList.remove("hidden");
  await loadNext();
}
async function loadNext() {
  const taskId = $("task").value;
  if (!taskId) { $("empty").classList.remove("hidden"); return; }
  const next = await api("GET", "/api/tasks/" + encodeURIComponent(taskId) + "/next");
  $("done").textContent = String(next.done);
  current = next.assignment;
  $("item").classList.toggle("hidden", current === null);
  $("empty").classList.toggle("hidden", current !== null);
  if (current === null) return;
  $("instructions").textContent = current.instructions;
  $("prompt").textContent = current.prompt.map((m) => m.content).join("\\n\\n");
  $("a").textContent = current.a;
  $("b").textContent = current.b;
  $("tie").disabled = !current.allowTie;
  $("rationale").value = "";
  shownAt = performance.now();
  document.body.dataset.assignment = current.id;
}
async function choose(choice) {
  if (current === null || busy) return;
  if (choice === "TIE" && !current.allowTie) return;
  busy = true;
  try {
    await api("POST", "/api/judgements", { assignmentId: current.id, choice, rationale: $("rationale").value,
      timeSpentMs: Math.round(performance.now() - shownAt), idempotencyKey: crypto.randomUUID() });
    showError(null);
    await loadNext();
  } catch (e) { showError(e); } finally { busy = false; }
}
$("signin").addEventListener("submit", (ev) => {
  ev.preventDefault();
  sessionStorage.setItem("lathe-token", $("token").value.trim());
  signIn().then(() => showError(null), showError);
});
$("task").addEventListener("change", () => loadNext().catch(showError));
document.querySelectorAll("button[data-choice]").forEach((b) => b.addEventListener("click", () => choose(b.dataset.choice)));
document.addEventListener("keydown", (ev) => {
  if (ev.target instanceof HTMLTextAreaElement || ev.target instanceof HTMLInputElement) return;
  const choice = { "1": "A", "2": "B", "3": "TIE" }[ev.key];
  if (choice) choose(choice);
});
if (token()) signIn().catch(showError);
</script>
</body>
</html>
`;
