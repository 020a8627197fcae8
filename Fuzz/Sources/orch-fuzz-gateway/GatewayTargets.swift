import Foundation
import FuzzKit
import NIOCore
import NIOEmbedded
import NIOExtras
import OrchJSON
@testable import OrchGateway
import OrchPolicy

/// `JSONRPCMessage.init`, the classifier every client and server message goes through.
enum JSONRPCTarget {
    static let target = FuzzTarget(
        "jsonrpc", "JSONRPCMessage.init against the JSON-RPC 2.0 rules; ids, keys and error replies", flags: ["-max_len=4096"], check: check)

    enum Kind: Equatable { case request(String, String), notification(String), response(String), invalid }

    static func kind(_ message: JSONRPCMessage?) -> Kind {
        switch message {
        case .request(let id, let method, _)?: .request(JSONRPC.key(id), method)
        case .notification(let method, _)?: .notification(method)
        case .response(let id)?: .response(JSONRPC.key(id))
        case nil: .invalid
        }
    }

    /// JSON-RPC 2.0 as the gateway reads it: a request has a string method and a string or number
    /// id; a notification a string method and no id; anything else with an id and a result or an
    /// error is a response (whatever its id, so that a reply to any id the server used passes).
    static func reference(_ value: JSONValue) -> Kind {
        guard case .object(let o) = value, case .string("2.0")? = o["jsonrpc"] else { return .invalid }
        if case .string(let method)? = o["method"] {
            guard let id = o["id"] else { return .notification(method) }
            switch id {
            case .string, .integer, .real: return .request(JSONRPC.key(id), method)
            default: return .invalid
            }
        }
        if let id = o["id"], o["result"] != nil || o["error"] != nil { return .response(JSONRPC.key(id)) }
        return .invalid
    }

    static func check(_ bytes: [UInt8]) {
        guard let value = try? JSONValue.parse(bytes) else { return }
        let message = JSONRPCMessage(value)
        let got = kind(message)
        require(got == reference(value), "\(value.compact.escaped) classified as \(got), expected \(reference(value))")
        if case .response = got {
            require(value["method"]?.stringValue == nil, "a message with a method passes as a response: \(value.compact.escaped)")
        }
        // The same message as another client would write it is the same message.
        for text in [value.compact, value.pretty] {
            let again = (try? JSONValue.parse(text)).flatMap(JSONRPCMessage.init)
            require(kind(again) == got, "\(text.escaped) classified as \(kind(again)), the original as \(got)")
        }
        if case .request(let id, let method, _)? = message {
            require(message?.method == method, "method")
            // The error the gateway answers a refused request with is a response to that request.
            let reply = JSONRPC.error(id: id, code: JSONRPC.invalidParams, "refused")
            let parsed = (try? JSONValue.parse(reply.compact)).flatMap(JSONRPCMessage.init)
            require(kind(parsed) == .response(JSONRPC.key(id)), "the error reply \(reply.compact.escaped) is \(kind(parsed))")
        }
        // Ids are remembered by key: two ids share a key exactly when they are written the same.
        var ids: [JSONValue] = []
        collectIDs(value, into: &ids)
        for a in ids {
            for b in ids {
                require((JSONRPC.key(a) == JSONRPC.key(b)) == (a.compact == b.compact),
                        "ids \(a.compact.escaped) and \(b.compact.escaped) have keys \(JSONRPC.key(a).escaped) and \(JSONRPC.key(b).escaped)")
            }
        }
    }

    static func collectIDs(_ value: JSONValue, into ids: inout [JSONValue]) {
        guard ids.count < 12 else { return }
        switch value {
        case .string, .integer, .real: ids.append(value)
        case .array(let items): for item in items { collectIDs(item, into: &ids) }
        case .object(let o): for v in o.values { collectIDs(v, into: &ids) }
        default: break
        }
    }
}

/// `SSEParser`, which reads remote servers' event streams, against a reference parser, in any
/// chunking; and `SSEEncoder.event` read back by it.
enum SSETarget {
    static let target = FuzzTarget(
        "sse", "SSEParser against a reference parser in any chunking; SSEEncoder.event → SSEParser", check: check)

