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
        let component = plain ? key : "[\"\(key)\"]"
        if parent.isEmpty { return component }
        return plain ? "\(parent).\(component)" : parent + component
    }

    static func item(_ parent: String, _ index: Int) -> String {
        "\(parent)[\(index)]"
    }
}
