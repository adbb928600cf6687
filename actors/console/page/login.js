// The login page: signs in with the one-time code of a login link (kept in
// the URL's fragment, which never reaches a server log) or a typed token.
const form = document.getElementById("login");
const message = document.getElementById("message");

function say(text) {
  message.textContent = text;
}

async function signIn(credential) {
  let response;
  try {
    response = await fetch("/api/login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(credential),
      credentials: "same-origin",
    });
  } catch {
    say("The agent cannot be reached. Is it running?");
    return;
  }
  if (response.ok) {
    location.replace("/");
    return;
  }
  const body = await response.json().catch(() => ({}));
  say(body.error ?? `Sign-in failed (${response.status})`);
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const token = form.elements.token.value.trim();
  if (token) signIn({ token });
});

// A link opened while this page shows changes only the fragment.
function useLink() {
  const code = new URLSearchParams(location.hash.slice(1)).get("code");
  if (!code) return false;
  // The code works once: take it out of the address bar and the history.
  history.replaceState(null, "", location.pathname);
  say("Signing in…");
  signIn({ code });
  return true;
}

addEventListener("hashchange", useLink);
if (!useLink()) document.getElementById("token").focus();
