import Mustache

/// The dashboard's pages, as Mustache templates compiled into the binary. `{{value}}` escapes HTML,
/// so every value from orch.json, an upstream or the audit log is shown as text; nothing here uses
/// the unescaped `{{{…}}}`. No inline script or style: the Content-Security-Policy forbids them.
enum DashboardTemplates {
    static let library: MustacheLibrary = {
        var library = MustacheLibrary()
        for (name, text) in templates {
            // The templates are constants of this file: one that does not parse is a build mistake.
            try! library.register(text, named: name)
        }
        return library
    }()

    static let templates: [String: String] = [
        "head": head, "foot": foot, "signin": signin, "servers": servers, "server": server, "connect": connect, "keys": keys,
        "admin": admin, "access": access, "sessions": sessions, "audit": audit, "error": error,
        "connections": connections, "connected": connected, "adminConnections": adminConnections, "approvals": approvals,
    ]

    static let head = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{title}} · orch</title>
        {{#refresh}}<meta http-equiv="refresh" content="{{refresh}}">{{/refresh}}
        <link rel="stylesheet" href="/ui/assets/app.css">
        <script src="/ui/assets/app.js" defer></script>
        </head>
        <body>
        <a class="skip" href="#main">Skip to content</a>
        <header class="top">
          <span class="brand">orch</span>
          {{#user}}
          <nav aria-label="Main">
            <a href="/ui/" {{#navServers}}aria-current="page"{{/navServers}}>Servers</a>
            <a href="/ui/connect" {{#navConnect}}aria-current="page"{{/navConnect}}>Connect</a>
            <a href="/ui/keys" {{#navKeys}}aria-current="page"{{/navKeys}}>Keys</a>
            {{#hasOAuthServers}}<a href="/ui/connections" {{#navConnections}}aria-current="page"{{/navConnections}}>Connections</a>{{/hasOAuthServers}}
            {{#hasApprovals}}<a href="/ui/approvals" {{#navApprovals}}aria-current="page"{{/navApprovals}}>Approvals</a>{{/hasApprovals}}
            {{#admin}}<a href="/ui/admin" {{#navAdmin}}aria-current="page"{{/navAdmin}}>Admin</a>{{/admin}}
          </nav>
          <form class="signout" method="post" action="/ui/signout">
            <span class="who" id="signed-in-user">{{user}}{{#signIn}} · {{signIn}}{{/signIn}}</span>
            <input type="hidden" name="csrf" value="{{csrf}}">
            <button type="submit" id="signout">Sign out</button>
          </form>
          {{/user}}
        </header>
        <main id="main">
        """

    static let foot = """
        </main>
        </body>
        </html>
        """

    static let signin = """
        {{> head}}
        <h1>Sign in</h1>
        {{#message}}<p class="error" role="alert" id="signin-error">{{message}}</p>{{/message}}
        <form method="post" action="/ui/signin" class="card narrow">
          <label for="key">Your orch key</label>
          <input type="password" id="key" name="key" autocomplete="off" required spellcheck="false">
          <input type="hidden" name="csrf" value="{{csrf}}">
          <button type="submit" id="signin-key">Sign in with a key</button>
          <p class="hint">The key is exchanged for a session cookie; the browser never keeps it.</p>
        </form>
        {{#hasIssuers}}
        <div class="card narrow">
          {{#issuers}}
          <p><a class="button" id="signin-{{name}}" href="/ui/oidc/start?issuer={{name}}">Sign in with {{name}}</a></p>
          {{/issuers}}
        </div>
        {{/hasIssuers}}
        {{> foot}}
        """

    static let servers = """
        {{> head}}
        <h1>Your servers</h1>
        {{^orgs}}<p>You reach no server. An admin grants access in orch.json.</p>{{/orgs}}
        {{#orgs}}
        <section aria-labelledby="org-{{name}}">
          <h2 id="org-{{name}}">{{name}}</h2>
          <p class="endpoint">All of {{name}} at one endpoint: <code>{{endpoint}}</code></p>
          <ul class="servers">
          {{#servers}}
            <li class="card server" data-server="{{path}}">
              <h3><a href="/ui/servers/{{org}}/{{name}}">{{name}}</a> <span class="tag">{{transport}}</span>
                <span class="status {{statusClass}}">{{status}}</span></h3>
              {{#description}}<p class="description">{{description}}</p>{{/description}}
              <p class="endpoint"><code>{{endpoint}}</code></p>
            </li>
          {{/servers}}
          </ul>
          {{#hasToolsets}}
          <h3 id="toolsets-{{name}}">Toolsets</h3>
          <ul class="toolsets" aria-labelledby="toolsets-{{name}}">
          {{#toolsets}}
            <li class="card toolset" data-toolset="{{org}}/{{name}}">
              <h4>{{name}}</h4>
              {{#description}}<p class="description">{{description}}</p>{{/description}}
              <p class="tools">{{tools}}</p>
              <p class="endpoint"><code>{{endpoint}}</code> (search mode: <code>{{endpoint}}?tools=search</code>)</p>
            </li>
          {{/toolsets}}
          </ul>
          {{/hasToolsets}}
        </section>
        {{/orgs}}
        {{> foot}}
        """

    static let server = """
        {{> head}}
        <p><a href="/ui/">← Servers</a></p>
        <h1>{{path}}</h1>
        {{#description}}<p class="description">{{description}}</p>{{/description}}
        <p><span class="tag">{{transport}}</span> <code>{{endpoint}}</code></p>
        {{#failure}}<p class="error" role="alert">The gateway could not list this server: {{failure}}</p>{{/failure}}
        {{#kinds}}
        <section aria-labelledby="kind-{{kind}}">
          <h2 id="kind-{{kind}}">{{title}}</h2>
          {{^items}}<p>None.</p>{{/items}}
          <table class="items" id="{{kind}}-table">
            {{#hasItems}}<thead><tr><th scope="col">Name</th><th scope="col">Description</th><th scope="col">You</th></tr></thead>{{/hasItems}}
            <tbody>
            {{#items}}
              <tr class="{{#allowed}}allowed{{/allowed}}{{^allowed}}denied{{/allowed}}" data-name="{{name}}">
                <td><code>{{name}}</code>{{#schema}}<details><summary>Input schema</summary><pre>{{schema}}</pre></details>{{/schema}}</td>
                <td>{{description}}</td>
                <td><strong>{{#allowed}}allowed{{/allowed}}{{^allowed}}denied{{/allowed}}</strong><br><span class="reason">{{reason}}</span>{{#pin}}<br><span class="pin">{{pin}}</span>{{/pin}}</td>
              </tr>
            {{/items}}
            </tbody>
          </table>
        </section>
        {{/kinds}}
        {{> foot}}
        """

    static let connect = """
        {{> head}}
        <h1>Connect a client</h1>
        <p>Each config points your client at {{#perOrg}}one endpoint per org{{/perOrg}}{{^perOrg}}your servers{{/perOrg}}.
        It holds <code>&lt;ORCH_TOKEN&gt;</code> where your key goes: this page never shows a key.</p>
        <p>Mint a key and its config in one step (then add the key's entry to orch.json through a pull request):</p>
        <pre class="command">{{mintCommand}}</pre>
        {{#clients}}
        <section class="card" aria-labelledby="client-{{id}}">
          <h2 id="client-{{id}}">{{name}}</h2>
          <p>Goes in {{location}}.</p>
          <pre id="config-{{id}}" class="config">{{config}}</pre>
          <button type="button" class="copy" data-copy="config-{{id}}" id="copy-{{id}}">Copy the {{name}} config</button>
          <span class="copied" aria-live="polite"></span>
          <p class="hint">Or: <code>{{command}}</code></p>
        </section>
        {{/clients}}
        {{> foot}}
        """

    static let keys = """
        {{> head}}
        <h1>Your keys</h1>
        {{#signIn}}<p>You are signed in through {{signIn}}; these are the keys orch.json holds for you.</p>{{/signIn}}
        {{^keys}}<p>orch.json holds no key for you.</p>{{/keys}}
        {{#hasKeys}}
        <table id="keys-table">
          <thead><tr><th scope="col">Key</th><th scope="col">Status</th><th scope="col">Expires</th><th scope="col">Scope</th><th scope="col">Description</th></tr></thead>
          <tbody>
          {{#keys}}
            <tr class="{{statusClass}}"><td><code>{{id}}</code>{{#current}} (this session){{/current}}</td><td>{{status}}</td><td>{{expires}}</td><td>{{scope}}</td><td>{{description}}</td></tr>
          {{/keys}}
          </tbody>
        </table>
        {{/hasKeys}}
        <h2>Mint a key</h2>
        <pre class="command">{{mintCommand}}</pre>
        <p>The command prints the key once and writes only its hash into orch.json; open a pull request with that change.
        Once it is merged and the gateway has reloaded, the key works.</p>
        <h2>Revoke a key</h2>
        <p>Remove the key's entry from your user in orch.json (or give it an <code>expires</code> in the past) in a pull request.
        When the gateway reloads, the key stops working and its sessions end at once.</p>
        {{> foot}}
        """

    static let connections = """
        {{> head}}
        <h1>Connected accounts</h1>
        {{#hasMessage}}<p class="message" id="connections-message" role="status">{{message}}</p>{{/hasMessage}}
        <p>These servers act as you, with your own account at their sign-in provider: connect once here, and your calls through
        the gateway carry your own token. The gateway keeps the tokens sealed; nobody sees them, you included.</p>
        {{^hasRows}}<p>None of the servers you may use takes a connected account.</p>{{/hasRows}}
        {{#hasRows}}
        <table id="connections-table">
          <thead><tr><th scope="col">Server</th><th scope="col">Signs in at</th><th scope="col">State</th><th scope="col"></th></tr></thead>
          <tbody>
          {{#rows}}
            <tr><td><code>{{server}}</code></td><td>{{signsInAt}}</td><td class="state">{{state}}</td><td>
              <form method="post" action="/ui/connections/connect"><input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="server" value="{{server}}"><button type="submit">{{#connected}}Connect again{{/connected}}{{^connected}}Connect{{/connected}}</button></form>
              {{#connected}}<form method="post" action="/ui/connections/disconnect"><input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="server" value="{{server}}"><button type="submit">Disconnect</button></form>{{/connected}}
            </td></tr>
          {{/rows}}
          </tbody>
        </table>
        {{/hasRows}}
        {{> foot}}
        """

    static let approvals = """
        {{> head}}
        <h1>Approvals</h1>
        <p>Calls that wait for the approval of someone holding a role, which you hold. A call runs only once approved; one
        you deny, or leave until its time runs out, does not run. This page reloads every 2 seconds.</p>
        {{^hasRows}}<p id="no-approvals">No call waits for your approval.</p>{{/hasRows}}
        {{#hasRows}}
        <table id="approvals-table">
          <thead><tr><th scope="col">Caller</th><th scope="col">Server</th><th scope="col">Tool</th><th scope="col">Arguments</th><th scope="col">Role</th><th scope="col">Waiting</th><th scope="col"></th></tr></thead>
          <tbody>
          {{#rows}}
            <tr id="approval-{{id}}"><td>{{caller}}</td><td><code>{{server}}</code></td><td><code>{{tool}}</code></td><td><pre>{{arguments}}</pre></td><td>{{role}}</td><td>{{age}} ({{left}} left)</td><td>
              <form method="post" action="/ui/approvals/decide"><input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="id" value="{{id}}"><button type="submit" name="decision" value="approve" class="approve">Approve</button> <button type="submit" name="decision" value="deny" class="deny">Deny</button></form>
            </td></tr>
          {{/rows}}
          </tbody>
        </table>
        {{/hasRows}}
        {{#hasOwn}}
        <h2>Your calls that wait</h2>
        <table id="own-approvals">
          <thead><tr><th scope="col">Server</th><th scope="col">Tool</th><th scope="col">Role</th><th scope="col">Waiting</th></tr></thead>
          <tbody>{{#own}}<tr><td><code>{{server}}</code></td><td><code>{{tool}}</code></td><td>{{role}}</td><td>{{age}} ({{left}} left)</td></tr>{{/own}}</tbody>
        </table>
        {{/hasOwn}}
        {{> foot}}
        """

    static let connected = """
        {{> head}}
        <h1>{{title}}</h1>
        <p id="connect-result" role="status">{{message}}</p>
        <p><a href="/ui/connections" id="to-connections">Back to your connections</a></p>
        {{> foot}}
        """

    static let adminConnections = """
        {{> head}}
        <h1>Connected accounts</h1>
        <p>Who has connected an account at each server that takes one (never a token).</p>
        {{^hasRows}}<p>No server of orch.json takes connected accounts.</p>{{/hasRows}}
        {{#hasRows}}
        <table id="admin-connections">
          <thead><tr><th scope="col">User</th><th scope="col">Server</th><th scope="col">State</th></tr></thead>
          <tbody>{{#rows}}<tr><td>{{user}}</td><td><code>{{server}}</code></td><td>{{state}}</td></tr>{{/rows}}</tbody>
        </table>
        {{/hasRows}}
        {{> foot}}
        """

    static let admin = """
        {{> head}}
        <h1>Gateway</h1>
        <nav class="sub" aria-label="Admin"><a href="/ui/admin/access">Access</a> <a href="/ui/admin/sessions">Sessions</a> <a href="/ui/admin/audit">Audit</a> <a href="/ui/admin/connections">Connections</a></nav>
        <section class="card" aria-labelledby="policy">
          <h2 id="policy">Policy</h2>
          <dl>
            <dt>Digest</dt><dd><code id="policy-digest">{{digest}}</code></dd>
            <dt>Source</dt><dd><code>{{source}}</code></dd>
            <dt>Loaded at</dt><dd>{{loadedAt}}</dd>
            <dt>Counts</dt><dd>{{counts}}</dd>
            <dt>Last reload</dt><dd id="last-reload">{{lastReload}}</dd>
          </dl>
          {{#hasDiagnostics}}
          <table id="diagnostics">
            <thead><tr><th scope="col">Severity</th><th scope="col">Where</th><th scope="col">Message</th></tr></thead>
            <tbody>{{#diagnostics}}<tr class="{{severity}}"><td>{{severity}}</td><td><code>{{location}}</code></td><td>{{message}}</td></tr>{{/diagnostics}}</tbody>
          </table>
          {{/hasDiagnostics}}
        </section>
        <section class="card" aria-labelledby="counters">
          <h2 id="counters">Counters</h2>
          <dl>
            {{#counters}}<dt>{{name}}</dt><dd>{{value}}</dd>{{/counters}}
          </dl>
          <p class="hint">Every counter is also at <a href="/metrics">/metrics</a>.</p>
        </section>
        {{> foot}}
        """

    static let access = """
        {{> head}}
        <h1>Who can reach what</h1>
        <form method="get" action="/ui/admin/access" class="filters">
          <label for="user-filter">User</label> <input id="user-filter" name="user" value="{{userFilter}}">
          <button type="submit">Filter</button>
        </form>
        {{#detail}}
        <section class="card" id="decision">
          <h2>{{user}} on {{server}}</h2>
          <p><strong>{{#allowed}}allowed{{/allowed}}{{^allowed}}denied{{/allowed}}</strong>: {{reason}}</p>
          {{#hasRoles}}<p>Roles: {{#roles}}<span class="tag">{{.}}</span> {{/roles}}</p>{{/hasRoles}}
        </section>
        {{/detail}}
        <p>{{shown}} of {{total}} users{{#more}}; filter by name to see the others{{/more}}.</p>
        <div class="scroll">
        <table class="matrix" id="access-matrix">
          <thead><tr><th scope="col">User</th>{{#servers}}<th scope="col"><span>{{.}}</span></th>{{/servers}}</tr></thead>
          <tbody>
          {{#rows}}
            <tr><th scope="row">{{user}}{{#disabled}} (disabled){{/disabled}}</th>
            {{#cells}}<td class="{{#allowed}}allowed{{/allowed}}{{^allowed}}denied{{/allowed}}"><a href="/ui/admin/access?user={{user}}&amp;server={{server}}" aria-label="{{user}} on {{server}}: {{#allowed}}allowed{{/allowed}}{{^allowed}}denied{{/allowed}}">{{#allowed}}✓{{/allowed}}{{^allowed}}·{{/allowed}}</a></td>{{/cells}}
            </tr>
          {{/rows}}
          </tbody>
        </table>
        </div>
        {{> foot}}
        """

    static let sessions = """
        {{> head}}
        <h1>Live sessions</h1>
        {{^rows}}<p>No MCP session is open.</p>{{/rows}}
        {{#hasRows}}
        <table id="sessions-table">
          <thead><tr><th scope="col">User</th><th scope="col">Key or sign-in</th><th scope="col">Server</th><th scope="col">Age</th><th scope="col">Idle</th></tr></thead>
          <tbody>{{#rows}}<tr><td>{{user}}</td><td>{{credential}}</td><td>{{server}}</td><td>{{age}}</td><td>{{idle}}</td></tr>{{/rows}}</tbody>
        </table>
        {{/hasRows}}
        <p>{{dashboardSessions}} signed in to this dashboard.</p>
        {{> foot}}
        """

    static let audit = """
        {{> head}}
        <h1>Audit</h1>
        <form method="get" action="/ui/admin/audit" class="filters" id="audit-filters">
          <label for="f-user">User</label> <input id="f-user" name="user" value="{{userFilter}}">
          <label for="f-server">Server</label> <input id="f-server" name="server" value="{{server}}">
          <label for="f-decision">Decision</label>
          <select id="f-decision" name="decision">
            {{#decisions}}<option value="{{value}}" {{#selected}}selected{{/selected}}>{{label}}</option>{{/decisions}}
          </select>
          <button type="submit">Filter</button>
        </form>
        <p class="hint" id="live-status" aria-live="polite">New records appear at the top as they are written.</p>
        <div class="scroll">
        <table id="audit-table" data-stream="{{stream}}">
          <thead><tr><th scope="col">Time</th><th scope="col">User</th><th scope="col">Server</th><th scope="col">Method</th><th scope="col">Target</th><th scope="col">Decision</th><th scope="col">Reason</th></tr></thead>
          <tbody>
          {{#rows}}<tr class="{{decision}}"><td>{{ts}}</td><td>{{user}}</td><td>{{server}}</td><td>{{method}}</td><td>{{target}}</td><td>{{decision}}</td><td>{{reason}}</td></tr>{{/rows}}
          </tbody>
        </table>
        </div>
        {{> foot}}
        """

    static let error = """
        {{> head}}
        <h1>{{title}}</h1>
        <p role="alert">{{message}}</p>
        <p><a href="/ui/">Back to your servers</a></p>
        {{> foot}}
        """
}
