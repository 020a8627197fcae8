public import Logging

/// Writes to standard error exactly as swift-log's `StreamLogHandler` does, but formats its
/// metadata only when a message is logged. The stream handler formats it again each time it
/// changes, and the HTTP server gives every request's logger a request id, so that work was done
/// on every request, logged or not.
///
/// Every line goes through `redaction` on its way out: no secret value the gateway knows reaches
/// the log, whatever the message or its metadata holds.
public struct GatewayLogHandler: LogHandler {
    private var stream: StreamLogHandler
    private let redaction: LogRedaction?
    public var metadata: Logger.Metadata = [:]

    public init(label: String) {
        self.init(label: label, redaction: nil)
    }

    public init(label: String, redaction: LogRedaction?) {
        stream = .standardError(label: label)
        self.redaction = redaction
    }

    public var logLevel: Logger.Level {
        get { stream.logLevel }
        set { stream.logLevel = newValue }
    }

    public var metadataProvider: Logger.MetadataProvider? {
        get { stream.metadataProvider }
        set { stream.metadataProvider = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var stream = self.stream
        guard let redaction else {
            stream.metadata = metadata
            stream.log(event: event)
            return
        }
        var event = event
        event.message = "\(redaction.redact(event.message.description))"
        if let error = event.error {
            // As the stream handler would print it, but redacted.
            var extra = event.metadata ?? [:]
            extra["error.message"] = .string(redaction.redact("\(error)"))
            extra["error.type"] = .string(String(reflecting: type(of: error)))
            event.metadata = extra
            event.error = nil
        }
        event.metadata = event.metadata?.mapValues(redaction.redact)
        stream.metadata = metadata.mapValues(redaction.redact)
        stream.log(event: event)
    }
}
