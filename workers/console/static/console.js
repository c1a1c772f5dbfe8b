// Progressive enhancement only: every form works without this file.
// A form marked data-progress shows its <progress> and disables its buttons while the server
// works (a provider check or a replay can take seconds), so nobody submits it twice.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-progress")) return;
  const bar = form.querySelector("progress");
  if (bar) bar.hidden = false;
  form.setAttribute("aria-busy", "true");
  // after the submission has started: a disabled button would not be submitted
  setTimeout(() => form.querySelectorAll("button").forEach((b) => { b.disabled = true; }), 0);
});
