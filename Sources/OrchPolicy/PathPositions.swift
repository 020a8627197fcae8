public import OrchJSON

/// Where each path a diagnostic can name is in orch.json's text: for an object member the
/// position of its key, for an array item the item's first character. Built from the text, so that
/// every diagnostic with a path can point at a line (`orch check --format github`), not only the
/// syntax errors the parser places.
public struct PathPositions: Sendable {
    private var positions: [String: JSONPosition] = [:]

    /// nil when the text is not JSON (its syntax error already carries a line).
    public init?(_ bytes: [UInt8]) {
        guard let root = try? JSONSyntax.parse(bytes) else { return nil }
        add(root, path: "")
    }

    private mutating func add(_ value: JSONSyntax, path: String) {
        if positions[path] == nil { positions[path] = value.position }
        switch value.kind {
        case .scalar:
            break
        case .array(let items):
            for (i, item) in items.enumerated() { add(item, path: Path.item(path, i)) }
        case .object(let members):
            for member in members {
                let memberPath = Path.member(path, member.key)
                positions[memberPath] = member.keyPosition
                add(member.value, path: memberPath)
            }
        }
    }

    /// The place `path` names; for a path the file lacks (a required key that is missing), the
    /// place of the nearest enclosing value that it has.
    public func position(of path: String) -> JSONPosition? {
        if let found = positions[path] { return found }
        var end = path.endIndex
        while end > path.startIndex {
            end = path.index(before: end)
            let character = path[end]
            if character == "." || character == "[", let found = positions[String(path[..<end])] { return found }
        }
        return positions[""]
    }
}

extension Diagnostic {
    /// The diagnostic with the line and column of its path, when it has none yet.
    public func located(in positions: PathPositions?) -> Diagnostic {
        guard line == nil, !path.isEmpty, let position = positions?.position(of: path) else { return self }
        var located = self
        located.line = position.line
        located.column = position.column
        return located
    }
}
