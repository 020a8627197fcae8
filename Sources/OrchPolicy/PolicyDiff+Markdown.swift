import Foundation

extension PolicyDiff {
    /// For a pull-request comment: the summary in bold on the first line, then a table for each
    /// kind of change. What is quoted from the file is code; everything else is escaped, so no
    /// name or rule can break a table or turn into markup.
    public var markdown: String {
        var lines = ["**orch diff:** " + Self.escape(summary)]
        let md = Phrases(literal: Self.code)
        if !users.isEmpty {
            lines += ["", "#### Access", "", "| user | access | what | via |", "| --- | --- | --- | --- |"]
            for user in users {
                let name = Self.escape(user.user) + (user.change == .changed ? "" : " (\(user.change.rawValue))")
                for server in user.servers {
                    lines.append(Self.row([name, server.gained ? "gains" : "loses", "server " + Self.code(server.server), Self.escape(md.via(server))]))
                }
                for rule in user.rules {
                    let what = "\(rule.added ? "+" : "-") \(rule.effect.rawValue) \(Self.code(rule.rule)) on \(Self.code(rule.server))"
                    let access = switch rule.access {
                    case .gained: "gains"
                    case .lost: "loses"
                    case .none: "neither"
                    }
                    lines.append(Self.row([name, access, what, Self.escape(md.via(rule.via, was: !rule.added))]))
                }
                if let admin = user.admin { lines.append(Self.row([name, admin.new ? "gains" : "loses", "gateway admin", ""])) }
            }
        }
        if !keys.isEmpty {
            lines += ["", "#### Keys", "", "| key | change | details |", "| --- | --- | --- |"]
            for key in keys {
                lines.append(Self.row([Self.code("\(key.user)/\(key.key)"), key.change.rawValue, md.details(key).joined(separator: "; ")]))
            }
        }
        if !servers.isEmpty {
            lines += ["", "#### Servers", "", "| server | change | details |", "| --- | --- | --- |"]
            for server in servers {
                let head = "\(Self.escape("[" + server.transport + "]"))" + (server.fields.isEmpty ? "" : " " + server.fields.joined(separator: ", "))
                lines.append(Self.row([Self.code(server.server), server.change == .changed ? "redefined" : server.change.rawValue,
                                       ([head] + md.details(server)).joined(separator: "; ")]))
            }
        }
        if !roles.isEmpty {
            lines += ["", "#### Roles", "", "| role | change | details |", "| --- | --- | --- |"]
            for role in roles { lines.append(Self.row([Self.code(role.role), role.change.rawValue, md.details(role).joined()])) }
        }
        if !teams.isEmpty {
            lines += ["", "#### Teams", "", "| team | change | details |", "| --- | --- | --- |"]
            for team in teams { lines.append(Self.row([Self.code("\(team.org)/\(team.team)"), team.change.rawValue, md.details(team).joined()])) }
        }
        return lines.joined(separator: "\n")
    }

    private static func row(_ cells: [String]) -> String {
        "| " + cells.joined(separator: " | ") + " |"
    }

    /// Text as code in a table cell: fenced with more backticks than it holds in a row, and its
    /// `|` escaped (GitHub's tables split cells on `|` even inside code).
    static func code(_ text: String) -> String {
        var longest = 0, run = 0
        for c in text {
            run = c == "`" ? run + 1 : 0
            longest = max(longest, run)
        }
        let fence = String(repeating: "`", count: longest + 1)
        let padded = longest > 0 ? " \(text) " : text
        return fence + padded.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ") + fence
    }

    /// Plain text with Markdown's special characters escaped.
    static func escape(_ text: String) -> String {
        var out = ""
        for c in text {
            if "\\`*_[]<>|#!".contains(c) { out.append("\\") }
            out.append(c == "\n" ? " " : c)
        }
        return out
    }
}
