import Foundation
import Hummingbird
import NIOCore
import OrchPolicy

/// Refuses a request whose `Host` names a host the gateway does not answer to. A page on another
/// site can point its own name at 127.0.0.1 (DNS rebinding) and then read the gateway as "same
/// origin"; such a request carries that name as its `Host`. Allowed: IP addresses (rebinding needs
/// a name), `localhost`, the host of `publicURL` and the names in `gateway.allowedHosts`.
struct HostCheck {
    /// Whether the gateway answers a request whose `Host` (authority) is `authority`.
    static func allows(_ authority: String?, _ settings: GatewaySettings) -> Bool {
        guard let authority, !authority.isEmpty else { return true }
        if isIPv4Authority(authority) { return true }  // the usual case, read without allocating
        if authority.hasPrefix("[") { return isIPv6Authority(authority) }
        var name = Substring(authority)
        if let colon = name.lastIndex(of: ":"), name[name.index(after: colon)...].allSatisfy(\.isNumber) {
            name = name[..<colon]
        }
        if name.hasSuffix(".") { name = name.dropLast() }
        let host = name.lowercased()
        if host == "localhost" || isIPv4(host) { return true }
        return host == publicHost(settings) || settings.allowedHosts.contains(host)
    }

    /// The host part of `publicURL`, lowercased.
    static func publicHost(_ settings: GatewaySettings) -> String {
        var rest = Substring(settings.publicURL)
        if let scheme = rest.range(of: "://") { rest = rest[scheme.upperBound...] }
        let authority = rest.prefix { $0 != "/" }
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") { return String(authority[...close]).lowercased() }
        return String(authority.prefix { $0 != ":" }).lowercased()
    }

    /// `A.B.C.D` or `A.B.C.D:PORT`, in ASCII digits of at most three per part. Everything else
    /// is left to the general reading above, which allows this too.
    static func isIPv4Authority(_ authority: String) -> Bool {
        let digit = UInt8(ascii: "0")...UInt8(ascii: "9")
        var parts = 1
        var digits = 0
        var bytes = authority.utf8[...]
        while let byte = bytes.popFirst() {
            if digit.contains(byte) {
                digits += 1
                if digits > 3 { return false }
            } else if byte == UInt8(ascii: "."), digits > 0, parts < 4 {
                parts += 1
                digits = 0
            } else if byte == UInt8(ascii: ":") {
                break
            } else {
                return false
            }
        }
        return parts == 4 && digits > 0 && bytes.allSatisfy(digit.contains)
    }

    /// `[IPV6]` or `[IPV6]:PORT`, where IPV6 is an address `inet_pton` reads (no zone: a browser
    /// never sends one in `Host`). Anything else in brackets is not a host.
    static func isIPv6Authority(_ authority: String) -> Bool {
        guard authority.hasPrefix("["), let close = authority.firstIndex(of: "]") else { return false }
        let port = authority[authority.index(after: close)...]
        if !port.isEmpty {
            guard port.first == ":", port.count > 1, port.dropFirst().allSatisfy({ $0.isASCII && $0.isNumber }) else { return false }
        }
        let address = authority[authority.index(after: authority.startIndex)..<close]
        guard address.contains(":"), address.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else { return false }
        return (try? SocketAddress(ipAddress: String(address), port: 0)) != nil
    }

    static func isIPv4(_ host: String) -> Bool {
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { !$0.isEmpty && $0.count <= 3 && $0.allSatisfy(\.isNumber) }
    }
}

/// Applies `HostCheck` to every request the router handles.
struct HostMiddleware: RouterMiddleware {
    typealias Context = GatewayContext
    let gateway: Gateway

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let settings = gateway.store.policy?.settings, !HostCheck.allows(request.head.authority, settings) {
            throw GatewayError.badRequest("this gateway does not answer to host \(request.head.authority ?? ""): use \(HostCheck.publicHost(settings)), or add the name to gateway.allowedHosts")
        }
        return try await next(request, context)
    }
}
