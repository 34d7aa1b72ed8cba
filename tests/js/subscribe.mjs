// Subscribe to the hub's `events` with the reference graphql-ws client and print each event
// as one JSON line; stop after COUNT events, or print {"error": ...} and exit 1.
// Usage: node subscribe.mjs URL TOKEN AFTER COUNT
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const [url, token, after, count] = process.argv.slice(2);
const client = createClient({
  url,
  webSocketImpl: WebSocket,
  connectionParams: { Authorization: `Bearer ${token}` },
  retryAttempts: 0,
});
let seen = 0;
const query = "subscription($after: Int) { events(after: $after) { position type entityId } }";
client.subscribe(
  { query, variables: { after: Number(after) } },
  {
    next: (result) => {
      if (result.errors) {
        console.log(JSON.stringify({ error: result.errors }));
        process.exit(1);
      }
      console.log(JSON.stringify(result.data.events));
      seen += 1;
      if (seen >= Number(count)) {
        client.dispose();
        process.exit(0);
      }
    },
    error: (error) => {
      const detail = error && error.code ? { code: error.code, reason: error.reason } : String(error);
      console.log(JSON.stringify({ error: detail }));
      process.exit(1);
    },
    complete: () => process.exit(0),
  },
);
