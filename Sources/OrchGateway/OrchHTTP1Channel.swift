import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import OrchPolicy

/// Hummingbird's HTTP/1 child channel with three handlers more: an `IdleStateHandler` in front of
/// the HTTP/1 codec, which sees every byte and tells when a socket has sent none for a while;
/// `ConnectionGuard`, first after the codec, which bounds connections per client and the wait for
/// a request's head and body (it needs only where requests and responses begin and end, which
/// NIOHTTP1's parts tell more cheaply than the translated ones); `FastPath`, after the connection
/// state handler (so keep-alive and idle time see every request), which answers a session's
/// ordinary MCP requests on the event loop and hands everything else to the router.
struct OrchHTTP1Channel: ServerChildChannel, HTTPChannelHandler {
    typealias Value = NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>

    let responder: HTTPChannelHandler.Responder
    let configuration: HTTP1Channel.Configuration
    let gateway: Gateway

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            var limits = NIOHTTPDecoderLimitConfiguration()
            limits.maxHeaderFieldSize = configuration.httpDecoder.maxHeaderFieldSize
            limits.maxHeaderListSize = configuration.httpDecoder.maxHeaderListSize
            limits.maxHeaderFieldCount = configuration.httpDecoder.maxHeaderFieldCount
            let silence = ConnectionGuard.rules(gateway.store.policy?.settings.limits ?? Limits()).silenceSeconds
            try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: .seconds(silence)))
            try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                withPipeliningAssistance: false, withErrorHandling: false, withOutboundHeaderValidation: false,
                withEncoderConfiguration: .init(), withDecoderLimitConfiguration: limits)
            try channel.pipeline.syncOperations.addHandler(ConnectionGuard(gateway: gateway, remote: channel.remoteAddress))
            try channel.pipeline.syncOperations.addHandler(HTTP1ToHTTPServerCodec(secure: false))
            try channel.pipeline.syncOperations.addHandler(
                HTTPConnectionStateHandler(idleTimeout: configuration.idleTimeout.map { .init($0) }, logger: logger))
            try channel.pipeline.syncOperations.addHandler(FastPath(gateway: gateway, remote: channel.remoteAddress))
            return try NIOAsyncChannel(wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
        }
    }

    func handle(value asyncChannel: Value, logger: Logger) async {
        await handleHTTP(asyncChannel: asyncChannel, logger: logger)
    }
}

extension HTTPServerBuilder {
    /// HTTP/1 with the MCP fast path.
    static func orch(configuration: HTTP1Channel.Configuration, gateway: Gateway) -> HTTPServerBuilder {
        .init { responder in OrchHTTP1Channel(responder: responder, configuration: configuration, gateway: gateway) }
    }
}