    static func check(_ bytes: [UInt8]) {
        var c = Choices(bytes)
        let mode = c.byte()
        let seed = UInt64(c.byte())
        let input = Array(bytes[c.position...])
        if mode & 1 == 0 {
            let want = reference(input)
            let got = parse(input, seed: seed)
            require(got == want, "\(input.escaped) in chunks (seed \(seed)) gives \(show(got)), the reference \(show(want))")
        } else {
            let framed = Array(SSEEncoder.event(input).readableBytesView)
            let got = parse(framed, seed: seed)
            let want = [SSEParser.Event(name: "message", data: normalised(input))]
            require(got == want, "event(\(input.escaped)) = \(framed.escaped) reads back as \(show(got)), expected \(show(want))")
        }
    }

    static func parse(_ input: [UInt8], seed: UInt64) -> [SSEParser.Event] {
        var parser = SSEParser()
        var events: [SSEParser.Event] = []
        for chunk in chunks(of: input, seed: seed, max: 16) {
            do {
                events += try parser.feed(chunk)
            } catch {
                fuzzFailure("\(input.escaped) refused: \(error)")
            }
        }
        return events
    }

    static func show(_ events: [SSEParser.Event]) -> String {
        "[" + events.map { "\($0.name.escaped): \($0.data.escaped)" }.joined(separator: ", ") + "]"
    }

    /// CRLF and CR as LF: what a line-by-line reading keeps of line breaks.
    static func normalised(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var i = 0
        while i < bytes.count {
            if bytes[i] == 0x0D {
                out.append(0x0A)
                if i + 1 < bytes.count && bytes[i + 1] == 0x0A { i += 1 }
            } else {
                out.append(bytes[i])
            }
            i += 1
        }
        return out
    }

    /// The WHATWG event-stream rules SSEParser keeps: lines end at CRLF, LF or CR (a CR at the very
    /// end may still be followed by LF, so it ends nothing yet); `:` starts a comment; `field:
    /// value` drops one space after the colon; `data` lines join with LF; `event` names the event
    /// (`message` when empty); a blank line dispatches the event when it has data.
    static func reference(_ input: [UInt8]) -> [SSEParser.Event] {
        var lines: [[UInt8]] = []
        var line: [UInt8] = []
        var i = 0
        while i < input.count {
            let b = input[i]
            if b == 0x0A {
                lines.append(line)
                line = []
            } else if b == 0x0D {
                guard i + 1 < input.count else { break }
                lines.append(line)
                line = []
                if input[i + 1] == 0x0A { i += 1 }
            } else {
                line.append(b)
            }
            i += 1
        }
        var events: [SSEParser.Event] = []
        var name = ""
        var data: [UInt8]? = nil
        for line in lines {
            if line.isEmpty {
                if let data { events.append(.init(name: name.isEmpty ? "message" : name, data: data)) }
                name = ""
                data = nil
                continue
            }
            if line.first == UInt8(ascii: ":") { continue }
            var field = line[...]
            var value: ArraySlice<UInt8> = []
            if let colon = line.firstIndex(of: UInt8(ascii: ":")) {
                field = line[..<colon]
                value = line[(colon + 1)...]
                if value.first == UInt8(ascii: " ") { value = value.dropFirst() }
            }
            switch String(decoding: field, as: UTF8.self) {
            case "event": name = String(decoding: value, as: UTF8.self)
            case "data": data = data.map { $0 + [0x0A] + value } ?? Array(value)
            default: break
            }
        }
        return events
    }
}

/// Line framing of stdio servers' output: `StdioUpstream`'s decoder (`LineBasedFrameDecoder`
/// behind a `ByteToMessageHandler` with `maximumBufferSize`), in an `EmbeddedChannel`.
enum LinesTarget {
    static let target = FuzzTarget(
        "lines", "stdio line framing (LineBasedFrameDecoder, 16 MiB limit) against splitting at LF, in any chunking", check: check)

