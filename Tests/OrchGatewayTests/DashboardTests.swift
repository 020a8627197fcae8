import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import OrchGateway
import OrchJSON
import OrchPolicy
import Testing

// The dashboard through the router: sign-in with a key and its CSRF token, the session cookie,
// what each person sees, admins only on admin pages, the security headers, escaping, sign-out,
// and a reload that signs a browser out. The browser tests (tests/e2e/test_dashboard.py) drive
// the same pages in Chromium.

/// A browser's cookies for the test client.
struct Browser {
    var cookies: [String: String] = [:]

    var header: HTTPFields {
        cookies.isEmpty ? [:] : [.cookie: cookies.map { "\($0.key)=\($0.value)" }.joined(separator: "; ")]
    }

    mutating func keep(_ response: TestResponse) {
        for field in response.headers where field.name == .setCookie {
            let pair = field.value.split(separator: ";")[0].split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard pair.count == 2 else { continue }
            if pair[1].isEmpty { cookies[pair[0]] = nil } else { cookies[pair[0]] = pair[1] }
        }
    }
}

private func csrf(in html: String) -> String? {
    guard let range = html.range(of: #"name="csrf" value=""#) else { return nil }
    return String(html[range.upperBound...].prefix { $0 != "\"" })
}

private func form(_ fields: [String: String]) -> ByteBuffer {
    ByteBuffer(string: fields.map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" }.joined(separator: "&"))
}

private let formHeaders: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]

/// Signs in with `key` and returns the browser holding the session cookie.
func signIn(_ client: some TestClientProtocol, _ key: String) async throws -> Browser {
    var browser = Browser()
    let page = try await client.execute(uri: "/ui/signin", method: .get) { response in
        browser.keep(response)
        return String(buffer: response.body)
    }
    let token = try #require(csrf(in: page))
    try await client.execute(uri: "/ui/signin", method: .post, headers: formHeaders.merging(browser.header),
                             body: form(["key": key, "csrf": token])) { response in
        #expect(response.status == .seeOther)
        browser.keep(response)
    }
    return browser
}

extension HTTPFields {
    fileprivate func merging(_ other: HTTPFields) -> HTTPFields {
        var all = self
        all.append(contentsOf: other)
        return all
    }
}

private func dashboardPolicy(bobKey: Bool = true, dashboard: Bool = true) -> String {
    testPolicyJSON()
        .replacingOccurrences(of: #""description": "Notes","#, with: #""description": "Notes <script>alert(1)</script>","#)
        .replacingOccurrences(of: #""limits": { "maxBodyBytes": 1024 } },"#,
                              with: #""limits": { "maxBodyBytes": 1024 }, "dashboard": \#(dashboard) },"#)
        .replacingOccurrences(of: #"{ "id": "laptop", "sha256": "\#(Tokens.hash(Tokens.bob))", "expires": "2099-01-01" },"#,
                              with: bobKey ? #"{ "id": "laptop", "sha256": "\#(Tokens.hash(Tokens.bob))", "expires": "2099-01-01" },"# : "")
}

@Test func signingInWithAKeyGivesAStrictSessionCookieAndYourServersOnly() async throws {
    let g = try TestGateway(json: dashboardPolicy())
    try await g.test { client in
        try await client.execute(uri: "/", method: .get) { response in
            #expect(response.status == .found && response.headers[.location] == "/ui/")
        }
        try await client.execute(uri: "/ui/", method: .get) { response in
            #expect(response.status == .seeOther && response.headers[.location] == "/ui/signin")
        }
        var browser = Browser()
        let page = try await client.execute(uri: "/ui/signin", method: .get) { response in
            #expect(response.status == .ok)
            #expect(response.headers[HTTPField.Name("Content-Security-Policy")!]?.hasPrefix("default-src 'self'") == true)
            #expect(response.headers[HTTPField.Name("X-Frame-Options")!] == "DENY")
            browser.keep(response)
            return String(buffer: response.body)
        }
        let token = try #require(csrf(in: page))
        #expect(browser.cookies["orch_csrf"] == token)
        // Without the form's CSRF token, or with a wrong one: refused, no session.
        try await client.execute(uri: "/ui/signin", method: .post, headers: formHeaders.merging(browser.header),
                                 body: form(["key": Tokens.bob, "csrf": "forged"])) { response in
            #expect(response.status == .forbidden)
            #expect(!response.headers.contains { $0.name == .setCookie && $0.value.hasPrefix("orch_session=") })
        }
        // A wrong key: 401, the page says so.
        try await client.execute(uri: "/ui/signin", method: .post, headers: formHeaders.merging(browser.header),
                                 body: form(["key": "orch_wrong", "csrf": token])) { response in
            #expect(response.status == .unauthorized)
            #expect(String(buffer: response.body).contains("does not sign in here"))
            browser.keep(response)
        }
        let fresh = try #require(csrf(in: try await client.execute(uri: "/ui/signin", method: .get) { response in
            browser.keep(response)
            return String(buffer: response.body)
        }))
        try await client.execute(uri: "/ui/signin", method: .post, headers: formHeaders.merging(browser.header),
                                 body: form(["key": Tokens.bob, "csrf": fresh])) { response in
            #expect(response.status == .seeOther && response.headers[.location] == "/ui/")
            let cookie = try #require(response.headers.first { $0.name == .setCookie && $0.value.hasPrefix("orch_session=") }?.value)
            #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("Path=/ui"))
            #expect(cookie.contains("Secure"))  // publicURL is https
            #expect(!cookie.contains(Tokens.bob))
            browser.keep(response)
        }
        try await client.execute(uri: "/ui/", method: .get, headers: browser.header) { response in
            #expect(response.status == .ok)
            let html = String(buffer: response.body)
            #expect(html.contains(#"data-server="acme/notes""#) && html.contains(#"data-server="acme/clock""#))
            #expect(!html.contains("globex"))
            // orch.json's text is shown as text.
            #expect(html.contains("Notes &lt;script&gt;alert(1)&lt;/script&gt;") && !html.contains("<script>alert(1)"))
            #expect(!html.contains(Tokens.bob))
        }
        // bob is no admin.
        for path in ["/ui/admin", "/ui/admin/access", "/ui/admin/sessions", "/ui/admin/audit"] {
            try await client.execute(uri: path, method: .get, headers: browser.header) { #expect($0.status == .forbidden, "\(path)") }
        }
        try await client.execute(uri: "/ui/admin/audit/stream", method: .get, headers: browser.header) { #expect($0.status == .forbidden) }
        // The connect page holds configs without a token.
        try await client.execute(uri: "/ui/connect", method: .get, headers: browser.header) { response in
            let html = String(buffer: response.body)
            #expect(html.contains("&lt;ORCH_TOKEN&gt;") && html.contains(#"id="config-cline""#) && !html.contains(Tokens.bob))
        }
        try await client.execute(uri: "/ui/keys", method: .get, headers: browser.header) { response in
            let html = String(buffer: response.body)
            #expect(html.contains("<code>laptop</code> (this session)") && html.contains("<code>ci</code>"))
        }
    }
    #expect(!g.auditLines.joined().contains(Tokens.bob))
}

@Test func signingOutOrAReloadThatTakesTheKeyEndsTheBrowsersSession() async throws {
    let g = try TestGateway(json: dashboardPolicy())
    try await g.test { client in
        var browser = try await signIn(client, Tokens.bob)
        let page = try await client.execute(uri: "/ui/", method: .get, headers: browser.header) { String(buffer: $0.body) }
        let token = try #require(csrf(in: page))
        // Sign-out needs the session's CSRF token.
        try await client.execute(uri: "/ui/signout", method: .post, headers: formHeaders.merging(browser.header), body: form(["csrf": "x"])) {
            #expect($0.status == .forbidden)
        }
        try await client.execute(uri: "/ui/signout", method: .post, headers: formHeaders.merging(browser.header), body: form(["csrf": token])) {
            #expect($0.status == .seeOther)
            browser.keep($0)
        }
        #expect(browser.cookies["orch_session"] == nil)
        try await client.execute(uri: "/ui/", method: .get, headers: browser.header) { #expect($0.status == .seeOther) }
        // Signed in again; a reload removes bob's key: the browser is signed out at once.
        browser = try await signIn(client, Tokens.bob)
        try await client.execute(uri: "/ui/", method: .get, headers: browser.header) { #expect($0.status == .ok) }
        ReloadWatcher.install(compile(dashboardPolicy(bobKey: false)), path: "test.json", gateway: g.gateway)
        try await client.execute(uri: "/ui/", method: .get, headers: browser.header) {
            #expect($0.status == .seeOther && $0.headers[.location] == "/ui/signin")
        }
    }
}

@Test func adminsSeeThePolicyAccessSessionsAndAudit() async throws {
    let g = try TestGateway(json: dashboardPolicy())
    try await g.test { client in
        let browser = try await signIn(client, Tokens.alice)
        try await client.execute(uri: "/ui/admin", method: .get, headers: browser.header) { response in
            #expect(response.status == .ok)
            #expect(String(buffer: response.body).contains(g.gateway.store.policy!.digest))
        }
        try await client.execute(uri: "/ui/admin/access?user=bob&server=acme/notes", method: .get, headers: browser.header) { response in
            let html = String(buffer: response.body)
            #expect(html.contains(#"id="decision""#) && html.contains("bob on acme/notes"))
            #expect(html.contains(#"aria-label="bob on acme/secret: denied""#))
        }
        try await client.execute(uri: "/ui/admin/audit?user=alice", method: .get, headers: browser.header) { response in
            let html = String(buffer: response.body)
            #expect(html.contains("signed in to the dashboard with key laptop"))
        }
        try await client.execute(uri: "/ui/admin/sessions", method: .get, headers: browser.header) { #expect($0.status == .ok) }
    }
}

@Test func theDashboardCanBeTurnedOff() async throws {
    try await TestGateway(json: dashboardPolicy(dashboard: false)).test { client in
        for path in ["/", "/ui/", "/ui/signin"] {
            try await client.execute(uri: path, method: .get) { #expect($0.status == .notFound, "\(path)") }
        }
    }
}
