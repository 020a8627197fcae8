import OrchJSON
import OrchPolicy

/// What a 2026-07-28 `subscriptions/listen` asks for (`params.notifications`) and what the gateway
/// honours: every list change asked for, and updates of the resources named, in the normal form
/// resource URIs are decided in. Whether a caller may read a resource is decided when its update
/// comes, under the policy running then; a resource it may not read is honoured and never fires,
/// like one that does not exist.
struct ListenFilter: Sendable, Equatable {
    var toolsListChanged = false
    var promptsListChanged = false
    var resourcesListChanged = false
    var resourceSubscriptions: [String] = []

    /// A change that rides a listen stream.
    enum Event: Sendable, Equatable {
        case toolsListChanged, promptsListChanged, resourcesListChanged
        case resourceUpdated(uri: String)

        /// The event a server notification announces; nil for any other message.
        init?(_ message: JSONValue) {
            switch message["method"]?.stringValue {
            case "notifications/tools/list_changed": self = .toolsListChanged
            case "notifications/prompts/list_changed": self = .promptsListChanged
            case "notifications/resources/list_changed": self = .resourcesListChanged
            case "notifications/resources/updated":
                guard let uri = message["params"]?["uri"]?.stringValue, case .success(let normal) = ResourceURI.normalize(uri) else { return nil }
                self = .resourceUpdated(uri: normal)
            default: return nil
            }
        }
    }

    /// The filter of a listen request's params, or why it cannot be read (answered -32602).
    static func read(_ params: JSONObject) -> Result<ListenFilter, ListenFilterError> {
        guard case .object(let notifications) = params["notifications"] else { return .failure(.notAnObject) }
        var filter = ListenFilter()
        filter.toolsListChanged = notifications["toolsListChanged"] == .bool(true)
        filter.promptsListChanged = notifications["promptsListChanged"] == .bool(true)
        filter.resourcesListChanged = notifications["resourcesListChanged"] == .bool(true)
        switch notifications["resourceSubscriptions"] {
        case nil, .null?: break
        case .array(let uris)?:
            for uri in uris {
                guard let written = uri.stringValue else { return .failure(.uriNotAString) }
                switch ResourceURI.normalize(written) {
                case .success(let normal): if !filter.resourceSubscriptions.contains(normal) { filter.resourceSubscriptions.append(normal) }
                case .failure(let refusal): return .failure(.refusedURI(written, "\(refusal)"))
                }
            }
        default: return .failure(.uriNotAString)
        }
        return .success(filter)
    }

    /// The honoured filter, for the acknowledgement: the kinds asked for, false ones left out.
    var honored: JSONObject {
        var object: JSONObject = [:]
        if toolsListChanged { object["toolsListChanged"] = true }
        if promptsListChanged { object["promptsListChanged"] = true }
        if resourcesListChanged { object["resourcesListChanged"] = true }
        if !resourceSubscriptions.isEmpty { object["resourceSubscriptions"] = .strings(resourceSubscriptions) }
        return object
    }

    func matches(_ event: Event) -> Bool {
        switch event {
        case .toolsListChanged: toolsListChanged
        case .promptsListChanged: promptsListChanged
        case .resourcesListChanged: resourcesListChanged
        case .resourceUpdated(let uri): resourceSubscriptions.contains(uri)
        }
    }

    /// The first frame of the stream `id`.
    func acknowledgement(id: JSONValue) -> JSONValue {
        ["jsonrpc": "2.0", "method": "notifications/subscriptions/acknowledged",
         "params": ["notifications": .object(honored), "_meta": Self.meta(id)]]
    }

    /// `notification` as a frame of the stream `id`: its params' `_meta` names the subscription.
    static func frame(_ notification: JSONValue, id: JSONValue) -> JSONValue {
        guard case .object(var object) = notification else { return notification }
        var params = object["params"]?.objectValue ?? [:]
        var meta = params["_meta"]?.objectValue ?? [:]
        meta[ModernProtocol.MetaKey.subscriptionID] = id
        params["_meta"] = .object(meta)
        object["params"] = .object(params)
        return .object(object)
    }

    /// The last frame of a stream the gateway ends on purpose (its result), so the client knows the
    /// end was deliberate, re-listens and refetches.
    static func closing(id: JSONValue) -> JSONValue {
        ["jsonrpc": "2.0", "id": id, "result": ["_meta": meta(id), "resultType": .string(ModernResultStamp.complete)]]
    }

    private static func meta(_ id: JSONValue) -> JSONValue { [ModernProtocol.MetaKey.subscriptionID: id] }
}

enum ListenFilterError: Error, Equatable {
    case notAnObject
    case uriNotAString
    case refusedURI(String, String)

    var message: String {
        switch self {
        case .notAnObject: "subscriptions/listen needs params.notifications, an object"
        case .uriNotAString: "params.notifications.resourceSubscriptions must be an array of resource URIs"
        case .refusedURI(let uri, let why): "Resource URI \(JSONValue.string(uri).compact) is refused: \(why)"
        }
    }
}
