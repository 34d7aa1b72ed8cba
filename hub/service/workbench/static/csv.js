// CSV made in the browser: UTF-8 with a byte-order mark, so that spreadsheet programs read the
// Chinese text right; cells that a spreadsheet would take for a formula are quoted as text.

const FORMULA = /^[=+\-@\t\r]/;

function cell(value) {
  let text =
    value === null || value === undefined
      ? ""
      : typeof value === "object"
        ? JSON.stringify(value)
        : String(value);
  if (FORMULA.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** The CSV text of `rows` under `headings`, lines ending CRLF (RFC 4180), with the BOM. */
export function csv(headings, rows) {
  return "\uFEFF" + [headings, ...rows].map((row) => row.map(cell).join(",")).join("\r\n") + "\r\n";
}

/** Let the browser save `text` as `name`. */
export function download(name, text) {
  const url = URL.createObjectURL(new Blob([text], { type: "text/csv;charset=utf-8" }));
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