    static func check(_ bytes: [UInt8]) {
        var c = Choices(bytes)
        // Also a small limit, to reach the too-large path that 16 MiB hides from short inputs.
        let limit = c.chance(50) ? StdioUpstream.maxLineBytes : c.int(0...40)
        let seed = UInt64(c.byte())
        let input = Array(bytes[c.position...])
        let channel = EmbeddedChannel()
        do {
            try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineBasedFrameDecoder(), maximumBufferSize: limit))
        } catch {
            fuzzFailure("cannot set up the channel: \(error)")
        }
        var got: [[UInt8]] = []
        var want: [[UInt8]] = []
        var seen: [UInt8] = []
        var lineStart = 0
        var failure: String? = nil
        func drain() {
            while let line = try? channel.readInbound(as: ByteBuffer.self) { got.append(Array(line.readableBytesView)) }
        }
        for chunk in chunks(of: input, seed: seed, max: 24) {
            seen += chunk
            while let lf = seen[lineStart...].firstIndex(of: 0x0A) {
                var line = seen[lineStart..<lf]
                if line.last == 0x0D { line = line.dropLast() }
                want.append(Array(line))
                lineStart = lf + 1
            }
            let tooLarge = seen.count - lineStart > limit
            do {
                try channel.writeInbound(channel.allocator.buffer(bytes: chunk))
                require(!tooLarge, "a pending line of \(seen.count - lineStart) bytes passed the limit of \(limit)")
            } catch is ByteToMessageDecoderError.PayloadTooLargeError {
                require(tooLarge, "refused as too large with \(seen.count - lineStart) bytes pending, limit \(limit)")
                failure = "too large"
            } catch {
                fuzzFailure("writeInbound: \(error)")
            }
            drain()
            if failure != nil { break }
        }
        if failure == nil {
            do {
                _ = try channel.finish()
                require(lineStart == seen.count, "\(seen.count - lineStart) bytes after the last LF passed without LeftOverBytesError")
            } catch is NIOExtrasErrors.LeftOverBytesError {
                require(lineStart < seen.count, "LeftOverBytesError with nothing left over")
            } catch {
                fuzzFailure("finish: \(error)")
            }
            drain()
        }
        require(got == want, "limit \(limit), seed \(seed), input \(input.escaped):\nlines \(got.map(\.escaped))\nexpected \(want.map(\.escaped))")
    }
}

/// `Authenticator.bearerToken` and `known` against a policy with valid, expired and disabled keys.
enum BearerTarget {
    static let target = FuzzTarget(
        "bearer", "Authenticator.bearerToken and known against a reference reading of RFC 6750", check: check)

    static let tokens = (valid: "orch_valid-token", expired: "orch_expired-token", disabled: "orch_disabled-token")

    static let policy: Policy = {
        func key(_ id: String, _ token: String, _ extra: String = "") -> String {
            #"{ "id": "\#(id)", "sha256": "\#(KeyHash(token: token).hex)"\#(extra) }"#
        }
        let document = """
            { "version": 1,
              "roles": { "r": { "allow": ["s"] } },
              "orgs": { "o": { "members": { "ana": "r", "ben": "r" }, "servers": { "s": { "command": "true" } } } },
              "users": {
                "ana": { "keys": [\(key("a", tokens.valid)), \(key("old", tokens.expired, #", "expires": "2020-01-01""#))] },
                "ben": { "disabled": true, "keys": [\(key("b", tokens.disabled))] } } }
            """
        let result = PolicyCompiler.compile(Array(document.utf8), options: CompileOptions(environment: [:]))
        guard let policy = result.policy else { fatalError("bearer policy: \(result.diagnostics)") }
        return policy
    }()

    /// `Bearer` in any case, one space, then the token with surrounding spaces and tabs trimmed.
    static func reference(_ header: String) -> String? {
        let b = Array(header.utf8)
        guard b.count >= 7, String(decoding: b[0..<6], as: UTF8.self).lowercased() == "bearer", b[6] == 0x20 else { return nil }
        let blank: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 }
        guard let s = b[7...].firstIndex(where: { !blank($0) }), let e = b.lastIndex(where: { !blank($0) }) else { return nil }
        return String(decoding: b[s...e], as: UTF8.self)
    }

    static func check(_ bytes: [UInt8]) {
        let header: String? = bytes == [0xFF] ? nil : String(decoding: bytes, as: UTF8.self)
        let token = Authenticator.bearerToken(header)
        let want = header.flatMap(reference)
        require(token == want, "bearerToken(\(header?.escaped ?? "nil")) = \(token?.escaped ?? "nil"), expected \(want?.escaped ?? "nil")")
        let kind: String
        switch Authenticator.known(header, policy: policy, signIns: SignIns(), at: Date()) {
        case .success(let caller):
            kind = "ok"
            require(policy.user(caller.user).name == "ana", "authenticated as \(policy.user(caller.user).name)")
        case .failure(let refusal):
            kind = refusal.kind
        }
        let expected = switch want {
        case nil: "missing"
        case tokens.valid: "ok"
        case tokens.expired: "expired"
        case tokens.disabled: "disabled"
        default: "unknown"
        }
        require(kind == expected, "authenticate(\(header?.escaped ?? "nil")) = \(kind), expected \(expected)")
    }
}
