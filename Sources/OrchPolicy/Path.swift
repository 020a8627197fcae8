/// Builds the dotted paths that diagnostics use: `orgs.acme.servers.excel`, `users.bob.keys[0]`.
enum Path {
    static func member(_ parent: String, _ key: String) -> String {
        let plain = !key.isEmpty && key.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "$"):
                return true
            default:
                return false
            }
        }
        // Appends rather than interpolates: a large file has hundreds of thousands of paths.
        var path = parent
        if plain {
            if parent.isEmpty { return key }
            path += "."
            path += key
        } else {
            path += "[\""
            path += key
            path += "\"]"
        }
        return path
    }

    static func item(_ parent: String, _ index: Int) -> String {
        var path = parent
        path += "["
        path += String(index)
        path += "]"
        return path
    }
}
