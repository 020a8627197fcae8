public import Foundation
import Glibc

/// The users' own secrets that `${user:NAME}` in a server's `env`, `headers` or `url` stands for
/// (docs/guide/secrets-and-accounts.md, "Per-user credentials"): one file per secret, `FOLDER/USER/NAME`, readable by its owner
/// only (mode 0600 or stricter, as ssh wants of a private key). A file's value is its content
/// without one trailing newline. Values are secrets: no message here ever holds one.
public struct UserSecrets: Sendable {
    public let folder: String

    public init(folder: String) {
        self.folder = folder
    }

    /// `gateway.secrets` resolved against orch.json's folder.
    public init(settings: GatewaySettings, policyPath: String) {
        let base = URL(fileURLWithPath: policyPath).deletingLastPathComponent()
        self.init(folder: settings.secrets.hasPrefix("/") ? settings.secrets : base.appendingPathComponent(settings.secrets).path)
    }

    /// A secret is a token or a password: a file past this is not one.
    static let maxBytes = 1 << 20

    public func path(user: String, name: String) -> String { "\(folder)/\(user)/\(name)" }

    /// Why a user's secret cannot be used.
    public enum Problem: Error, Sendable, Hashable, CustomStringConvertible {
        case missing(name: String, path: String)
        case tooOpen(name: String, path: String, mode: String)
        case unreadable(name: String, path: String)
        /// A symlink on the way leads out of the folder, or to another user's secret.
        case misplaced(name: String, path: String)

        public var name: String {
            switch self {
            case .missing(let name, _), .tooOpen(let name, _, _), .unreadable(let name, _), .misplaced(let name, _): name
            }
        }

        public var description: String {
            switch self {
            case .missing(let name, let path): "no secret \(name): an admin puts it in \(path) (mode 0600)"
            case .tooOpen(let name, let path, let mode): "the secret \(name) at \(path) is readable by others (mode \(mode)): chmod 600 it"
            case .unreadable(let name, let path): "the secret \(name) at \(path) cannot be read"
            case .misplaced(let name, let path):
                "the secret \(name) at \(path) is a symlink to somewhere else: a link in the secrets folder must stay in it, in the user's own folder or at USER/NAME"
            }
        }
    }

    /// One secret of `user`.
    public func read(user: String, name: String) -> Result<String, Problem> {
        let path = path(user: user, name: name)
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return .failure(.missing(name: name, path: path)) }
        // Symlinks are followed only within the folder, and only to a file in the user's own
        // folder or to one at USER/NAME: Kubernetes Secret volumes link inside their mount (one
        // Secret for all: USER -> ..data/USER; one a user at USER: NAME -> ..data/NAME), but a
        // link to another user's secret, or out to any file, must not hand over its content.
        guard let root = Self.resolved(folder), let target = Self.resolved(path), target.hasPrefix(root + "/"),
            target.dropFirst(root.utf8.count + 1).hasPrefix("\(user)/") || target.hasSuffix("/\(user)/\(name)")
        else { return .failure(.misplaced(name: name, path: path)) }
        let mode = info.st_mode & 0o777
        if mode & 0o077 != 0 { return .failure(.tooOpen(name: name, path: path, mode: String(mode, radix: 8).leftPadded(to: 4))) }
        guard let data = try? PolicyFileError.read(path, limit: Self.maxBytes) else { return .failure(.unreadable(name: name, path: path)) }
        var value = String(decoding: data, as: UTF8.self)
        if value.hasSuffix("\r\n") { value.removeLast(2) } else if value.hasSuffix("\n") { value.removeLast() }
        return .success(value)
    }

    /// `path` with every symlink resolved, or nil when it does not resolve.
    static func resolved(_ path: String) -> String? {
        guard let pointer = realpath(path, nil) else { return nil }
        defer { free(pointer) }
        return String(cString: pointer)
    }

    /// The secrets `names` of `user`, or the first that cannot be used.
    public func values(user: String, names: [String]) -> Result<[String: String], Problem> {
        var values: [String: String] = [:]
        for name in names {
            switch read(user: user, name: name) {
            case .success(let value): values[name] = value
            case .failure(let problem): return .failure(problem)
            }
        }
        return .success(values)
    }

    /// Every problem with `names` of `user` (for `orch check --secrets` and `orch explain`).
    public func problems(user: String, names: [String]) -> [Problem] {
        names.compactMap { name in if case .failure(let problem) = read(user: user, name: name) { problem } else { nil } }
    }

    /// A secret's name: letters, digits, `_`, `-` and `.`, not starting with `.`.
    public static func isName(_ name: Substring) -> Bool {
        guard let first = name.utf8.first, first != UInt8(ascii: ".") else { return false }
        return name.utf8.allSatisfy {
            (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-")
                || $0 == UInt8(ascii: ".")
        }
    }

    /// The secret names a template (a value expanded `keepingUser`) refers to, in order, once each.
    public static func names(in template: String) -> [String] {
        var names: [String] = []
        _ = render(template) { name in
            if !names.contains(name) { names.append(name) }
            return ""
        }
        return names
    }

    /// A template with each `${user:NAME}` replaced by `value(NAME)` and `$$` by `$`.
    public static func render(_ template: String, _ value: (String) -> String) -> String {
        guard template.utf8.contains(UInt8(ascii: "$")) else { return template }
        var out = ""
        var rest = Substring(template)
        while let dollar = rest.firstIndex(of: "$") {
            out += rest[..<dollar]
            let after = rest[rest.index(after: dollar)...]
            if after.hasPrefix("$") {
                out += "$"
                rest = after.dropFirst()
            } else if after.hasPrefix("{user:"), let close = after.firstIndex(of: "}") {
                out += value(String(after[after.index(after.startIndex, offsetBy: 6)..<close]))
                rest = after[after.index(after: close)...]
            } else {
                out += "$"
                rest = after
            }
        }
        return out + rest
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}

extension Policy {
    /// For each per-user server, each user who may reach it at `time` but lacks one of its
    /// secrets (or whose file is too open): what `orch check --secrets` lists.
    public func missingSecrets(_ secrets: UserSecrets, at time: Date) -> [(server: String, user: String, problem: UserSecrets.Problem)] {
        var missing: [(server: String, user: String, problem: UserSecrets.Problem)] = []
        for id in serverIDs where !server(id).spec.userSecrets.isEmpty {
            for user in userIDs where decide(user: user, server: id, tool: nil, key: nil, at: time).allowed {
                for problem in secrets.problems(user: self.user(user).name, names: server(id).spec.userSecrets) {
                    missing.append((serverPath(id), self.user(user).name, problem))
                }
            }
        }
        return missing
    }
}
