import NIOCore

/// The dashboard's stylesheet and script, compiled into the binary and served under `/ui/assets/`
/// (no CDN: the dashboard works offline). The script only copies configs and follows the audit
/// tail; every page works without it.
enum DashboardAssets {
    static let files: [String: (type: String, body: ByteBuffer)] = [
        "app.css": ("text/css; charset=utf-8", ByteBuffer(string: css)),
        "app.js": ("text/javascript; charset=utf-8", ByteBuffer(string: js)),
    ]

    static let css = """
        :root { --fg: #1b1f24; --muted: #4a5560; --bg: #ffffff; --card: #f5f7f9; --line: #d0d7de;
                --accent: #0b5cad; --ok: #116329; --bad: #a40e26; --warn: #7d4e00; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
        a { color: var(--accent); }
        a:focus, button:focus, input:focus, select:focus, summary:focus { outline: 3px solid #f0b400; outline-offset: 2px; }
        .skip { position: absolute; left: -10000px; }
        .skip:focus { left: 8px; top: 8px; background: #fff; padding: 4px 8px; }
        header.top { display: flex; flex-wrap: wrap; gap: 12px 24px; align-items: center; padding: 10px 20px; border-bottom: 1px solid var(--line); }
        .brand { font-weight: 700; font-size: 1.2em; }
        nav a { margin-right: 14px; text-decoration: none; }
        nav a[aria-current="page"] { font-weight: 700; text-decoration: underline; }
        .signout { margin-left: auto; display: flex; gap: 10px; align-items: center; }
        .who { color: var(--muted); }
        main { padding: 12px 20px 40px; max-width: 1200px; }
        h1 { font-size: 1.6em; margin: 0.4em 0; }
        ul.servers { list-style: none; padding: 0; display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr)); gap: 12px; }
        .card { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: 12px 16px; margin: 12px 0; }
        .card h3 { margin: 0 0 6px; font-size: 1.1em; }
        .narrow { max-width: 420px; }
        .tag { display: inline-block; border: 1px solid var(--line); border-radius: 10px; padding: 0 8px; font-size: 0.8em; color: var(--muted); }
        .status { font-size: 0.8em; padding: 0 6px; border-radius: 4px; }
        .status.ok { color: var(--ok); } .status.bad { color: var(--bad); } .status.unknown { color: var(--muted); }
        code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 0.9em; overflow-wrap: anywhere; }
        pre { background: #fff; border: 1px solid var(--line); padding: 10px; overflow-x: auto; white-space: pre-wrap; }
        table { border-collapse: collapse; width: 100%; margin: 8px 0; }
        th, td { text-align: left; vertical-align: top; border-bottom: 1px solid var(--line); padding: 6px 8px; }
        tr.denied td:last-child strong, td.denied a { color: var(--bad); }
        tr.allowed td:last-child strong, td.allowed a { color: var(--ok); }
        tr.deny td:nth-child(6) { color: var(--bad); font-weight: 600; }
        tr.expired td, tr.expiring td:nth-child(2) { color: var(--warn); font-weight: 600; }
        .reason { color: var(--muted); font-size: 0.9em; }
        .pin { color: var(--warn); font-weight: 600; font-size: 0.9em; }
        .matrix td { text-align: center; }
        .matrix td a { text-decoration: none; display: block; }
        .scroll { overflow-x: auto; }
        .error { color: var(--bad); font-weight: 600; }
        .hint { color: var(--muted); font-size: 0.9em; }
        label { display: block; font-weight: 600; margin-top: 6px; }
        .filters label { display: inline; margin-left: 8px; }
        input, select { font: inherit; padding: 6px 8px; border: 1px solid #6e7781; border-radius: 4px; max-width: 100%; }
        .narrow input { width: 100%; }
        button, .button { font: inherit; padding: 6px 14px; border: 1px solid var(--accent); border-radius: 4px; background: var(--accent);
                          color: #fff; cursor: pointer; text-decoration: none; display: inline-block; margin-top: 8px; }
        .signout button { margin-top: 0; background: #fff; color: var(--accent); }
        dl { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; }
        dt { font-weight: 600; } dd { margin: 0; overflow-wrap: anywhere; }
        @media (max-width: 600px) { main { padding: 8px 10px 30px; } .signout { margin-left: 0; } th, td { padding: 4px; } }
        """

    static let js = """
        "use strict";
        // Copy buttons: the text of the element named by data-copy.
        document.addEventListener("click", function (event) {
          var button = event.target.closest("button.copy");
          if (!button) return;
          var source = document.getElementById(button.dataset.copy);
          var text = source ? source.textContent : "";
          var status = button.parentElement.querySelector(".copied");
          function done(ok) { if (status) status.textContent = ok ? "Copied." : "Select the text and copy it."; }
          if (navigator.clipboard && window.isSecureContext) {
            navigator.clipboard.writeText(text).then(function () { done(true); }, function () { done(fallback(text)); });
          } else {
            done(fallback(text));
          }
        });
        function fallback(text) {
          var area = document.createElement("textarea");
          area.value = text;
          area.setAttribute("readonly", "");
          area.className = "skip";
          document.body.appendChild(area);
          area.select();
          var ok = false;
          try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
          document.body.removeChild(area);
          return ok;
        }
        // The audit page's live tail: records of the stream, newest at the top.
        document.addEventListener("DOMContentLoaded", function () {
          var table = document.getElementById("audit-table");
          if (!table || !table.dataset.stream || !window.EventSource) return;
          var body = table.querySelector("tbody");
          var status = document.getElementById("live-status");
          var source = new EventSource(table.dataset.stream);
          source.onopen = function () { if (status) status.textContent = "Live: new records appear at the top."; };
          source.onerror = function () { if (status) status.textContent = "The live tail is reconnecting…"; };
          source.onmessage = function (event) {
            var record;
            try { record = JSON.parse(event.data); } catch (e) { return; }
            var row = document.createElement("tr");
            row.className = record.decision || "";
            [record.ts, record.user, record.server, record.method, record.target, record.decision, record.reason].forEach(function (value) {
              var cell = document.createElement("td");
              cell.textContent = value == null ? "" : String(value);
              row.appendChild(cell);
            });
            body.insertBefore(row, body.firstChild);
            while (body.rows.length > 500) body.deleteRow(body.rows.length - 1);
          };
        });
        """
}
