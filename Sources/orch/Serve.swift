import ArgumentParser
import Foundation
import Logging
import NIOCore
import OrchGateway
import OrchPolicy

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the gateway.",
        discussion: """
            Serves the REST API and the MCP endpoints for the policy in FILE, reloading it when the \
            file changes or on SIGHUP (which also reopens the audit log). SIGTERM or SIGINT let \
            in-flight requests finish, then stop. A file that does not compile at start is reported \
            and the gateway waits, not ready (/readyz answers 503), until it does, at the file's \
            gateway.listen (a file that cannot be read or is not JSON needs --listen).

            Example: orch serve orch.json --listen 127.0.0.1:8080
            """
    )

    @OptionGroup var options: ConfigOption
    @Argument(help: ArgumentHelp("The orch.json to serve.", valueName: "FILE")) var file: String?
    @Option(help: ArgumentHelp("HOST:PORT to listen on (default: gateway.listen of the file).", valueName: "ADDR")) var listen: String?

    func validate() throws {
        if let listen, GatewaySettings.hostPort(listen) == nil {
            throw ValidationError("--listen \(listen) is not HOST:PORT")
        }
    }

    func run() async throws {
        if let loops = ProcessInfo.processInfo.environment["ORCH_EVENT_LOOPS"].flatMap(Int.init), loops > 0 {
            NIOSingletons.groupLoopCountSuggestion = loops
        }
        let path = options.path(positional: file)
        let redaction = LogRedaction()
        var logger = Logger(label: "orch", factory: { GatewayLogHandler(label: $0, redaction: redaction) })
        logger.logLevel = ProcessInfo.processInfo.environment["ORCH_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info

        let initial: CompileResult?
        var bytes: [UInt8]? = nil
        var unreadable: PolicyFileError? = nil
        do {
            bytes = try PolicyFileError.read(path)
            initial = PolicyCompiler.compile(bytes ?? [])
        } catch {
            unreadable = error
            initial = nil
        }
        let settings = initial?.policy?.settings ?? GatewaySettings()
        // A file that does not compile still says where to listen: serving (not ready) anywhere
        // else would take another address, or fail on a port the file does not name.
        var address = (host: settings.host, port: settings.port)
        if let listen, let (host, port) = GatewaySettings.hostPort(listen) {
            address = (host, port)
        } else if initial?.policy == nil {
            switch bytes.map(GatewaySettings.listenAddress(in:)) ?? .unknown {
            case .address(let host, let port):
                address = (host, port)
            case .invalid(let text):
                Console.error("orch: gateway.listen \(text) in \(path) is not HOST:PORT: fix it, or pass --listen HOST:PORT")
                throw ExitCode(2)
            case .unknown:
                let why = unreadable.map { $0.reason } ?? "is not a JSON object"
                Console.error("orch: \(path): \(why), so its gateway.listen is unknown: pass --listen HOST:PORT to wait for it there")
                throw ExitCode(2)
            }
        }
        if let unreadable { logger.error("cannot read \(unreadable.path): \(unreadable.reason); waiting for it") }
        let auditPath = settings.audit == "-" || settings.audit.hasPrefix("/")
            ? settings.audit
            : URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent(settings.audit).path
        let audit: AuditLog
        do {
            audit = try AuditLog(destination: auditPath)
        } catch {
            Console.error("orch: cannot open audit log \(auditPath): \(error)")
            throw ExitCode(2)
        }
        let gateway = Gateway(store: PolicyStore(source: path), audit: audit, logger: logger, redaction: redaction)
        let watcher = ReloadWatcher(path: path, gateway: gateway)
        if let initial, initial.ok {
            ReloadWatcher.install(initial, path: path, gateway: gateway)
        } else if initial != nil {
            // Through the watcher, which then knows the file as read: its first look would report
            // the same diagnostics a second time.
            watcher.reload()
        }

        let (host, port) = address
        watcher.reloadPins()
        do {
            try await gateway.run(host: host, port: port, services: [watcher])
        } catch let error as IOError where error.errnoCode == EADDRINUSE || error.errnoCode == EACCES || error.errnoCode == EADDRNOTAVAIL {
            let address = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
            let why = error.errnoCode == EADDRINUSE ? "address in use" : String(cString: strerror(error.errnoCode))
            Console.error("orch: cannot listen on \(address): \(why) (use --listen HOST:PORT)")
            throw ExitCode(2)
        }
    }
}
