// The hub's public GraphQL API, with the token pasted at sign-in (kept in sessionStorage only:
// it goes when the browser session ends).

const ENDPOINT = new URL("../graphql", document.baseURI).href;
const TOKEN = "hub.workbench.token";

export function token() {
  return sessionStorage.getItem(TOKEN);
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN, value);
  else sessionStorage.removeItem(TOKEN);
}

/** A GraphQL answer with errors: their messages, codes and whatever data came with them. */
export class ApiError extends Error {
  constructor(errors, data) {
    super(errors.map((e) => e.message).join("; "));
    this.errors = errors;
    this.codes = errors.map((e) => (e.extensions || {}).code);
    this.data = data;
  }

  /** The API has no such field (yet): a part of the page it does not support. */
  get unsupported() {
    return this.codes.includes("GRAPHQL_VALIDATION_FAILED");
  }
}

/** The data of `query`, or an `ApiError`. */
export async function gql(query, variables = {}) {
  const headers = { "Content-Type": "application/json" };
  const bearer = token();
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  let response;
  try {
    response = await fetch(ENDPOINT, {
      method: "POST",
      headers,
      body: JSON.stringify({ query, variables }),
    });
  } catch (error) {
    throw new ApiError([{ message: String(error), extensions: { code: "NETWORK" } }]);
  }
  let body;
  try {
    body = await response.json();
  } catch {
    const message = `HTTP ${response.status}`;
    throw new ApiError([{ message, extensions: { code: `HTTP_${response.status}` } }]);
  }
  if (body.errors && body.errors.length) {
    const refused = new ApiError(body.errors, body.data);
    if (refused.codes.includes("UNAUTHENTICATED") && bearer) {
      setToken(null); // expired or revoked: sign in again
      window.dispatchEvent(new CustomEvent("hub:signed-out", { detail: refused.message }));
    }
    throw refused;
  }
  return body.data;
}

/** A `datetime-local` input's value (the browser's time zone) as an instant the API takes. */
export function instant(local) {
  if (!local) return null;
  const when = new Date(local);
  return Number.isNaN(when.getTime()) ? null : when.toISOString();
}

/** An instant from the API as a `datetime-local` value in the browser's time zone, to the ms. */
export function localInput(iso) {
  const when = new Date(iso);
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  return (
    `${when.getFullYear()}-${pad(when.getMonth() + 1)}-${pad(when.getDate())}` +
    `T${pad(when.getHours())}:${pad(when.getMinutes())}:${pad(when.getSeconds())}` +
    `.${pad(when.getMilliseconds(), 3)}`
  );
}

/** An instant shown in the browser's time zone. */
export function shownTime(iso) {
  return iso ? localInput(iso).replace("T", " ") : "";
}
